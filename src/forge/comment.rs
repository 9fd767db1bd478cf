//! Comment bodies shared by the GitHub and GitLab reviewers: rendering, escaping and fingerprint markers.
//!
//! Code in a comment is untrusted (it comes from the PR), so it is only ever shown inside a fence that
//! is longer than any backtick run it contains; text outside fences is escaped so that it cannot open
//! HTML, links or @-mentions that would ping people.

use crate::findings::Finding;

const MARKER_OPEN: &str = "<!-- hunkguard:fp=";
const MARKER_CLOSE: &str = " -->";
/// A marker that says "this is hunkguard's summary", so the summary is updated rather than re-posted.
pub const SUMMARY_MARKER: &str = "<!-- hunkguard:summary -->";

/// The hidden marker that carries a finding's fingerprint in a comment body.
pub fn marker(fingerprint: &str) -> String {
    format!("{MARKER_OPEN}{fingerprint}{MARKER_CLOSE}")
}

/// The fingerprint hidden in a comment body, if the comment is ours.
pub fn parse_marker(body: &str) -> Option<String> {
    let start = body.find(MARKER_OPEN)? + MARKER_OPEN.len();
    let rest = &body[start..];
    let end = rest.find(MARKER_CLOSE)?;
    let fp = &rest[..end];
    fp.chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then(|| fp.to_string())
}

/// Every fingerprint marker in a body (a review body lists several findings), in order.
pub fn parse_markers(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(MARKER_OPEN) {
        let tail = &rest[at..];
        if let Some(fp) = parse_marker(tail) {
            found.push(fp);
        }
        rest = &tail[MARKER_OPEN.len()..];
    }
    found
}

const FIXED_OPEN: &str = "<!-- hunkguard:fixed=";

/// The marker of a reply that says a finding is fixed, so that the reply is not repeated on a re-run.
///
/// It differs from [`marker`] on purpose: a "fixed" reply must never count as the finding itself.
pub fn fixed_marker(fingerprint: &str) -> String {
    format!("{FIXED_OPEN}{fingerprint}{MARKER_CLOSE}")
}

/// The fingerprint of a "fixed" reply, if the body is one.
pub fn parse_fixed_marker(body: &str) -> Option<String> {
    let start = body.find(FIXED_OPEN)? + FIXED_OPEN.len();
    let rest = &body[start..];
    let fp = &rest[..rest.find(MARKER_CLOSE)?];
    fp.chars()
        .all(|c| c.is_ascii_alphanumeric())
        .then(|| fp.to_string())
}

