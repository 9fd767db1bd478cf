//! Stage 2: cut the changed lines of each file into snippets the model reads.
//!
//! A snippet is a run of changed lines plus a few lines of unchanged context around it, and the
//! enclosing `def`/`class` line when it is cheap to find: a hunk alone often lacks the function that
//! gives it meaning. Only changed lines may carry findings; context is there to be read, not judged.
//!
//! The model reads code as training showed it: without comments and docstrings ([`strip`]); the
//! snippet keeps each remaining line's number, so scores map back to the file.

pub mod strip;

use crate::diff::ChangedFile;

/// Lines longer than this are cut for the model (minified or generated code carries no more signal,
/// and a 10 MB line must not stall tokenization).
pub const MAX_LINE_CHARS: usize = 1_000;

/// How far up the enclosing `def`/`class` line is searched.
const MAX_ENCLOSING_SEARCH: usize = 200;

/// One piece of a file the model scores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// Index of the file in the slice given to [`build_snippets`].
    pub file: usize,
    /// The snippet's lines joined with `\n` (CR removed, long lines cut).
    pub text: String,
    /// New-side line number of each snippet line.
    pub line_numbers: Vec<u32>,
    /// Whether each snippet line was added or modified (findings may only land on those).
    pub changed: Vec<bool>,
}

/// Cut every file's changed lines into snippets with `context` lines around them.
pub fn build_snippets(files: &[ChangedFile], context: u32) -> Vec<Snippet> {
    let mut snippets = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let lines: Vec<&str> = file.content.lines().collect();
        let model = model_lines(&lines);
        for (first, last) in regions(file, context, lines.len() as u32) {
            let snippet = snippet(index, file, &lines, &model, first, last);
            // a change that only touched comments leaves the model nothing to judge
            if snippet.changed.iter().any(|c| *c) {
                snippets.push(snippet);
            }
        }
    }
    snippets
}

/// Every line of a file as the model reads it ([`model_line`]), None where [`strip`] drops it.
pub fn model_lines(lines: &[&str]) -> Vec<Option<String>> {
    strip::strip_lines(lines)
        .into_iter()
        .map(|line| line.map(|l| model_line(&l)))
        .collect()
}

/// Group changed lines into inclusive regions, merging regions whose context would touch.
fn regions(file: &ChangedFile, context: u32, line_count: u32) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &line in file.added_lines.iter().filter(|l| **l <= line_count) {
        let first = line.saturating_sub(context).max(1);
        let last = (line + context).min(line_count);
        match out.last_mut() {
            Some((_, end)) if first <= *end + 1 => *end = last.max(*end),
            _ => out.push((first, last)),
        }
    }
    out
}

fn snippet(
    file_index: usize,
    file: &ChangedFile,
    lines: &[&str],
    model: &[Option<String>],
    first: u32,
    last: u32,
) -> Snippet {
    let mut numbers: Vec<u32> = Vec::new();
    if let Some(enclosing) = enclosing_definition(lines, first, file) {
        numbers.push(enclosing);
    }
    numbers.extend(first..=last);
    numbered_snippet(file_index, model, numbers, |n| {
        file.added_lines.contains(&n)
    })
}

/// The snippet of the given lines that the model reads (lines [`strip`] dropped are left out).
fn numbered_snippet(
    file_index: usize,
    model: &[Option<String>],
    numbers: impl IntoIterator<Item = u32>,
    changed: impl Fn(u32) -> bool,
) -> Snippet {
    let mut snippet = Snippet {
        file: file_index,
        text: String::new(),
        line_numbers: Vec::new(),
        changed: Vec::new(),
    };
    for lineno in numbers {
        let Some(Some(line)) = model.get((lineno as usize).wrapping_sub(1)) else {
            continue;
        };
        if !snippet.line_numbers.is_empty() {
            snippet.text.push('\n');
        }
        snippet.text.push_str(line);
        snippet.line_numbers.push(lineno);
        snippet.changed.push(changed(lineno));
    }
    snippet
}

