//! Stage 4: model scores -> findings, the product's unit of output, in one pass.
//!
//! [`locate`] turns the scores of the hunk snippets into candidates on changed lines, merges the ones
//! of one CWE that overlap or share a statement, re-reads each candidate in its own scope, compares that scope with
//! the same code at the base ([the differential rule](locate)), and only then caps, sorts and cuts to
//! `max_findings`. The findings themselves are leaf data ([`crate::finding`]), re-exported here.

use std::collections::HashMap;

use crate::catalogue::{Catalogue, CweEntry};
use crate::config::Config;
use crate::diff::ChangedFile;
pub use crate::finding::{fingerprint, Finding, Severity};
use crate::hunks::{self, Snippet};
use crate::model::manifest::confidence;
use crate::model::SnippetScores;

/// An inline suppression comment parsed from a source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suppression {
    /// `# hunkguard: ignore`: every CWE.
    All,
    /// `# hunkguard: ignore[CWE-89, CWE-78]`: only those.
    Only(Vec<String>),
}

impl Suppression {
    /// Parse the suppression comment on a line, if any.
    pub fn parse(line: &str) -> Option<Self> {
        let at = line.find("hunkguard:")?;
        let before = &line[..at];
        if !before.contains('#') {
            return None;
        }
        let rest = line[at + "hunkguard:".len()..].trim_start();
        let rest = rest.strip_prefix("ignore")?;
        let rest = rest.trim_start();
        if let Some(list) = rest.strip_prefix('[') {
            let list = list.split(']').next().unwrap_or_default();
            let ids = list
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>();
            Some(Suppression::Only(ids))
        } else {
            Some(Suppression::All)
        }
    }

    /// Whether this suppression covers `cwe` (canonical id; aliases are resolved by the caller).
    pub fn covers(&self, cwe: &str) -> bool {
        match self {
            Suppression::All => true,
            Suppression::Only(ids) => ids.iter().any(|id| id == cwe),
        }
    }
}

/// Whether a finding is suppressed by a comment on its flagged lines or the line just above.
///
/// `lines` is the whole file, 0-based. `resolve` maps a written id (possibly an alias) to the canonical one.
pub fn is_suppressed(
    lines: &[&str],
    start_line: u32,
    end_line: u32,
    cwe: &str,
    resolve: impl Fn(&str) -> String,
) -> bool {
    let first = start_line.saturating_sub(1).max(1);
    (first..=end_line).any(|lineno| {
        lines
            .get(lineno as usize - 1)
            .and_then(|line| Suppression::parse(line))
            .is_some_and(|s| match s {
                Suppression::All => true,
                Suppression::Only(ids) => ids.iter().any(|id| resolve(id) == cwe),
            })
    })
}

/// Whether every line of `start_line..=end_line` (1-based) is an import statement and nothing else.
///
/// An import runs no code that input reaches, so it is never where a weakness is, however much the
/// name it brings in looks like a sink (`from win32com.shell import shell` read as CWE-78 on real
/// code). A line that also does something else (`import os; os.system(cmd)`) is not import-only.
fn is_import_only(lines: &[&str], start_line: u32, end_line: u32) -> bool {
    (start_line..=end_line).all(|lineno| {
        (lineno as usize)
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .is_some_and(|line| {
                let code = line.split('#').next().unwrap_or_default().trim();
                !code.contains(';')
                    && (code.starts_with("import ")
                        || (code.starts_with("from ") && code.contains(" import ")))
            })
    })
}

/// What the findings stage needs to know about the model's outputs.
#[derive(Debug, Clone)]
pub struct ScoreInfo<'a> {
    /// CWE ids in output order.
    pub labels: &'a [String],
    /// Calibrated threshold per label (same order).
    pub thresholds: Vec<f32>,
    /// Token-level threshold that marks a line.
    pub line_threshold: f32,
    /// Token score at which a line fires its label whatever its window says (None: windows only).
    pub line_alone_threshold: Option<f32>,
}

impl ScoreInfo<'_> {
    fn threshold(&self, label: usize) -> f32 {
        self.thresholds.get(label).copied().unwrap_or(1.0)
    }

    /// How confident the model is that `label` holds on a line with these (token, window) scores:
    /// its window against the label's threshold or, where the line's own tokens pass
    /// `line_alone_threshold`, the line against that threshold, whichever is higher. Every rule
    /// that asks whether a label fires asks this, so a line that fires alone is read alike at the
    /// head, in its scope and at the base.
    fn line_confidence(&self, label: usize, token: f32, window: f32) -> f32 {
        let by_window = confidence(window, self.threshold(label));
        match self.line_alone_threshold {
            Some(alone) if token >= alone => by_window.max(confidence(token, alone)),
            _ => by_window,
        }
    }
}

/// Longest excerpt line kept in a finding (the model reads at most this much too).
const MAX_EXCERPT_LINE: usize = 500;

/// How much more confident the head must be than the base, when the base already fires for the
/// label, for a change to count as making the code less safe rather than leaving it as it was.
pub const WORSE_MARGIN: f32 = 0.15;