/// A backtick fence longer than any run of backticks in `code` (at least three).
pub fn fence_for(code: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in code.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Escape untrusted text for use outside a code fence: no HTML, no markdown links, no @-mentions.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // A zero-width joiner after @ keeps the text readable but stops the mention.
            '@' => out.push_str("@\u{200d}"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Fence `code` as a block with the given info string.
pub fn fenced(code: &str, info: &str) -> String {
    let fence = fence_for(code);
    let code = code.replace("\r\n", "\n");
    format!("{fence}{info}\n{}\n{fence}", code.trim_end_matches('\n'))
}

/// Percent with no decimals, for humans.
pub fn percent(confidence: f32) -> String {
    format!("{:.0}%", (confidence * 100.0).clamp(0.0, 100.0))
}

/// The body of an inline comment for one finding.
pub fn finding_body(finding: &Finding) -> String {
    let number = finding.cwe.strip_prefix("CWE-").unwrap_or(&finding.cwe);
    format!(
        "**[{cwe}](https://cwe.mitre.org/data/definitions/{number}.html): {title}** \
         · severity **{severity}** · confidence {confidence}\n\n\
         {explanation}\n\n\
         **How to fix:** {advice}\n\n\
         <details><summary>Flagged code</summary>\n\n{code}\n\n</details>\n\n\
         <sub>hunkguard {version} · a local model reviewed this change; reply if it is wrong.</sub>\n\
         {marker}",
        cwe = finding.cwe,
        title = finding.title,
        severity = finding.severity,
        confidence = percent(finding.confidence),
        explanation = finding.explanation,
        advice = finding.advice,
        code = fenced(&finding.code, "python"),
        version = env!("CARGO_PKG_VERSION"),
        marker = marker(&finding.fingerprint),
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
        "- **{severity}** {cwe} {title} in `{path}` line {lines} (confidence {confidence}){why}",
        severity = finding.severity,
        cwe = finding.cwe,
        title = finding.title,
        path = finding.path.replace('`', "'"),
        confidence = percent(finding.confidence),
        why = if why.is_empty() {
            String::new()
        } else {
            format!(": {}", escape_text(why))
        },
    )
}

/// The summary body: totals by severity, then the findings not shown inline, highest severity first.
pub fn summary_body(all: &[Finding], not_inline: &[(&Finding, String)]) -> String {
    let mut body = format!("{SUMMARY_MARKER}\n### hunkguard security review\n\n");
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
    if !not_inline.is_empty() {
        let mut rest: Vec<_> = not_inline.iter().collect();
        rest.sort_by(|a, b| {
            b.0.severity
                .cmp(&a.0.severity)
                .then(a.0.sort_key().cmp(&b.0.sort_key()))
        });
        body.push_str("\nNot shown as inline comments:\n\n");
        for (finding, why) in rest {
            body.push_str(&summary_line(finding, why));
            body.push('\n');
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        let body = format!("text\n{}", marker("abc123"));
        assert_eq!(parse_marker(&body).as_deref(), Some("abc123"));
        assert_eq!(parse_marker("<!-- hunkguard:fp=<script> -->"), None);
        assert_eq!(parse_marker("no marker"), None);
    }

    #[test]
    fn every_marker_of_a_body_is_found_and_fixed_markers_are_distinct() {
        let body = format!(
            "{}\n- a\n{}\n{}",
            SUMMARY_MARKER,
            marker("aa11"),
            marker("bb22")
        );
        assert_eq!(
            parse_markers(&body),
            vec!["aa11".to_string(), "bb22".to_string()]
        );
        let reply = format!("fixed\n{}", fixed_marker("aa11"));
        assert_eq!(parse_marker(&reply), None);
        assert_eq!(parse_fixed_marker(&reply).as_deref(), Some("aa11"));
    }

    #[test]
    fn fences_outgrow_backtick_runs_in_code() {
        assert_eq!(fence_for("x = 1"), "```");
        assert_eq!(fence_for("s = '````'"), "`````");
        let block = fenced("a = '```'\n", "python");
        assert!(block.starts_with("````python\n"));
        assert!(block.ends_with("\n````"));
    }

    #[test]
    fn text_escaping_stops_html_links_and_mentions() {
        let escaped = escape_text("<img src=x> [a](http://e) @octocat");
        assert!(!escaped.contains('<'));
        assert!(!escaped.contains("](http"));
        assert!(!escaped.contains("@octocat"));
    }

    #[test]
    fn finding_body_carries_cwe_link_advice_code_and_marker() {
        let finding = &fixtures::report().findings[0];
        let body = finding_body(finding);
        assert!(body.contains("https://cwe.mitre.org/data/definitions/89.html"));
        assert!(body.contains("**How to fix:** Use parameterised queries."));
        assert!(body.contains("```python\n    cur.execute("));
        assert_eq!(
            parse_marker(&body).as_deref(),
            Some(finding.fingerprint.as_str())
        );
    }

    #[test]
    fn summary_lists_highest_severity_first() {
        let report = fixtures::report();
        let rest: Vec<_> = report
            .findings
            .iter()
            .rev()
            .map(|f| (f, String::new()))
            .collect();
        let body = summary_body(&report.findings, &rest);
        let critical = body.find("CWE-89").unwrap();
        let medium = body.find("CWE-328").unwrap();
        assert!(critical < medium);
        assert!(body.starts_with(SUMMARY_MARKER));
    }
}