/// What the model reads of the snippets: each definition (`def`, `class`, with its decorators) that
/// a snippet's changes add or touch at its header, on its own, from its first decorator to the end of
/// its body; and the snippet's other changed lines in the runs between those definitions. Each snippet
/// line is read once, as training cut code (a function with its decorators, runs of module-level
/// statements: `training/hunkguard_train/distil.py`, `file_chunks`).
///
/// The model is sensitive to what precedes a weakness: a hunk that opens on the tail of an unrelated
/// function can hide the new function after it (measured: an `os.system` call scored 0.07 read after
/// a neighbour's decorator, 0.998 read alone). Reading each new definition alone makes the finding
/// independent of where the hunk happens to start, and costs nothing: the rest of the snippet is read
/// without it, not a second time. A run between definitions that changes no code (only context and
/// blank lines) is not read.
pub fn reading_plan(snippets: Vec<Snippet>) -> Vec<Snippet> {
    let mut out = Vec::with_capacity(snippets.len());
    for snippet in snippets {
        // the snippet's own lines, one per line number, already as the model reads them
        let lines: Vec<&str> = snippet.text.split('\n').collect();
        let spans = definition_spans(&lines, &snippet.changed);
        if spans.is_empty() || spans == [(0, snippet.line_numbers.len() - 1)] {
            out.push(snippet);
            continue;
        }
        let part = |first: usize, last: usize| Snippet {
            file: snippet.file,
            text: lines[first..=last].join("\n"),
            line_numbers: snippet.line_numbers[first..=last].to_vec(),
            changed: snippet.changed[first..=last].to_vec(),
        };
        let changes_code = |k: usize| snippet.changed[k] && !lines[k].trim().is_empty();
        let mut next = 0;
        for (first, last) in spans.iter().copied().chain([(lines.len(), lines.len())]) {
            if first > next && (next..first).any(changes_code) {
                out.push(part(next, first - 1));
            }
            if first < lines.len() {
                out.push(part(first, last));
            }
            next = last + 1;
        }
    }
    out
}

/// The 0-based inclusive ranges of a snippet's `lines` that [`reading_plan`] reads as definitions:
/// each header `changed` marks, with its body, in order, not overlapping.
fn definition_spans(lines: &[&str], changed: &[bool]) -> Vec<(usize, usize)> {
    let count = lines.len().min(changed.len());
    let mut spans = Vec::new();
    let mut i = 0;
    while i < count {
        let head = lines[i];
        if !(is_header(head) && changed[i]) {
            i += 1;
            continue;
        }
        let indent = indent_of(head);
        // the body ends before the next non-blank line at the header's indentation or less
        // that is not the header itself (decorators and the `def` line share an indentation)
        let mut last = i;
        let mut seen_def = is_definition(head);
        for (j, line) in lines.iter().enumerate().take(count).skip(i + 1) {
            if line.trim().is_empty() {
                continue;
            }
            if indent_of(line) <= indent {
                if !seen_def && is_header(line) {
                    seen_def = is_definition(line);
                    last = j;
                    continue;
                }
                break;
            }
            last = j;
        }
        spans.push((i, last));
        i = last + 1;
    }
    spans
}

/// How far up a scope reaches at most when no enclosing `def`/`class` closes it.
const MAX_SCOPE_LINES_UP: u32 = 12;

/// How far below the flagged lines a scope reaches at most (the rest of the enclosing body).
const MAX_SCOPE_LINES_DOWN: u32 = 40;

/// The flagged lines `start..=end` in their own scope: from the enclosing `def`/`class` (or a few
/// lines up, at module level) to the end of that definition's body. Only the flagged lines are
/// marked changed. The scope a candidate is re-read in, without the neighbouring functions.
///
/// Attention spreads: a changed line next to a vulnerable one (changed or not) picks up its scores.
/// Re-reading each candidate in its own scope tells a weakness in the line's code from one next door;
/// the rest of the body is kept because a new taint source is only a weakness with the sink below it.
pub fn scope_snippet(file_index: usize, content: &str, start: u32, end: u32) -> Snippet {
    let lines: Vec<&str> = content.lines().collect();
    let (first, last) = scope_of(&lines, start, end);
    let end = end.clamp(1, last);
    let start = start.clamp(1, end);
    numbered_snippet(file_index, &model_lines(&lines), first..=last, |n| {
        (start..=end).contains(&n)
    })
}

/// The lines `first..=last` of `content` as the model reads them, none marked changed: the same
/// code at the base, for the differential rule.
pub fn range_snippet(file_index: usize, content: &str, first: u32, last: u32) -> Snippet {
    let lines: Vec<&str> = content.lines().collect();
    numbered_snippet(file_index, &model_lines(&lines), first..=last, |_| false)
}