/// A finding that still knows which file (index into the diff's files) it came from.
#[derive(Debug, Clone)]
struct Candidate {
    file: usize,
    label: usize,
    finding: Finding,
}

/// Turn the model's scores of `snippets` into the reported findings, re-reading candidates with
/// `rescore` (the model stage: it scores snippets, in order).
///
/// 1. A changed line is a candidate for a CWE when its tokens pass the line threshold and its windows
///    pass the label's calibrated threshold; when the label fires but no changed line passes, its top
///    changed line is the candidate. Consecutive lines form one candidate; candidates of one CWE that
///    overlap merge. Unchanged lines are never candidates, nor are lines that only import.
/// 2. Each candidate is re-read in its own scope ([`hunks::scope_snippet`]) and kept only if it holds
///    there: attention spreads a weakness onto its neighbours.
/// 3. The differential rule: where the scope existed at the base, the same lines at the base are read
///    too (once per base blob and range). A candidate is reported only where the change made the code
///    less safe: the label does not fire at the base, or it fires there on the window alone while the
///    candidate's own lines pass the line threshold, or the head is at least [`WORSE_MARGIN`] more
///    confident than the base. A fixing change, or a change next to a weakness that was already
///    there, gets no finding. When the scope's evidence (its top-scoring line) is an unchanged line,
///    the change made that sink reachable: the finding stays on the changed line and its message
///    names the sink.
/// 4. Where several CWEs flag overlapping lines, the most confident is kept (plus any other at 0.8+);
///    then the findings are sorted ([`Ord`]) and cut to `max_findings`.
pub fn locate<E>(
    files: &[ChangedFile],
    snippets: &[Snippet],
    scores: &[SnippetScores],
    info: &ScoreInfo<'_>,
    catalogue: &Catalogue,
    config: &Config,
    mut rescore: impl FnMut(&[Snippet]) -> Result<Vec<SnippetScores>, E>,
) -> Result<Vec<Finding>, E> {
    let candidates = merge_overlapping(
        files,
        candidates_from_scores(files, snippets, scores, info, catalogue, config),
    );
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Every re-read in one model call, each distinct text once: the head scopes (candidates in one
    // scope share its reading), then the base ranges (cached per blob and range).
    let mut reads: Vec<Snippet> = Vec::with_capacity(candidates.len() * 2);
    let mut scopes: Vec<(Snippet, usize)> = Vec::with_capacity(candidates.len());
    let mut head_reads: HashMap<(usize, Option<u32>, Option<u32>), usize> = HashMap::new();
    let mut base_of: Vec<Option<usize>> = Vec::with_capacity(candidates.len());
    let mut base_reads: HashMap<(&str, u32, u32), usize> = HashMap::new();
    let mut base_snippets: Vec<Snippet> = Vec::new();
    for candidate in &candidates {
        let file = &files[candidate.file];
        let scope = hunks::scope_snippet(
            candidate.file,
            &file.content,
            candidate.finding.start_line,
            candidate.finding.end_line,
        );
        let base = match (
            &file.base,
            scope.line_numbers.first(),
            scope.line_numbers.last(),
        ) {
            (Some(base), Some(first), Some(last)) => file
                .base_range(*first, *last)
                .map(|(from, to)| (base, from, to)),
            _ => None,
        };
        base_of.push(base.map(|(base, from, to)| {
            *base_reads
                .entry((base.blob.as_str(), from, to))
                .or_insert_with(|| {
                    base_snippets.push(hunks::range_snippet(
                        candidate.file,
                        &base.content,
                        from,
                        to,
                    ));
                    base_snippets.len() - 1
                })
        }));
        let key = (
            candidate.file,
            scope.line_numbers.first().copied(),
            scope.line_numbers.last().copied(),
        );
        let read = *head_reads.entry(key).or_insert_with(|| {
            reads.push(scope.clone());
            reads.len() - 1
        });
        scopes.push((scope, read));
    }
    let heads = reads.len();
    reads.extend(base_snippets);
    let read_scores = rescore(&reads)?;
    let mut kept = Vec::with_capacity(candidates.len());
    for (index, (candidate, (scope, read))) in candidates.into_iter().zip(&scopes).enumerate() {
        let Some(scope_scores) = read_scores.get(*read) else {
            continue;
        };
        let file = &files[candidate.file];
        let Some(candidate) = confirm_in_scope(candidate, file, scope, scope_scores, info, config)
        else {
            continue;
        };
        let base = base_of[index].and_then(|b| read_scores.get(heads + b));
        if let Some(finding) = made_worse(candidate, files, scope, scope_scores, base, info, config)
        {
            kept.push(finding);
        }
    }
    let mut findings = keep_strongest_per_line(kept);
    findings.sort();
    findings.truncate(config.max_findings);
    Ok(findings)
}

/// Step 1 of [`locate`]: candidates on changed lines, from the scores of the hunk snippets.
fn candidates_from_scores(
    files: &[ChangedFile],
    snippets: &[Snippet],
    scores: &[SnippetScores],
    info: &ScoreInfo<'_>,
    catalogue: &Catalogue,
    config: &Config,
) -> Vec<Candidate> {
    let resolve = |id: &str| {
        catalogue
            .get(&id.to_ascii_uppercase())
            .map(|e| e.id.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut candidates = Vec::new();
    for (snippet, score) in snippets.iter().zip(scores) {
        let Some(file) = files.get(snippet.file) else {
            continue;
        };
        let file_lines: Vec<&str> = file.content.lines().collect();
        for (label, cwe) in info.labels.iter().enumerate() {
            let Some(entry) = catalogue.get(cwe) else {
                continue;
            };
            if config.is_disabled(&entry.id) {
                continue;
            }
            let minimum = config.min_confidence_for(&entry.id);
            let mut run: Option<(u32, u32, f32)> = None;
            let mut any_flagged = false;
            let mut flush = |run: &mut Option<(u32, u32, f32)>| {
                if let Some((start, end, conf)) = run.take() {
                    if !is_suppressed(&file_lines, start, end, &entry.id, resolve)
                        && !is_import_only(&file_lines, start, end)
                    {
                        candidates.push(Candidate {
                            file: snippet.file,
                            label,
                            finding: make_finding(file, &file_lines, start, end, conf, entry),
                        });
                    }
                }
            };
            for (i, lineno) in snippet.line_numbers.iter().enumerate() {
                let (token, window) = score.at(i, label);
                let conf = info.line_confidence(label, token, window);
                let flagged = snippet.changed.get(i).copied().unwrap_or(false)
                    && token >= info.line_threshold
                    && conf >= minimum;
                any_flagged |= flagged;
                match (&mut run, flagged) {
                    (Some((_, end, best)), true) if *lineno == *end + 1 => {
                        *end = *lineno;
                        *best = best.max(conf);
                    }
                    (_, true) => {
                        flush(&mut run);
                        run = Some((*lineno, *lineno, conf));
                    }
                    (_, false) => flush(&mut run),
                }
            }
            flush(&mut run);
            // The label fires but no changed line passes the line threshold: point at the top
            // changed line, as the model was calibrated (a weakness the model is sure of is not
            // dropped for want of a line). Whether the weakness is the change's and not the
            // surrounding code's is settled by the re-reads (steps 2 and 3 of `locate`).
            if any_flagged {
                continue;
            }
            if let Some((i, conf)) = top_changed_line(&snippet.changed, score, label, info, minimum)
            {
                if let Some(lineno) = snippet.line_numbers.get(i) {
                    run = Some((*lineno, *lineno, conf));
                    flush(&mut run);
                }
            }
        }
    }
    candidates
}

/// Merge candidates of one file and CWE whose lines overlap, or lie in one statement, into one (the
/// union of their lines, the higher confidence). The scan's reading plan reads each line once, so its
/// snippets do not overlap; snippets that do (a caller's own, two regions of one line) still give one
/// finding per call. A statement is one finding because it is one thing to fix: a multi-line f-string
/// query flagged on its first and its fourth line is one weakness, not two comments.
fn merge_overlapping(files: &[ChangedFile], mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        (a.file, a.label, a.finding.start_line, a.finding.end_line).cmp(&(
            b.file,
            b.label,
            b.finding.start_line,
            b.finding.end_line,
        ))
    });
    let mut continuations: HashMap<usize, Vec<bool>> = HashMap::new();
    let mut merged: Vec<Candidate> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        match merged.last_mut() {
            Some(last)
                if last.file == candidate.file
                    && last.label == candidate.label
                    && (last.finding.overlaps(&candidate.finding)
                        || same_statement(
                            continuations.entry(last.file).or_insert_with(|| {
                                let lines: Vec<&str> = files[last.file].content.lines().collect();
                                hunks::strip::continuation_lines(&lines)
                            }),
                            last.finding.end_line,
                            candidate.finding.start_line,
                        )) =>
            {
                let start = last.finding.start_line.min(candidate.finding.start_line);
                let end = last.finding.end_line.max(candidate.finding.end_line);
                last.finding.confidence = last.finding.confidence.max(candidate.finding.confidence);
                if (start, end) != (last.finding.start_line, last.finding.end_line) {
                    let lines: Vec<&str> = files[last.file].content.lines().collect();
                    respan(&mut last.finding, &lines, start, end);
                }
            }
            _ => merged.push(candidate),
        }
    }
    merged
}

