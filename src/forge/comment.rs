//! Comment bodies shared by the GitHub and GitLab reviewers: rendering, escaping and the hidden markers.
//!
//! Every byte from the repository (code, paths) is hostile. Code is only shown inside a fence longer than
//! any backtick run it contains; a path is only shown in a code span long enough for its backticks, with
//! its line breaks neutralised; other text is escaped so that it cannot open HTML, links, formatting or
//! mentions. Markers are only read from the *trailer* of a body: the run of marker lines at its very
//! end, which we write after everything else. Text from the repository can never form such a line
//! (code is fenced above it, other text is escaped), so a flagged line that contains marker text is
//! just code, never our metadata.

use crate::finding::Finding;
use crate::report::percent;

/// The marker that says "this is hunkguard's summary", so the summary is updated rather than re-posted.
pub const SUMMARY_MARKER: &str = "<!-- hunkguard:summary -->";

const FINDING_OPEN: &str = "<!-- hunkguard:fp=";
const ANSWER_OPEN: &str = "<!-- hunkguard:fixed=";
const RUN_OPEN: &str = "<!-- hunkguard:run=";
const CLOSE: &str = " -->";

/// The stable identity of a finding on a pull request: its fingerprint (rule, path, normalised code)
/// and which copy of that code in the file it is (1 = first from the top), so that two identical flaws
/// in one file are two findings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// [`Finding::fingerprint`].
    pub fingerprint: String,
    /// 1-based index among the findings of the same fingerprint, top to bottom.
    pub occurrence: u32,
}

impl Key {
    /// The identity of the first copy of `fingerprint`.
    pub fn first(fingerprint: &str) -> Self {
        Self {
            fingerprint: fingerprint.to_string(),
            occurrence: 1,
        }
    }
}

/// The marker of a finding's comment: its key and the line the comment sits on (to notice moves).
pub fn marker(key: &Key, line: Option<u32>) -> String {
    let line = line.map(|l| format!(" line={l}")).unwrap_or_default();
    format!(
        "{FINDING_OPEN}{} n={}{line}{CLOSE}",
        key.fingerprint, key.occurrence
    )
}

/// The marker of a reply that says a finding is fixed or moved, so that the reply is not repeated.
///
/// It differs from [`marker`] on purpose: an answer must never count as the finding itself.
pub fn answer_marker(key: &Key) -> String {
    format!(
        "{ANSWER_OPEN}{} n={}{CLOSE}",
        key.fingerprint, key.occurrence
    )
}

/// The marker of one run, so that a request that may have landed can be looked for before a retry.
pub fn run_marker(run: &str) -> String {
    format!("{RUN_OPEN}{run}{CLOSE}")
}

/// One finding named in a trailer: its key and, for inline comments, its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    /// Which finding.
    pub key: Key,
    /// The line the comment was placed on, when it was placed on one.
    pub line: Option<u32>,
}

/// What the trailer of a body says (empty for a body that is not ours).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailer {
    /// The body is our summary.
    pub summary: bool,
    /// The run that wrote it.
    pub run: Option<String>,
    /// The findings it reports, in body order.
    pub findings: Vec<Marked>,
    /// The findings it answers as fixed or moved.
    pub answers: Vec<Key>,
}

impl Trailer {
    /// Whether the body carries any of our markers.
    pub fn is_ours(&self) -> bool {
        self.summary || self.run.is_some() || !self.findings.is_empty() || !self.answers.is_empty()
    }
}

/// Read the trailer: the marker lines at the very end of `body`, and nothing else.
pub fn trailer(body: &str) -> Trailer {
    let mut found = Trailer::default();
    for line in body.trim_end().lines().rev() {
        let line = line.trim_end();
        if line == SUMMARY_MARKER {
            found.summary = true;
        } else if let Some(run) = inner(line, RUN_OPEN).filter(|r| is_token(r)) {
            found.run = Some(run.to_string());
        } else if let Some(marked) = inner(line, FINDING_OPEN).and_then(parse_marked) {
            found.findings.push(marked);
        } else if let Some(marked) = inner(line, ANSWER_OPEN).and_then(parse_marked) {
            found.answers.push(marked.key);
        } else {
            break;
        }
    }
    found.findings.reverse();
    found.answers.reverse();
    found
}

