//! The fallback when no review can be posted: the job summary, next to the annotations of
//! [`crate::report::github`].
//!
//! The job summary is markdown appended to `$GITHUB_STEP_SUMMARY`. All text is untrusted (it may quote
//! the PR), so it goes through [`comment::escape_text`].

use std::io::Write;
use std::path::Path;

use crate::findings::{Finding, Severity};
use crate::forge::comment;
use crate::forge::PostOutcome;
use crate::report::Report;

/// Rows of the findings table in the job summary (the file may hold 1 MiB per step).
const MAX_SUMMARY_ROWS: usize = 300;

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
    // `Finding`'s one ordering: most severe, then most confident, first
    ordered.sort();
    for finding in ordered.iter().take(MAX_SUMMARY_ROWS) {
        let lines = if finding.end_line > finding.start_line {
            format!("{}-{}", finding.start_line, finding.end_line)
        } else {
            finding.start_line.to_string()
        };
        md.push_str(&format!(
            "| {} | {} {} | {} line {} | {} |\n",
            finding.severity,
            comment::escape_text(&finding.cwe),
            comment::escape_text(&finding.title),
            // GFM splits table cells at `|` even inside a code span, unless it is escaped.
            comment::code_span(&finding.path).replace('|', "\\|"),
            lines,
            crate::report::percent(finding.confidence),
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