/// Whether a finding that starts on (1-based) line `start` is in the statement of one that ends on
/// `end`: every line after `end`, up to `start`, continues the statement above it.
fn same_statement(continues: &[bool], end: u32, start: u32) -> bool {
    // lines end+1..=start are the 0-based entries end..start
    start > end
        && continues
            .get(end as usize..start as usize)
            .is_some_and(|between| between.iter().all(|c| *c))
}

/// Step 2 of [`locate`]: keep a candidate only if it still holds when its lines are re-read in their
/// own scope, and lower its confidence to the smaller of the two readings.
fn confirm_in_scope(
    mut candidate: Candidate,
    file: &ChangedFile,
    scope: &Snippet,
    score: &SnippetScores,
    info: &ScoreInfo<'_>,
    config: &Config,
) -> Option<Candidate> {
    let label = candidate.label;
    let minimum = config.min_confidence_for(&candidate.finding.cwe);
    let (mut token, mut conf) = (0.0f32, 0.0f32);
    for (i, changed) in scope.changed.iter().enumerate() {
        if *changed {
            let (line_token, line_window) = score.at(i, label);
            token = token.max(line_token);
            conf = conf.max(info.line_confidence(label, line_token, line_window));
        }
    }
    let finding = &candidate.finding;
    // the finding may rest on the scope's top changed line alone; the scope marks only the
    // candidate's lines changed, so the change's other lines are looked up in the file
    let changed_in_file: Vec<bool> = scope
        .line_numbers
        .iter()
        .map(|n| file.added_lines.contains(n))
        .collect();
    let top_is_finding = top_changed_line(&changed_in_file, score, label, info, minimum)
        .and_then(|(i, _)| scope.line_numbers.get(i))
        .is_some_and(|n| (finding.start_line..=finding.end_line).contains(n));
    if (token < info.line_threshold && !top_is_finding) || conf < minimum {
        tracing::debug!(path = %finding.path, line = finding.start_line, cwe = %finding.cwe, token, conf, "dropped: does not hold in its own scope");
        return None;
    }
    candidate.finding.confidence = candidate.finding.confidence.min(conf);
    Some(candidate)
}

