//! GitLab Code Quality report, a subset of the Code Climate issue format ([GitLab documentation](https://docs.gitlab.com/ee/ci/testing/code_quality.html#code-quality-report-format), [Code Climate spec](https://github.com/codeclimate/platform/blob/master/spec/analyzers/SPEC.md#data-types)).
//!
//! Declared in CI as `artifacts: reports: codequality: gl-code-quality-report.json`; the merge request
//! widget shows it on every GitLab tier and compares the fingerprints of the base and head reports to
//! say which findings are new and which were fixed.
//!
//! Severity mapping: critical -> `critical`, high -> `major`, medium -> `minor`, low -> `info`.
//! `blocker` is left unused: whether a finding blocks a merge is hunkguard's exit-code policy
//! (`--fail-on`), not a property of the weakness.

use std::io::Write;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::report::{percent, Emitter, Report, ReportError};

/// Writes a GitLab Code Quality report (a JSON array of issues).
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeQualityEmitter;

impl Emitter for CodeQualityEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        let issues: Vec<Issue> = super::with_occurrences(&report.findings)
            .into_iter()
            .map(|(f, n)| issue(f, n))
            .collect();
        serde_json::to_writer_pretty(&mut *writer, &issues)?;
        writer.write_all(b"\n")?;
        Ok(())
    }
}

fn issue(finding: &Finding, occurrence: u32) -> Issue<'_> {
    let confidence = percent(finding.confidence);
    let begin = finding.start_line.max(1);
    Issue {
        kind: "issue",
        description: format!(
            "{} {}: {} (confidence {confidence})",
            finding.cwe, finding.title, finding.explanation
        ),
        check_name: &finding.cwe,
        categories: ["Security"],
        fingerprint: fingerprint(&finding.fingerprint, occurrence),
        severity: severity(finding.severity),
        location: Location {
            path: &finding.path,
            lines: Lines {
                begin,
                end: finding.end_line.max(begin),
            },
        },
    }
}

/// Code Quality severity of a finding (see the module documentation).
fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "major",
        Severity::Medium => "minor",
        Severity::Low => "info",
    }
}

/// Unique per finding and stable across runs: the finding's fingerprint (rule + path + normalised
/// code, no line numbers) and its occurrence among findings with that fingerprint, hashed to the
/// 32 hex digits the format's examples use.
fn fingerprint(finding_fingerprint: &str, occurrence: u32) -> String {
    super::occurrence_digest("hunkguard-codequality", finding_fingerprint, occurrence)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Serialize)]
struct Issue<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    check_name: &'a str,
    categories: [&'static str; 1],
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: u32,
    end: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use serde_json::{json, Value};

    fn emit(report: &Report) -> Value {
        fixtures::emit_json(&CodeQualityEmitter, report)
    }

    #[test]
    fn issues_have_the_fields_gitlab_reads() {
        let report = fixtures::report();
        let doc = emit(&report);
        let issues = doc.as_array().unwrap();
        assert_eq!(issues.len(), 2);
        let sql = &issues[0];
        assert_eq!(
            sql["description"],
            "CWE-89 SQL injection: A SQL statement is built from untrusted values. (confidence 93%)"
        );
        assert_eq!(sql["check_name"], "CWE-89");
        assert_eq!(sql["severity"], "critical");
        assert_eq!(sql["type"], "issue");
        assert_eq!(sql["categories"], json!(["Security"]));
        assert_eq!(
            sql["location"],
            json!({"path": "app/db.py", "lines": {"begin": 12, "end": 12}})
        );
        assert_eq!(sql["fingerprint"].as_str().unwrap().len(), 32);
        assert_eq!(issues[1]["severity"], "minor");
        assert_eq!(
            issues[1]["location"]["lines"],
            json!({"begin": 15, "end": 16})
        );
    }

    #[test]
    fn severities_map_without_blocker() {
        assert_eq!(severity(Severity::Critical), "critical");
        assert_eq!(severity(Severity::High), "major");
        assert_eq!(severity(Severity::Medium), "minor");
        assert_eq!(severity(Severity::Low), "info");
    }

    #[test]
    fn fingerprints_are_unique_stable_and_order_independent() {
        let report = fixtures::with_twin();
        let prints = |r: &Report| -> Vec<String> {
            emit(r)
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["fingerprint"].as_str().unwrap().to_string())
                .collect()
        };
        let first = prints(&report);
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 3);
        let mut reversed = report.clone();
        reversed.findings.reverse();
        assert_eq!(first, prints(&reversed));
        let mut moved = report.clone();
        for f in &mut moved.findings {
            f.start_line += 3;
            f.end_line += 3;
        }
        assert_eq!(first, prints(&moved), "line moves keep the fingerprint");
    }

    #[test]
    fn empty_report_is_an_empty_array() {
        let report = Report {
            findings: Vec::new(),
            ..fixtures::report()
        };
        assert_eq!(emit(&report), json!([]));
    }
}
