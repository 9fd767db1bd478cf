//! The fallback when no review can be posted: workflow-command annotations and the job summary.
//!
//! Workflow commands: <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>
//! (`::error file=..,line=..::message`; GitHub shows at most 10 errors and 10 warnings per step). The job
//! summary is markdown appended to `$GITHUB_STEP_SUMMARY`. All text is untrusted (it may quote the PR), so
//! command data and properties are percent-escaped and markdown goes through [`comment::escape_text`].

use std::io::Write;
use std::path::Path;

use crate::findings::{Finding, Severity};
use crate::forge::comment;
use crate::forge::PostOutcome;
use crate::report::Report;

/// GitHub displays at most this many annotations of one level per step.
pub const MAX_PER_LEVEL: usize = 10;
/// Rows of the findings table in the job summary (the file may hold 1 MiB per step).
const MAX_SUMMARY_ROWS: usize = 300;

/// Escape the message of a workflow command (`%`, CR, LF).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value of a workflow command (also `:` and `,`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The annotation level of a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "notice",
    }
}

/// One workflow command for a finding.
pub fn annotation(finding: &Finding) -> String {
    let title = format!(
        "hunkguard: {} {} ({}, confidence {})",
        finding.cwe,
        finding.title,
        finding.severity,
        comment::percent(finding.confidence)
    );
    let message = format!("{}\nHow to fix: {}", finding.explanation, finding.advice);
    format!(
        "::{level} file={file},line={line},endLine={end},title={title}::{message}",
        level = level(finding.severity),
        file = escape_property(&finding.path),
        line = finding.start_line,
        end = finding.end_line.max(finding.start_line),
        title = escape_property(&title),
        message = escape_data(&message),
    )
}

/// Print annotations for `findings`, highest severity first, at most [`MAX_PER_LEVEL`] per level, and a
/// plain line saying how many were left out.
pub fn write_annotations(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| {
            a.sort_key()
                .partial_cmp(&b.sort_key())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let mut left_out = 0;
    for lvl in ["error", "warning", "notice"] {
        let of_level = ordered.iter().filter(|f| level(f.severity) == lvl);
        for (i, finding) in of_level.enumerate() {
            if i < MAX_PER_LEVEL {
                writeln!(out, "{}", annotation(finding))?;
            } else {
                left_out += 1;
            }
        }
    }
    if left_out > 0 {
        writeln!(
            out,
            "hunkguard: {left_out} more finding(s) not annotated (GitHub shows {MAX_PER_LEVEL} per level); \
             see the job summary and the report artifact"
        )?;
    }
    Ok(())
}

/// The job summary: totals, why nothing was posted (if so), and a table of the findings.
pub fn step_summary(report: &Report, outcome: &PostOutcome) -> String {
    let mut md = String::from("## hunkguard security review\n\n");
    if let Some(sha) = &report.head_sha {
        md.push_str(&format!(
            "Commit `{}`. ",
            sha.chars()
                .filter(char::is_ascii_hexdigit)
                .collect::<String>()
        ));
    }
    let count = |s| report.findings.iter().filter(|f| f.severity == s).count();
    md.push_str(&format!(
        "{} finding(s) on changed lines: {} critical, {} high, {} medium, {} low.\n\n",
        report.findings.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
    ));
    match &outcome.degraded {
        Some(reason) => md.push_str(&format!(
            "> **Review comments were not posted:** {}. The findings are listed here, as annotations, \
             and in the JSON report artifact.\n\n",
            comment::escape_text(reason)
        )),
        None => md.push_str(&format!(
            "Review: {} new inline comment(s), {} in the review body, {} already on the pull request, \
             {} outdated comment(s) removed, {} thread(s) answered as fixed.\n\n",
            outcome.posted, outcome.in_summary, outcome.already_present, outcome.removed, outcome.resolved
        )),
    }
    if report.findings.is_empty() {
        return md;
    }
    md.push_str("| Severity | Weakness | Where | Confidence |\n|---|---|---|---|\n");
    let mut ordered: Vec<&Finding> = report.findings.iter().collect();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for finding in ordered.iter().take(MAX_SUMMARY_ROWS) {
        let lines = if finding.end_line > finding.start_line {
            format!("{}-{}", finding.start_line, finding.end_line)
        } else {
            finding.start_line.to_string()
        };
        md.push_str(&format!(
            "| {} | {} {} | `{}` line {} | {} |\n",
            finding.severity,
            comment::escape_text(&finding.cwe),
            comment::escape_text(&finding.title),
            finding
                .path
                .replace(['`', '\r', '\n'], "'")
                .replace('|', "\\|"),
            lines,
            comment::percent(finding.confidence),
        ));
    }
    if ordered.len() > MAX_SUMMARY_ROWS {
        md.push_str(&format!(
            "\n… and {} more in the report artifact.\n",
            ordered.len() - MAX_SUMMARY_ROWS
        ));
    }
    md.push('\n');
    md
}

/// Append `markdown` to the job summary file.
pub fn append_step_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(markdown.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn commands_escape_data_and_properties() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c\n"), "a%3Ab%2Cc%0A");
        let mut finding = fixtures::report().findings[0].clone();
        finding.explanation = "line one\n::set-env name=X::y".into();
        finding.path = "a,b:c.py".into();
        let line = annotation(&finding);
        assert!(line
            .starts_with("::error file=a%2Cb%3Ac.py,line=12,endLine=12,title=hunkguard%3A CWE-89"));
        assert_eq!(line.lines().count(), 1);
        assert!(line.contains("line one%0A::set-env"));
    }

    #[test]
    fn at_most_ten_per_level_are_printed() {
        let report = fixtures::report();
        let many: Vec<Finding> = (0..12).map(|_| report.findings[0].clone()).collect();
        let mut out = Vec::new();
        write_annotations(&mut out, &many).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("::error ").count(), 10);
        assert!(text.contains("2 more finding(s) not annotated"));
    }

    #[test]
    fn the_summary_says_why_nothing_was_posted() {
        let report = fixtures::report();
        let outcome = PostOutcome {
            degraded: Some("pull request from fork x/y".into()),
            ..PostOutcome::default()
        };
        let md = step_summary(&report, &outcome);
        assert!(md.contains("Review comments were not posted:** pull request from fork x/y"));
        assert!(md.contains("| critical | CWE-89 SQL injection | `app/db.py` line 12 | 93% |"));
    }
}