/// First and last line of the scope of `start..=end` (see [`scope_snippet`]); both within the file.
fn scope_of(lines: &[&str], start: u32, end: u32) -> (u32, u32) {
    let count = (lines.len() as u32).max(1);
    let end = end.clamp(1, count);
    let start = start.clamp(1, end);
    let indent = lines
        .get(start as usize - 1)
        .map(|l| indent_of(l))
        .unwrap_or(0);
    let mut first = start;
    let mut header_indent = None;
    while first > 1 && start - first < MAX_SCOPE_LINES_UP {
        let above = lines[first as usize - 2];
        if above.trim().is_empty() {
            first -= 1;
            continue;
        }
        let above_indent = indent_of(above);
        if above_indent < indent || (indent == 0 && above_indent == 0 && is_definition(above)) {
            if is_header(above) {
                first -= 1;
                header_indent = Some(above_indent);
            }
            break;
        }
        first -= 1;
    }
    // down to the end of the enclosing body: the lines indented deeper than its header
    let mut last = end;
    if let Some(header_indent) = header_indent.filter(|_| indent > 0) {
        let mut probe = end;
        while probe < count && probe - end < MAX_SCOPE_LINES_DOWN {
            let below = lines[probe as usize];
            probe += 1;
            if below.trim().is_empty() {
                continue;
            }
            if indent_of(below) <= header_indent {
                break;
            }
            last = probe;
        }
    }
    (first.min(start), last)
}

/// The 0-based snippet line of each token, given its byte offsets in `text`: the line that holds its
/// first non-whitespace character, None for a token of whitespace only (a newline, an indentation),
/// which belongs to no line. Training maps tokens the same way (`tok.py`, `token_lines`).
pub fn token_lines(text: &str, offsets: &[(usize, usize)]) -> Vec<Option<usize>> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    offsets
        .iter()
        .map(|(start, end)| {
            let token = text.get(*start..*end)?;
            let first = start + token.find(|c: char| !c.is_whitespace())?;
            Some(starts.partition_point(|s| *s <= first) - 1)
        })
        .collect()
}

/// A definition line or a decorator: where a definition's header starts.
fn is_header(line: &str) -> bool {
    is_definition(line) || line.trim_start().starts_with('@')
}

fn is_definition(line: &str) -> bool {
    let head = line.trim_start();
    ["def ", "async def ", "class "]
        .iter()
        .any(|kw| head.starts_with(kw))
}

/// The line as the model sees it: no CR, at most [`MAX_LINE_CHARS`] characters.
pub fn model_line(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => line[..cut].to_string(),
        None => line.to_string(),
    }
}

/// The nearest `def`/`class` line above `first` that encloses it, when it is outside the region.
fn enclosing_definition(lines: &[&str], first: u32, file: &ChangedFile) -> Option<u32> {
    let first_index = first as usize - 1;
    let target_indent = lines
        .iter()
        .skip(first_index)
        .find(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))?;
    if target_indent == 0 {
        return None;
    }
    let lower = first_index.saturating_sub(MAX_ENCLOSING_SEARCH);
    for index in (lower..first_index).rev() {
        let line = lines[index];
        if line.trim().is_empty() {
            continue;
        }
        let indent = indent_of(line);
        if indent < target_indent {
            let is_definition = is_definition(line);
            let lineno = index as u32 + 1;
            // A changed enclosing line is reviewed in its own right; do not duplicate it as context.
            return (is_definition && !file.added_lines.contains(&lineno)).then_some(lineno);
        }
    }
    None
}

