//! Cleaning a report that arrives as an artifact before a privileged job posts it.
//!
//! In the fork-safe pair (<https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/>)
//! the analysing `pull_request` workflow runs with the PR's own workflow file, so its artifact is
//! attacker-controlled. The posting job therefore re-derives every text from the embedded CWE catalogue,
//! drops findings with unknown CWEs or odd paths and fingerprints, and caps sizes: the worst a forged
//! report can do is misplace or omit findings on its own pull request.

use crate::catalogue::Catalogue;
use crate::findings::{Finding, Severity};
use crate::report::{Report, ReviewedFile};

/// Most findings a posted report may carry.
const MAX_FINDINGS: usize = 1000;
/// Longest flagged code shown in a comment.
const MAX_CODE_CHARS: usize = 4000;
/// Longest accepted path.
const MAX_PATH_CHARS: usize = 1024;

fn sane_path(path: &str) -> bool {
    !path.is_empty()
        && path.chars().count() <= MAX_PATH_CHARS
        && !path.starts_with('/')
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && !path.split('/').any(|seg| seg.is_empty() || seg == "..")
}

fn sane_fingerprint(fp: &str) -> bool {
    !fp.is_empty() && fp.len() <= 64 && fp.chars().all(|c| c.is_ascii_alphanumeric())
}

fn sane_cwe(cwe: &str) -> bool {
    cwe.strip_prefix("CWE-")
        .is_some_and(|n| !n.is_empty() && n.len() <= 6 && n.chars().all(|c| c.is_ascii_digit()))
}

/// The report with every finding's text taken from `catalogue` and everything odd dropped; the second
/// value lists what was dropped and why.
pub fn sanitise(report: &Report, catalogue: &Catalogue) -> (Report, Vec<String>) {
    let mut dropped = Vec::new();
    let mut findings = Vec::new();
    for finding in &report.findings {
        if findings.len() >= MAX_FINDINGS {
            dropped.push(format!(
                "findings beyond the first {MAX_FINDINGS} are not posted"
            ));
            break;
        }
        let entry = sane_cwe(&finding.cwe)
            .then(|| catalogue.get(&finding.cwe))
            .flatten();
        let Some(entry) = entry else {
            dropped.push("a finding with an unknown CWE id".into());
            continue;
        };
        if !sane_path(&finding.path) || !sane_fingerprint(&finding.fingerprint) {
            dropped.push(format!(
                "a {} finding with a malformed path or fingerprint",
                entry.id
            ));
            continue;
        }
        if finding.start_line == 0
            || finding.end_line < finding.start_line
            || finding.end_line - finding.start_line > 1000
        {
            dropped.push(format!("a {} finding with impossible lines", entry.id));
            continue;
        }
        let confidence = if finding.confidence.is_finite() {
            finding.confidence.clamp(0.0, 1.0)
        } else {
            0.0
        };
        findings.push(Finding {
            path: finding.path.clone(),
            start_line: finding.start_line,
            end_line: finding.end_line,
            cwe: entry.id.clone(),
            title: entry.name.clone(),
            confidence,
            severity: Severity::from_score(entry.severity),
            security_severity: entry.severity,
            explanation: entry.description.clone(),
            advice: entry.advice.clone(),
            code: finding.code.chars().take(MAX_CODE_CHARS).collect(),
            fingerprint: finding.fingerprint.clone(),
        });
    }
    let files: Vec<ReviewedFile> = report
        .files
        .iter()
        .filter(|f| sane_path(&f.path))
        .cloned()
        .collect();
    let clean = Report {
        head_sha: report
            .head_sha
            .clone()
            .filter(|s| s.chars().all(|c| c.is_ascii_hexdigit())),
        base_sha: report
            .base_sha
            .clone()
            .filter(|s| s.chars().all(|c| c.is_ascii_hexdigit())),
        files,
        findings,
        ..report.clone()
    };
    (clean, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn forged_text_is_replaced_and_odd_findings_dropped() {
        let mut report = fixtures::report();
        report.findings[0].title = "[click](https://evil.example) @everyone".into();
        report.findings[0].advice = "<img src=x onerror=alert(1)>".into();
        let mut bad_cwe = report.findings[0].clone();
        bad_cwe.cwe = "CWE-89](https://evil.example)".into();
        let mut bad_fp = report.findings[0].clone();
        bad_fp.fingerprint = "x --> <b>".into();
        let mut bad_path = report.findings[0].clone();
        bad_path.path = "../../etc/passwd".into();
        report.findings.extend([bad_cwe, bad_fp, bad_path]);
        let (clean, dropped) = sanitise(&report, &Catalogue::embedded());
        assert_eq!(clean.findings.len(), 2);
        assert_eq!(clean.findings[0].title, "SQL injection");
        assert!(!clean.findings[0].advice.contains("<img"));
        assert_eq!(dropped.len(), 3);
    }
}
