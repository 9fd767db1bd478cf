//! GitHub Actions workflow-command annotations ([workflow commands](https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/workflow-commands-for-github-actions#setting-an-error-message)).
//!
//! One `::error|warning|notice file=..,line=..,endLine=..,title=..::message` line per finding. This is
//! the fallback that works without any token (fork pull requests). GitHub shows at most 10 annotations
//! of each level per step, so the most severe (then the most confident) findings come first.
//!
//! Escaping follows the Actions toolkit (`@actions/core` `command.ts`): in the message `%`, `\r` and
//! `\n` are percent-encoded; in property values `:` and `,` are too. Newlines in untrusted text can
//! therefore never start a new workflow command.

use std::io::Write;

use crate::finding::{Finding, Severity};
use crate::report::{percent, Emitter, Report, ReportError};

/// GitHub displays at most this many annotations of one level per step.
pub const MAX_PER_LEVEL: usize = 10;

/// Writes GitHub Actions annotations, one workflow command per finding.
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubAnnotationEmitter;

impl Emitter for GithubAnnotationEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        write_annotations(writer, &report.findings)?;
        Ok(())
    }
}

/// Print one annotation per finding, most severe then most confident first, at most
/// [`MAX_PER_LEVEL`] per level (GitHub drops the rest), and a plain line saying how many were left out.
pub fn write_annotations(out: &mut dyn Write, findings: &[Finding]) -> std::io::Result<()> {
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort();
    let mut left_out = 0;
    for level in ["error", "warning", "notice"] {
        let of_level = ordered.iter().filter(|f| command(f.severity) == level);
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

/// One workflow command for a finding.
fn annotation(finding: &Finding) -> String {
    let confidence = percent(finding.confidence);
    let start = finding.start_line.max(1);
    let title = format!(
        "hunkguard: {} {} [{}, {confidence}]",
        finding.cwe, finding.title, finding.severity
    );
    let message = format!("{}\nHow to fix: {}", finding.explanation, finding.advice);
    format!(
        "::{} file={},line={start},endLine={},title={}::{}",
        command(finding.severity),
        escape_property(&finding.path),
        finding.end_line.max(start),
        escape_property(&title),
        escape_data(&message)
    )
}

/// `error` for high and critical, `warning` for medium, `notice` for low.
fn command(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "notice",
    }
}

/// Escape a command's message: `%` -> `%25`, `\r` -> `%0D`, `\n` -> `%0A`.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a property value: as [`escape_data`], plus `:` -> `%3A` and `,` -> `%2C`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn emit(report: &Report) -> String {
        fixtures::emit_text(&GithubAnnotationEmitter, report)
    }

    #[test]
    fn one_escaped_command_per_finding() {
        let out = emit(&fixtures::report());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                "::error file=app/db.py,line=12,endLine=12,title=hunkguard%3A CWE-89 SQL injection [critical%2C 93%25]::A SQL statement is built from untrusted values.%0AHow to fix: Use parameterised queries.",
                "::warning file=app/db.py,line=15,endLine=16,title=hunkguard%3A CWE-328 Weak hash for security [medium%2C 61%25]::MD5 protects a password.%0AHow to fix: Use scrypt.",
            ]
        );
    }

    #[test]
    fn most_severe_first_then_most_confident() {
        let mut report = fixtures::report();
        report.findings.reverse();
        let mut low = report.findings[0].clone();
        low.severity = Severity::Low;
        low.start_line = 1;
        low.end_line = 1;
        let mut sure = report.findings[0].clone();
        sure.confidence = 0.99;
        sure.start_line = 90;
        sure.end_line = 90;
        report.findings.extend([low, sure]);
        let out = emit(&report);
        let order: Vec<&str> = out
            .lines()
            .map(|l| l.split_once("::").unwrap().1)
            .map(|rest| rest.split(' ').next().unwrap())
            .collect();
        assert_eq!(order, ["error", "warning", "warning", "notice"]);
        assert!(out.lines().nth(1).unwrap().contains("line=90,"));
    }

    #[test]
    fn escaping_follows_the_actions_toolkit() {
        assert_eq!(escape_data("50%\r\nnext::x,y"), "50%25%0D%0Anext::x,y");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        let mut report = fixtures::report();
        report.findings.truncate(1);
        report.findings[0].path = "dir,x/we:ird.py".into();
        report.findings[0].explanation = "bad\n::set-output name=x::y".into();
        let out = emit(&report);
        assert_eq!(out.lines().count(), 1, "no injected command line");
        assert!(out.contains("file=dir%2Cx/we%3Aird.py,"));
        assert!(out.contains("::bad%0A::set-output name=x::y%0AHow to fix: "));
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
    fn empty_report_writes_nothing() {
        let report = crate::report::Report {
            findings: Vec::new(),
            ..fixtures::report()
        };
        assert_eq!(emit(&report), "");
    }
}