fn inner<'a>(line: &'a str, open: &str) -> Option<&'a str> {
    line.strip_prefix(open)?.strip_suffix(CLOSE)
}

fn is_token(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `FP`, `FP n=N` or `FP n=N line=L` (the first form is what hunkguard 0.1 wrote).
fn parse_marked(text: &str) -> Option<Marked> {
    let mut parts = text.split(' ');
    let fingerprint = parts.next().filter(|fp| is_token(fp))?;
    let mut marked = Marked {
        key: Key::first(fingerprint),
        line: None,
    };
    for part in parts {
        let number = |name: &str| part.strip_prefix(name)?.parse::<u32>().ok();
        if let Some(n) = number("n=").filter(|n| *n > 0) {
            marked.key.occurrence = n;
        } else if let Some(line) = number("line=").filter(|l| *l > 0) {
            marked.line = Some(line);
        } else {
            return None;
        }
    }
    Some(marked)
}

/// A backtick fence longer than any run of backticks in `code` (at least three).
pub fn fence_for(code: &str) -> String {
    "`".repeat((longest_backtick_run(code) + 1).max(3))
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Escape untrusted text for use outside code: no HTML, no links, no formatting, no mentions, one line.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // A zero-width joiner after @ keeps the text readable but stops the mention.
            '@' => out.push_str("@\u{200d}"),
            // Any ASCII punctuation may be backslash-escaped in CommonMark: escaped, none can open
            // emphasis, links, math, references (#1, !2, ~label, %milestone) or tables, and `.` and `:`
            // escaped keep bare URLs from being autolinked. The rest is harmless inside a line.
            c if c.is_ascii_punctuation() && !",'\"-?;=+/".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// `text` as one inline code span: line breaks and other control characters become spaces, and the
/// backtick delimiters are longer than any run inside, so nothing in it renders as markup.
pub fn code_span(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let ticks = "`".repeat(longest_backtick_run(&flat) + 1);
    // A span that starts or ends with a backtick needs a space inside its delimiters; CommonMark strips
    // one space on each side when both are there, so pad both sides whenever either needs it.
    let pad = flat.starts_with('`') || flat.ends_with('`') || flat.trim().is_empty();
    if pad {
        format!("{ticks} {flat} {ticks}")
    } else {
        format!("{ticks}{flat}{ticks}")
    }
}

/// Fence `code` as a block with the given info string.
pub fn fenced(code: &str, info: &str) -> String {
    let fence = fence_for(code);
    // A lone CR is a line break for CommonMark too; normalise every break to LF. A NUL is insecure in
    // CommonMark, which tells renderers to read it as U+FFFD; write that ourselves so every renderer
    // shows the same code.
    let code = code
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\0', "\u{fffd}");
    format!("{fence}{info}\n{}\n{fence}", code.trim_end_matches('\n'))
}

/// Whether an HTML fragment of a rendered body is one hunkguard writes itself: the `<details>` and
/// `<sub>` tags of its templates and its marker comments. Any other HTML in a body came from the
/// repository and was not escaped.
pub fn is_own_html(html: &str) -> bool {
    let html = html.trim();
    [
        "<details><summary>Flagged code</summary>",
        "<sub>",
        "</sub>",
        "</details>",
    ]
    .contains(&html)
        || html
            .lines()
            .all(|l| l.starts_with("<!-- hunkguard:") && l.ends_with(" -->"))
}

/// The body of an inline comment for one finding, placed on `line`, written by `run`.
pub fn finding_body(finding: &Finding, key: &Key, line: u32, run: &str) -> String {
    // the CWE links to its MITRE page only when the id is a plain CWE number
    let cwe = match crate::catalogue::cwe_url(&finding.cwe) {
        Some(url) => format!("[{}]({url})", escape_text(&finding.cwe)),
        None => escape_text(&finding.cwe),
    };
    format!(
        "**{cwe}: {title}** \
         · severity **{severity}** · confidence {confidence}\n\n\
         {explanation}\n\n\
         **How to fix:** {advice}\n\n\
         <details><summary>Flagged code</summary>\n\n{code}\n\n</details>\n\n\
         <sub>hunkguard {version} · a local model reviewed this change; reply if it is wrong.</sub>\n\
         {marker}\n{run}",
        title = escape_text(&finding.title),
        severity = finding.severity,
        confidence = percent(finding.confidence),
        explanation = escape_text(&finding.explanation),
        advice = escape_text(&finding.advice),
        code = fenced(&finding.code, "python"),
        version = env!("CARGO_PKG_VERSION"),
        marker = marker(key, Some(line)),
        run = run_marker(run),
    )
}

/// The reply that closes one of our threads whose finding is gone or moved.
pub fn answer_body(key: &Key, why: &str, run: &str) -> String {
    format!(
        "{}\n{}\n{}",
        escape_text(why),
        answer_marker(key),
        run_marker(run)
    )
}

/// One summary line for a finding that is not shown inline (escaped; no code).
pub fn summary_line(finding: &Finding, why: &str) -> String {
    let lines = if finding.start_line == finding.end_line {
        format!("{}", finding.start_line)
    } else {
        format!("{}-{}", finding.start_line, finding.end_line)
    };
    format!(
        "- **{severity}** {cwe} {title} in {path} line {lines} (confidence {confidence}){why}",
        severity = finding.severity,
        cwe = escape_text(&finding.cwe),
        title = escape_text(&finding.title),
        path = code_span(&finding.path),
        confidence = percent(finding.confidence),
        why = if why.is_empty() {
            String::new()
        } else {
            format!(": {}", escape_text(why))
        },
    )
}

/// The summary text: totals by severity, then `listed` (the findings not shown inline, in the order
/// given) and how many more were left out. No markers: see [`summary_trailer`].
pub fn summary_body(all: &[Finding], listed: &[(&Finding, String)], left_out: usize) -> String {
    let mut body = String::from("### hunkguard security review\n\n");
    if all.is_empty() {
        body.push_str("No security findings on the changed Python lines.\n");
        return body;
    }
    let count = |s| all.iter().filter(|f| f.severity == s).count();
    use crate::findings::Severity::*;
    body.push_str(&format!(
        "{} finding(s) on changed lines: {} critical, {} high, {} medium, {} low.\n",
        all.len(),
        count(Critical),
        count(High),
        count(Medium),
        count(Low)
    ));
    if !listed.is_empty() {
        body.push_str("\nNot shown as inline comments:\n\n");
        for (finding, why) in listed {
            body.push_str(&summary_line(finding, why));
            body.push('\n');
        }
    }
    if left_out > 0 {
        body.push_str(&format!(
            "\n… and {left_out} more: see the JSON/SARIF report of this run.\n"
        ));
    }
    body
}

/// The trailer of a summary: the summary marker, one marker per listed finding, the run marker.
pub fn summary_trailer(listed: &[&Key], run: &str) -> String {
    let mut trailer = format!("\n{SUMMARY_MARKER}\n");
    for key in listed {
        trailer.push_str(&marker(key, None));
        trailer.push('\n');
    }
    trailer.push_str(&run_marker(run));
    trailer.push('\n');
    trailer
}

/// `body` without its run marker: two summaries that differ only in the run that wrote them are equal.
pub fn without_run_marker(body: &str) -> String {
    body.trim_end()
        .lines()
        .filter(|l| inner(l.trim_end(), RUN_OPEN).is_none())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn key(fp: &str, n: u32) -> Key {
        Key {
            fingerprint: fp.into(),
            occurrence: n,
        }
    }

    #[test]
    fn trailers_round_trip_and_old_markers_still_read() {
        let body = format!(
            "text\n{}\n{}\n{}",
            marker(&key("abc123", 2), Some(12)),
            "<!-- hunkguard:fp=old1 -->",
            run_marker("r1")
        );
        let t = trailer(&body);
        assert_eq!(t.run.as_deref(), Some("r1"));
        assert_eq!(
            t.findings,
            vec![
                Marked {
                    key: key("abc123", 2),
                    line: Some(12)
                },
                Marked {
                    key: key("old1", 1),
                    line: None
                }
            ]
        );
        assert!(!trailer("<!-- hunkguard:fp=<script> -->").is_ours());
        assert!(!trailer("no marker").is_ours());
    }

    #[test]
    fn markers_above_the_trailer_or_inside_code_are_not_read() {
        let mut finding = fixtures::report().findings[0].clone();
        finding.code = format!(
            "x = 1  # {}\n{}",
            marker(&key("dead", 1), Some(3)),
            SUMMARY_MARKER
        );
        let body = finding_body(&finding, &Key::first(&finding.fingerprint), 12, "run1");
        let t = trailer(&body);
        assert!(!t.summary);
        assert_eq!(t.findings.len(), 1);
        assert_eq!(t.findings[0].key.fingerprint, finding.fingerprint);
        let quoted = format!("{}\n\nI disagree", marker(&key("dead", 1), None));
        assert!(!trailer(&quoted).is_ours());
    }

    #[test]
    fn answers_are_not_findings() {
        let reply = answer_body(&key("aa11", 1), "fixed in abc", "r");
        let t = trailer(&reply);
        assert!(t.findings.is_empty());
        assert_eq!(t.answers, vec![key("aa11", 1)]);
    }

    #[test]
    fn fences_and_spans_outgrow_backtick_runs() {
        assert_eq!(fence_for("x = 1"), "```");
        assert_eq!(fence_for("s = '````'"), "`````");
        let block = fenced("a = '```'\n", "python");
        assert!(block.starts_with("````python\n"));
        assert!(block.ends_with("\n````"));
        assert_eq!(code_span("a.py"), "`a.py`");
        assert_eq!(code_span("a`b.py"), "``a`b.py``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a\nb"), "`a b`");
    }

    #[test]
    fn text_escaping_stops_html_links_and_mentions() {
        let escaped = escape_text("<img src=x> [a](http://e) @octocat\n# head");
        assert!(!escaped.contains('<'));
        assert!(!escaped.contains("](http"));
        assert!(!escaped.contains("@octocat"));
        assert!(!escaped.contains('\n'));
    }

    #[test]
    fn finding_body_carries_cwe_link_advice_code_and_marker() {
        let finding = &fixtures::report().findings[0];
        let key = Key::first(&finding.fingerprint);
        let body = finding_body(finding, &key, 12, "run1");
        assert!(body.contains("https://cwe.mitre.org/data/definitions/89.html"));
        assert!(body.contains("**How to fix:** Use parameterised queries\\."));
        assert!(body.contains("```python\n    cur.execute("));
        let t = trailer(&body);
        assert_eq!(
            t.findings,
            vec![Marked {
                key,
                line: Some(12)
            }]
        );
        assert_eq!(t.run.as_deref(), Some("run1"));
    }

    #[test]
    fn summaries_compare_equal_across_runs() {
        let a = format!("x\n{}", summary_trailer(&[&key("f", 1)], "r1"));
        let b = format!("x\n{}", summary_trailer(&[&key("f", 1)], "r2"));
        assert_ne!(a, b);
        assert_eq!(without_run_marker(&a), without_run_marker(&b));
        assert!(trailer(&a).summary);
    }

    /// Render `body` with a CommonMark parser and check that nothing from the input became markup.
    fn assert_inert(body: &str, code: &str) {
        use pulldown_cmark::{Event, Options, Parser, Tag};
        let mut code_blocks = Vec::new();
        let mut in_block = false;
        let mut block = String::new();
        for event in Parser::new_ext(body, Options::all()) {
            match event {
                Event::Html(h) | Event::InlineHtml(h) => {
                    assert!(is_own_html(&h), "live HTML {h:?} in\n{body}")
                }
                Event::Start(Tag::Link { dest_url, .. }) => assert!(
                    dest_url.starts_with("https://cwe.mitre.org/"),
                    "link {dest_url:?} in\n{body}"
                ),
                Event::Start(Tag::Image { .. })
                | Event::Start(Tag::Heading { .. })
                | Event::Start(Tag::Table(_))
                | Event::Start(Tag::BlockQuote(_))
                | Event::Start(Tag::FootnoteDefinition(_))
                | Event::FootnoteReference(_)
                | Event::InlineMath(_)
                | Event::DisplayMath(_) => panic!("markup from the input in\n{body}"),
                Event::Start(Tag::CodeBlock(_)) => in_block = true,
                Event::End(pulldown_cmark::TagEnd::CodeBlock) => {
                    in_block = false;
                    code_blocks.push(std::mem::take(&mut block));
                }
                Event::Text(t) if in_block => block.push_str(&t),
                Event::Text(t) => {
                    let mention = t.char_indices().any(|(i, c)| {
                        c == '@' && t[i + 1..].chars().next().is_some_and(char::is_alphanumeric)
                    });
                    assert!(!mention, "a mention in {t:?} of\n{body}");
                }
                _ => {}
            }
        }
        // CommonMark reads a NUL as U+FFFD.
        let expected = code
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\0', "\u{fffd}");
        assert_eq!(
            code_blocks,
            vec![format!("{}\n", expected.trim_end_matches('\n'))],
            "the code block is not the code:\n{body}"
        );
    }

    fn hostile() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pieces = prop_oneof![
            Just("`".to_string()),
            Just("```".to_string()),
            Just("\n".to_string()),
            Just("\r".to_string()),
            Just("<img src=x onerror=alert(1)>".to_string()),
            Just("</details>".to_string()),
            Just("<!-- hunkguard:fp=dead n=1 line=3 -->".to_string()),
            Just(SUMMARY_MARKER.to_string()),
            Just("-->".to_string()),
            Just("[x](http://evil.example)".to_string()),
            Just("![i](http://evil.example/i.png)".to_string()),
            Just("@octocat".to_string()),
            Just("# ".to_string()),
            Just("> ".to_string()),
            Just("| a | b |\n|---|---|".to_string()),
            Just("$x$".to_string()),
            Just("[^1]".to_string()),
            Just("    ".to_string()),
            Just("~~~".to_string()),
            "[a-z ]{0,4}".prop_map(|s| s),
            any::<char>().prop_map(|c| c.to_string()),
        ];
        proptest::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(200))]

        #[test]
        fn no_input_escapes_its_code_span_fence_or_escaping(
            path in hostile(),
            code in hostile(),
            title in hostile(),
            why in hostile(),
        ) {
            let mut finding = fixtures::report().findings[0].clone();
            finding.path = path;
            finding.code = code.clone();
            finding.title = title.clone();
            finding.advice = title;
            let key = Key::first(&finding.fingerprint);
            let body = finding_body(&finding, &key, 12, "run1");
            assert_inert(&body, &code);
            let t = trailer(&body);
            proptest::prop_assert_eq!(t.findings, vec![Marked { key: key.clone(), line: Some(12) }]);
            proptest::prop_assert_eq!(t.run.as_deref(), Some("run1"));
            proptest::prop_assert!(!t.summary);

            let summary = format!(
                "{}{}",
                summary_body(std::slice::from_ref(&finding), &[(&finding, why)], 0),
                summary_trailer(&[&key], "run1")
            );
            // The summary has our heading and no code block; everything else must be inert.
            let rest = summary.split_once("\n\n").map(|(_, r)| r).unwrap_or_default();
            let fenced_code = "x";
            assert_inert(&format!("{rest}\n{}", fenced(fenced_code, "")), fenced_code);
            let t = trailer(&summary);
            proptest::prop_assert!(t.summary);
            proptest::prop_assert_eq!(t.findings.len(), 1);
        }
    }
}