/// Step 3 of [`locate`], the differential rule: the finding, when the change made its scope less safe
/// than the same code at the base (`base`: the scores of the base range, None when the scope is new).
fn made_worse(
    candidate: Candidate,
    files: &[ChangedFile],
    scope: &Snippet,
    scope_scores: &SnippetScores,
    base: Option<&SnippetScores>,
    info: &ScoreInfo<'_>,
    config: &Config,
) -> Option<Finding> {
    let Candidate {
        file,
        label,
        mut finding,
    } = candidate;
    let minimum = config.min_confidence_for(&finding.cwe);
    let file = files.get(file)?;
    // the scope's evidence: its top-scoring line for the label, changed or not (the first on a tie)
    let evidence = (0..scope.line_numbers.len())
        .max_by(|a, b| {
            scope_scores
                .at(*a, label)
                .0
                .total_cmp(&scope_scores.at(*b, label).0)
                .then(b.cmp(a))
        })
        .and_then(|i| scope.line_numbers.get(i).copied());
    let unchanged_sink = evidence.filter(|line| !file.added_lines.contains(line));
    let highest = |rows: &[Vec<f32>]| {
        rows.iter()
            .filter_map(|row| row.get(label).copied())
            .fold(0.0f32, f32::max)
    };
    // Where the base fires on its window alone (no line of it passes the line threshold) and the
    // finding's own lines do pass it, the change put the weakness on a line: the model also reads a
    // sink by its shape (a constant query before `execute(query)` fires on the window), so the
    // window's confidence alone cannot tell a new source from a weakness that was already there.
    let finding_on_its_lines = scope
        .line_numbers
        .iter()
        .zip(&scope_scores.token)
        .filter(|(n, _)| (finding.start_line..=finding.end_line).contains(n))
        .filter_map(|(_, row)| row.get(label).copied())
        .any(|token| token >= info.line_threshold);
    let base_confidence = base
        .filter(|scores| !(finding_on_its_lines && highest(&scores.token) < info.line_threshold))
        .map(|scores| {
            (0..scores.window.len())
                .map(|i| {
                    let (token, window) = scores.at(i, label);
                    info.line_confidence(label, token, window)
                })
                .fold(0.0f32, f32::max)
        });
    if let Some(base_confidence) = base_confidence.filter(|c| *c >= minimum) {
        if finding.confidence < base_confidence + WORSE_MARGIN {
            tracing::debug!(path = %finding.path, line = finding.start_line, cwe = %finding.cwe, head = finding.confidence, base = base_confidence, ?unchanged_sink, "dropped: already there at the base");
            return None;
        }
    }
    if let Some(sink) = unchanged_sink {
        let lines: Vec<&str> = file.content.lines().collect();
        let code = lines
            .get(sink as usize - 1)
            .map(|l| excerpt_line(l.trim()))
            .unwrap_or_default();
        finding.explanation = format!(
            "This change reaches the unchanged line {sink} (`{code}`), where the weakness takes effect. {}",
            finding.explanation
        );
    }
    Some(finding)
}

/// The changed line (an index into a snippet's `changed` flags) with the highest token score among
/// those where `label` fires (window confidence >= `minimum`), with its confidence: where a finding
/// points when no changed line passes
/// the line threshold. The first line wins a tie.
fn top_changed_line(
    changed: &[bool],
    score: &SnippetScores,
    label: usize,
    info: &ScoreInfo<'_>,
    minimum: f32,
) -> Option<(usize, f32)> {
    let mut top: Option<(usize, f32, f32)> = None;
    for (i, changed) in changed.iter().enumerate() {
        if !*changed {
            continue;
        }
        let (token, window) = score.at(i, label);
        let conf = info.line_confidence(label, token, window);
        if conf >= minimum && top.is_none_or(|(_, best, _)| token > best) {
            top = Some((i, token, conf));
        }
    }
    top.map(|(i, _, conf)| (i, conf))
}