fn indent_of(line: &str) -> usize {
    line.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .map(|c| if c == '\t' { 8 } else { 1 })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::HunkSpan;

    fn file(content: &str, added: &[u32]) -> ChangedFile {
        ChangedFile {
            path: "a.py".into(),
            old_path: None,
            content: content.into(),
            added_lines: added.iter().copied().collect(),
            hunks: vec![HunkSpan { start: 1, end: 100 }],
            base: None,
        }
    }

    #[test]
    fn changed_lines_get_context_and_nearby_regions_merge() {
        let content = (1..=30)
            .map(|i| format!("x{i} = {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let snippets = build_snippets(&[file(&content, &[5, 8, 25])], 2);
        assert_eq!(snippets.len(), 2);
        assert_eq!(snippets[0].line_numbers, (3..=10).collect::<Vec<_>>());
        assert_eq!(snippets[1].line_numbers, (23..=27).collect::<Vec<_>>());
        let changed: Vec<u32> = snippets[0]
            .line_numbers
            .iter()
            .zip(&snippets[0].changed)
            .filter(|(_, c)| **c)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(changed, vec![5, 8]);
    }

    #[test]
    fn enclosing_def_is_prepended_when_outside_the_context() {
        let content = "import os\n\ndef handler(req):\n    a = 1\n    b = 2\n    c = 3\n    d = 4\n    os.system(req.args['c'])\n";
        let snippets = build_snippets(&[file(content, &[8])], 1);
        assert_eq!(snippets[0].line_numbers, vec![3, 7, 8]);
        assert!(snippets[0]
            .text
            .starts_with("def handler(req):\n    d = 4\n"));
        assert_eq!(snippets[0].changed, vec![false, false, true]);
    }

    #[test]
    fn a_scope_is_the_enclosing_definition_and_no_further() {
        let content = "def a():\n    os.system(x)\n\n\ndef b(req):\n    h = req.args['h']\n    subprocess.run(['ls'])\n";
        let scope = scope_snippet(0, content, 7, 7);
        assert_eq!(scope.line_numbers, vec![5, 6, 7]);
        assert_eq!(scope.changed, vec![false, false, true]);
        assert!(!scope.text.contains("os.system"));
        let module = "import os\nx = 1\ny = 2\n";
        let scope = scope_snippet(0, module, 3, 3);
        assert_eq!(scope.line_numbers, vec![1, 2, 3]);
    }

    #[test]
    fn a_scope_reaches_down_to_the_end_of_the_body() {
        // a new taint source is read with the sink below it, not with the next function
        let content = "def f(conn, req):\n    name = req.args['n']\n\n    q = 'x' + name\n    return conn.execute(q)\n\n\ndef g():\n    return 1\n";
        let scope = scope_snippet(0, content, 2, 2);
        assert_eq!(scope.line_numbers, vec![1, 2, 3, 4, 5]);
        assert_eq!(scope.changed, vec![false, true, false, false, false]);
        let out_of_range = scope_snippet(0, content, 40, 50);
        assert_eq!(out_of_range.line_numbers.last(), Some(&9));
    }

    #[test]
    fn crlf_is_removed_and_huge_lines_are_cut() {
        let long = "y".repeat(MAX_LINE_CHARS * 3);
        let content = format!("a = 1\r\nb = '{long}'\r\n");
        let snippets = build_snippets(&[file(&content, &[1, 2])], 0);
        assert!(!snippets[0].text.contains('\r'));
        assert!(snippets[0].text.len() <= MAX_LINE_CHARS + 10);
    }

    #[test]
    fn added_lines_beyond_the_end_are_ignored() {
        let snippets = build_snippets(&[file("a = 1\n", &[1, 7])], 3);
        assert_eq!(snippets.len(), 1);
        assert_eq!(snippets[0].line_numbers, vec![1]);
    }

    #[test]
    fn each_added_definition_is_read_on_its_own_and_every_line_once() {
        let content = "@app.route('/h')\ndef health():\n    return 'ok'\n\n\n@app.route('/p')\ndef ping():\n    os.system('ping ' + h)\n    return 'sent'\nTIMEOUT = 3\n\ndef report():\n    return 1\n";
        let files = [file(content, &(4..=13).collect::<Vec<_>>())];
        let plan = reading_plan(build_snippets(&files, 3));
        let spans: Vec<(u32, u32)> = plan
            .iter()
            .map(|v| (v.line_numbers[0], *v.line_numbers.last().unwrap()))
            .collect();
        assert_eq!(
            spans,
            vec![(6, 9), (10, 11), (12, 13)],
            "ping with its decorator, the module-level line after it, then report; \
             health and the blank lines changed before ping change no code"
        );
        assert!(plan[0].text.starts_with("@app.route('/p')\ndef ping():"));
        assert!(plan[0].changed.iter().all(|c| *c));
        let read: Vec<u32> = plan.iter().flat_map(|p| p.line_numbers.clone()).collect();
        let mut once = read.clone();
        once.dedup();
        assert_eq!(read, once, "no line is read twice");
    }

    #[test]
    fn context_between_definitions_that_changes_nothing_is_not_read() {
        let content = "x = 1\ny = 2\n\ndef new():\n    return eval(x)\n\nz = 3\n";
        let plan = reading_plan(build_snippets(&[file(content, &[4, 5])], 3));
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].line_numbers, vec![4, 5]);
    }

    #[test]
    fn unchanged_definitions_are_not_cut_out() {
        let content = "def a():\n    x = 1\n    y = 2\n";
        let files = [file(content, &[3])];
        let snippets = build_snippets(&files, 3);
        assert_eq!(reading_plan(snippets.clone()), snippets);
    }
}