/// Where several CWEs flag overlapping lines, keep the most confident one, plus any other that is
/// itself very confident (0.8+): one line rarely holds two weaknesses, but related labels often fire together.
fn keep_strongest_per_line(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.cmp(b)));
    let mut kept: Vec<Finding> = Vec::new();
    for candidate in candidates {
        let overlaps = kept.iter().any(|k| k.overlaps(&candidate));
        if !overlaps || candidate.confidence >= 0.8 {
            kept.push(candidate);
        }
    }
    kept
}

/// One excerpt line: CR removed, cut at [`MAX_EXCERPT_LINE`] characters.
fn excerpt_line(line: &str) -> String {
    let line = line.trim_end_matches('\r');
    match line.char_indices().nth(MAX_EXCERPT_LINE) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Point `finding` at `start..=end`: the lines, their code and the fingerprint over it.
fn respan(finding: &mut Finding, file_lines: &[&str], start: u32, end: u32) {
    let code = (start..=end)
        .filter_map(|n| file_lines.get(n as usize - 1))
        .map(|line| excerpt_line(line))
        .collect::<Vec<_>>()
        .join("\n");
    finding.start_line = start;
    finding.end_line = end;
    finding.fingerprint = fingerprint(&finding.cwe, &finding.path, &code);
    finding.code = code;
}

fn make_finding(
    file: &ChangedFile,
    file_lines: &[&str],
    start: u32,
    end: u32,
    confidence: f32,
    entry: &CweEntry,
) -> Finding {
    let mut finding = Finding {
        path: file.path.clone(),
        start_line: start,
        end_line: end,
        cwe: entry.id.clone(),
        title: entry.name.clone(),
        confidence,
        severity: Severity::from_score(entry.severity),
        security_severity: entry.severity,
        explanation: entry.description.clone(),
        advice: entry.advice.clone(),
        fingerprint: String::new(),
        code: String::new(),
    };
    respan(&mut finding, file_lines, start, end);
    finding
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::diff::BaseFile;

    #[test]
    fn suppression_comments_parse() {
        assert_eq!(
            Suppression::parse("x = 1  # hunkguard: ignore"),
            Some(Suppression::All)
        );
        assert_eq!(
            Suppression::parse("x = 1  # hunkguard: ignore[cwe-89, CWE-78]"),
            Some(Suppression::Only(vec!["CWE-89".into(), "CWE-78".into()]))
        );
        assert_eq!(Suppression::parse("s = 'hunkguard: ignore'"), None);
        assert_eq!(Suppression::parse("x = 1  # hunkguard: review"), None);
    }

    #[test]
    fn suppression_applies_on_the_line_or_the_line_above() {
        let file = [
            "# hunkguard: ignore[CWE-89]",
            "cur.execute(q)",
            "os.system(c)",
        ];
        let id = |s: &str| s.to_string();
        assert!(is_suppressed(&file, 2, 2, "CWE-89", id));
        assert!(!is_suppressed(&file, 2, 2, "CWE-78", id));
        assert!(!is_suppressed(&file, 3, 3, "CWE-89", id));
    }

    #[test]
    fn an_import_line_is_never_a_finding() {
        let file = [
            "from win32com.shell import shell",
            "import pickle  # for the cache",
            "    from subprocess import (",
            "import os; os.system(cmd)",
            "os.system(cmd)",
            "fromage = import_module(name)",
        ];
        assert!(is_import_only(&file, 1, 2));
        assert!(
            is_import_only(&file, 3, 3),
            "a multi-line import's opening line"
        );
        assert!(!is_import_only(&file, 4, 4));
        assert!(!is_import_only(&file, 1, 5));
        assert!(!is_import_only(&file, 6, 6));
        assert!(
            !is_import_only(&file, 7, 7),
            "a line past the end is not an import"
        );

        // through the findings stage: the import line flagged at 0.99 gives nothing, the sink does
        let content = "from subprocess import call\nimport shlex\ncall(cmd, shell=True)\nx = 1\n";
        let changed = ChangedFile {
            content: content.into(),
            ..changed_file(None)
        };
        let snippet = Snippet {
            text: content.trim_end().into(),
            ..hunk([true, true, true, true])
        };
        let labels = vec!["CWE-89".to_string()];
        let scores = one_label(&[0.99, 0.2, 0.1, 0.1], &[0.9; 4]);
        let found = candidates_from_scores(
            std::slice::from_ref(&changed),
            std::slice::from_ref(&snippet),
            std::slice::from_ref(&scores),
            &cwe89(&labels),
            &Catalogue::embedded(),
            &Config::default(),
        );
        assert!(found.is_empty(), "{found:?}");
        let scores = one_label(&[0.99, 0.2, 0.95, 0.1], &[0.9; 4]);
        let found = candidates_from_scores(
            &[changed],
            &[snippet],
            &[scores],
            &cwe89(&labels),
            &Catalogue::embedded(),
            &Config::default(),
        );
        let lines: Vec<_> = found
            .iter()
            .map(|c| (c.finding.start_line, c.finding.end_line))
            .collect();
        assert_eq!(lines, vec![(3, 3)]);
    }

    const CONTENT: &str = "def f(db, q):\n    sql = 'x' + q\n    db.execute(sql)\n    return 1\n";

    /// A four-line file whose lines 2-4 were changed (a new file unless `base` is given).
    fn changed_file(base: Option<BaseFile>) -> ChangedFile {
        ChangedFile {
            path: "app.py".into(),
            old_path: None,
            content: CONTENT.into(),
            added_lines: [2, 3, 4].into_iter().collect(),
            hunks: Vec::new(),
            base,
        }
    }

    /// Scoring info for CWE-89 only: threshold 0.5, line threshold 0.9.
    fn cwe89(labels: &[String]) -> ScoreInfo<'_> {
        ScoreInfo {
            labels,
            thresholds: vec![0.5],
            line_threshold: 0.9,
            line_alone_threshold: None,
        }
    }

    /// The hunk snippet over all of `CONTENT`, with these lines marked changed.
    fn hunk(changed: [bool; 4]) -> Snippet {
        Snippet {
            file: 0,
            text: CONTENT.trim_end().into(),
            line_numbers: vec![1, 2, 3, 4],
            changed: changed.to_vec(),
        }
    }

    fn one_label(token: &[f32], window: &[f32]) -> SnippetScores {
        SnippetScores {
            token: token.iter().map(|t| vec![*t]).collect(),
            window: window.iter().map(|w| vec![*w]).collect(),
        }
    }

    /// Score `file` for CWE-89 only (threshold 0.5, line threshold 0.9): `token` and `window` give
    /// each line's scores in the hunk snippet, `reread` answers every re-read by its line numbers.
    fn locate_with(
        file: ChangedFile,
        token: [f32; 4],
        window: [f32; 4],
        config: &Config,
        reread: impl Fn(&Snippet) -> SnippetScores,
    ) -> Vec<Finding> {
        locate_alone(None, file, token, window, config, reread)
    }

    /// [`locate_with`] under a manifest whose lines fire alone at `alone`.
    fn locate_alone(
        alone: Option<f32>,
        file: ChangedFile,
        token: [f32; 4],
        window: [f32; 4],
        config: &Config,
        reread: impl Fn(&Snippet) -> SnippetScores,
    ) -> Vec<Finding> {
        let snippet = hunk([false, true, true, true]);
        let labels = vec!["CWE-89".to_string()];
        let info = ScoreInfo {
            line_alone_threshold: alone,
            ..cwe89(&labels)
        };
        let result: Result<_, ()> = locate(
            &[file],
            &[snippet],
            &[one_label(&token, &window)],
            &info,
            &Catalogue::embedded(),
            config,
            |reads| Ok(reads.iter().map(&reread).collect()),
        );
        result.unwrap()
    }

    /// Re-reads that agree with the first reading.
    fn same(token: [f32; 4], window: [f32; 4]) -> impl Fn(&Snippet) -> SnippetScores {
        move |s: &Snippet| {
            let pick = |v: [f32; 4]| -> Vec<f32> {
                s.line_numbers.iter().map(|n| v[*n as usize - 1]).collect()
            };
            one_label(&pick(token), &pick(window))
        }
    }

    fn score_file(token: [f32; 4], window: [f32; 4]) -> Vec<Finding> {
        locate_with(
            changed_file(None),
            token,
            window,
            &Config::default(),
            same(token, window),
        )
    }

    fn lines_of(findings: &[Finding]) -> Vec<(u32, u32)> {
        findings
            .iter()
            .map(|f| (f.start_line, f.end_line))
            .collect()
    }

    #[test]
    fn two_flagged_lines_of_one_statement_are_one_finding() {
        let file = |content: &str| ChangedFile {
            content: content.into(),
            ..changed_file(None)
        };
        let token = [0.1, 0.95, 0.2, 0.95];
        let read = |content: &str| {
            locate_with(
                file(content),
                token,
                [0.8; 4],
                &Config::default(),
                same(token, [0.8; 4]),
            )
        };
        let one_call = "def f(db, t):\n    db.execute(f\"SELECT {t} \"\n               \"WHERE id = 1 \"\n               f\"-- {t}\")\n";
        assert_eq!(lines_of(&read(one_call)), vec![(2, 4)]);
        let two_calls = "def f(db, t):\n    db.execute(f\"SELECT {t}\")\n    x = 1\n    db.execute(f\"DELETE {t}\")\n";
        assert_eq!(lines_of(&read(two_calls)), vec![(2, 2), (4, 4)]);
    }

    #[test]
    fn consecutive_lines_over_the_line_threshold_form_one_finding() {
        let found = score_file([0.1, 0.95, 0.97, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(2, 3)]);
        assert_eq!(found[0].code, "    sql = 'x' + q\n    db.execute(sql)");
    }

    #[test]
    fn a_firing_label_without_a_line_over_the_threshold_points_at_its_top_line() {
        let found = score_file([0.1, 0.3, 0.6, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(3, 3)]);
    }

    #[test]
    fn the_top_line_fallback_lands_on_the_top_changed_line() {
        // line 1 (unchanged) scores highest; the change's own top line is line 3
        let found = score_file([0.7, 0.3, 0.6, 0.2], [0.8; 4]);
        assert_eq!(lines_of(&found), vec![(3, 3)]);
    }

    #[test]
    fn no_finding_when_the_label_does_not_fire() {
        let found = score_file([0.1, 0.99, 0.99, 0.2], [0.3; 4]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_finding_holds_in_its_scope_on_its_top_line_even_below_the_line_threshold() {
        let token = [0.1, 0.3, 0.6, 0.2];
        let scope_with_top = |top: u32| {
            move |s: &Snippet| {
                let token: Vec<f32> = s
                    .line_numbers
                    .iter()
                    .map(|n| if *n == top { 0.7 } else { 0.2 })
                    .collect();
                one_label(&token, &vec![0.8; token.len()])
            }
        };
        let config = Config::default();
        let kept = locate_with(
            changed_file(None),
            token,
            [0.8; 4],
            &config,
            scope_with_top(3),
        );
        assert_eq!(lines_of(&kept), vec![(3, 3)]);
        let moved = locate_with(
            changed_file(None),
            token,
            [0.8; 4],
            &config,
            scope_with_top(2),
        );
        assert!(
            moved.is_empty(),
            "the scope's top line is another line: {moved:?}"
        );
    }

    /// The same file as a change on top of a base whose line 2 and 3 were `old` lines: the head
    /// scope is re-read with `token`, the base range with `base_window` and `base_token` on every line.
    fn with_base(
        base_window: f32,
        base_token: f32,
        token: [f32; 4],
    ) -> (ChangedFile, impl Fn(&Snippet) -> SnippetScores) {
        let base = BaseFile {
            blob: "b1".into(),
            content: "def f(db, q):\n    old = 1\n    db.execute(old)\n    return 0\n".into(),
            deleted_lines: BTreeSet::from([2, 3, 4]),
        };
        let head = same(token, [0.9; 4]);
        let reread = move |s: &Snippet| {
            if s.changed.iter().any(|c| *c) {
                head(s)
            } else {
                one_label(
                    &vec![base_token; s.line_numbers.len()],
                    &vec![base_window; s.line_numbers.len()],
                )
            }
        };
        (changed_file(Some(base)), reread)
    }

    #[test]
    fn a_weakness_already_there_at_the_base_is_not_the_changes() {
        // the base fires at 0.9 with its lines flagged: the change left it as it was; at 0.2 it does
        // not fire: the change's; firing on the window alone, no line flagged (a sink read by its
        // shape, as a constant query before `execute(query)`): the change put it on its lines
        for (base_window, base_token, expected) in [
            (0.9, 0.95, vec![]),
            (0.2, 0.5, vec![(2, 3)]),
            (0.9, 0.5, vec![(2, 3)]),
        ] {
            let (file, reread) = with_base(base_window, base_token, [0.1, 0.95, 0.97, 0.2]);
            let found = locate_with(
                file,
                [0.1, 0.95, 0.97, 0.2],
                [0.9; 4],
                &Config::default(),
                reread,
            );
            assert_eq!(
                lines_of(&found),
                expected,
                "base at {base_window} (lines {base_token}): {found:?}"
            );
        }
    }

    #[test]
    fn a_line_the_token_head_is_sure_of_fires_alone_where_the_manifest_says_so() {
        // the window (0.3) is under the label's threshold (0.5); line 3's tokens are at 0.998
        let token = [0.1, 0.2, 0.998, 0.2];
        let read = |alone| {
            locate_alone(
                alone,
                changed_file(None),
                token,
                [0.3; 4],
                &Config::default(),
                same(token, [0.3; 4]),
            )
        };
        assert!(read(None).is_empty(), "windows only: {:?}", read(None));
        assert!(
            read(Some(0.999)).is_empty(),
            "under the line-alone threshold"
        );
        let found = read(Some(0.995));
        assert_eq!(lines_of(&found), vec![(3, 3)]);
        // read against the line-alone threshold: 0.998 is 3/5 of the way from 0.995 to 1
        assert!(
            (found[0].confidence - 0.8).abs() < 1e-3,
            "{}",
            found[0].confidence
        );
    }

    #[test]
    fn a_line_that_fires_alone_at_the_base_too_is_not_the_changes() {
        // the base's window does not fire (0.2), but its lines are as sure as the head's
        let token = [0.1, 0.2, 0.998, 0.2];
        let read = |base_token| {
            let (file, reread) = with_base(0.2, base_token, token);
            let reread = move |s: &Snippet| {
                let mut scores = reread(s);
                if s.changed.iter().any(|c| *c) {
                    scores.window = vec![vec![0.3]; s.line_numbers.len()];
                }
                scores
            };
            locate_alone(
                Some(0.995),
                file,
                token,
                [0.3; 4],
                &Config::default(),
                reread,
            )
        };
        assert_eq!(lines_of(&read(0.5)), vec![(3, 3)], "the base does not fire");
        assert!(read(0.998).is_empty(), "already there at the base");
    }

    #[test]
    fn a_change_that_reaches_an_unchanged_sink_is_reported_on_the_change_and_names_the_sink() {
        // only line 2 (the source) changed; the scope's top line is the unchanged sink on line 3
        let (mut file, reread) = with_base(0.2, 0.5, [0.1, 0.95, 0.99, 0.2]);
        file.added_lines = [2].into_iter().collect();
        let labels = vec!["CWE-89".to_string()];
        let info = cwe89(&labels);
        let snippet = hunk([false, true, false, false]);
        let result: Result<_, ()> = locate(
            &[file],
            &[snippet],
            &[one_label(&[0.1, 0.95, 0.99, 0.2], &[0.9; 4])],
            &info,
            &Catalogue::embedded(),
            &Config::default(),
            |reads| Ok(reads.iter().map(&reread).collect()),
        );
        let found = result.unwrap();
        assert_eq!(
            lines_of(&found),
            vec![(2, 2)],
            "never on the unchanged sink"
        );
        assert!(
            found[0]
                .explanation
                .starts_with("This change reaches the unchanged line 3 (`db.execute(sql)`)"),
            "{}",
            found[0].explanation
        );
    }

    #[test]
    fn each_scope_and_base_range_is_read_once() {
        let (file, reread) = with_base(0.2, 0.5, [0.1, 0.95, 0.2, 0.95]);
        let calls = std::cell::RefCell::new(Vec::new());
        let labels = vec!["CWE-89".to_string()];
        let info = cwe89(&labels);
        let snippet = hunk([false, true, true, true]);
        // two snippets over the same lines: their candidates merge (lines 2 and 4), and both
        // scopes are the whole function: one base read
        let scores = one_label(&[0.1, 0.95, 0.2, 0.95], &[0.9; 4]);
        let result: Result<_, ()> = locate(
            &[file],
            &[snippet.clone(), snippet],
            &[scores.clone(), scores],
            &info,
            &Catalogue::embedded(),
            &Config::default(),
            |reads| {
                calls.borrow_mut().push(reads.len());
                Ok(reads.iter().map(&reread).collect())
            },
        );
        let found = result.unwrap();
        assert_eq!(lines_of(&found), vec![(2, 2), (4, 4)]);
        assert_eq!(
            *calls.borrow(),
            vec![2],
            "one scope read for both candidates and one base range, in one call"
        );
    }

    #[test]
    fn overlapping_findings_of_one_cwe_merge_and_max_findings_cuts_last() {
        let file = changed_file(None);
        let labels = vec!["CWE-89".to_string()];
        let info = cwe89(&labels);
        let snippet = hunk([false, true, true, true]);
        let view = Snippet {
            file: 0,
            text: String::new(),
            line_numbers: vec![3],
            changed: vec![true],
        };
        let run = |max_findings: usize, drop_line_2: bool| {
            let mut config = Config::default();
            config.max_findings = max_findings;
            let result: Result<_, ()> = locate(
                std::slice::from_ref(&file),
                &[snippet.clone(), view.clone(), snippet.clone()],
                &[
                    one_label(&[0.1, 0.95, 0.95, 0.1], &[0.9; 4]),
                    one_label(&[0.95], &[0.9]),
                    one_label(&[0.1, 0.1, 0.1, 0.95], &[0.9; 4]),
                ],
                &info,
                &Catalogue::embedded(),
                &config,
                |reads| {
                    Ok(reads
                        .iter()
                        .map(|s| {
                            let token: Vec<f32> = s
                                .line_numbers
                                .iter()
                                .map(|n| if *n == 2 && drop_line_2 { 0.1 } else { 0.95 })
                                .collect();
                            // lines 2-3 no longer fire when line 2 is dropped (the model reads
                            // text, so one scope's reading serves every candidate in it)
                            let window: Vec<f32> = s
                                .line_numbers
                                .iter()
                                .map(|n| {
                                    if drop_line_2 && (2..=3).contains(n) {
                                        0.1
                                    } else {
                                        0.9
                                    }
                                })
                                .collect();
                            one_label(&token, &window)
                        })
                        .collect())
                },
            );
            result.unwrap()
        };
        let found = run(10, false);
        assert_eq!(
            lines_of(&found),
            vec![(2, 3), (4, 4)],
            "2-3 and 3-3 merge into one"
        );
        // the cap comes after the re-check: the dropped candidate does not take a place
        let found = run(1, true);
        assert_eq!(lines_of(&found), vec![(4, 4)], "{found:?}");
    }
}
