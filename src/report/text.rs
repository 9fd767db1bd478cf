//! Human-readable terminal output in the style of rustc and ruff diagnostics ([rustc's diagnostic format](https://rustc-dev-guide.rust-lang.org/diagnostics.html#diagnostic-output-format)).
//!
//! ```text
//! app/db.py:12: CWE-89 SQL injection [critical, 93%]
//!    |
//! 12 |     cur.execute("SELECT * FROM users WHERE name = '%s'" % name)
//!    |
//!    = why: A SQL statement is built from untrusted values.
//!    = fix: Use parameterised queries.
//!
//! 1 finding: 1 critical; 1 file reviewed; model hunkguard-cwe 0.1.0 on CPU
//! ```
//!
//! Paths and code come from the reviewed change, which anyone can write, so control characters are
//! shown escaped (`\u{1b}`): a diff must not be able to drive the reader's terminal. Bidirectional
//! controls (U+202E and kin) are escaped too, and a note says they are there: code that reads
//! differently from how it runs ("Trojan Source", CVE-2021-42574) is itself worth a reviewer's look.

use std::io::Write;

use crate::finding::{Finding, Severity};
use crate::report::{is_bidi_control, percent, Emitter, Report, ReportError};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const GUTTER: &str = "\x1b[1;34m";

/// Writes findings as rustc/ruff-style diagnostics with a closing summary line.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextEmitter {
    /// Use ANSI colours (for a terminal).
    pub color: bool,
}

impl Emitter for TextEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        for finding in &report.findings {
            self.finding(writer, finding)?;
            writeln!(writer)?;
        }
        writeln!(writer, "{}", self.summary(report))?;
        Ok(())
    }
}

impl TextEmitter {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn finding(&self, writer: &mut dyn Write, finding: &Finding) -> std::io::Result<()> {
        let start = finding.start_line;
        let end = finding.end_line.max(start);
        let lines = if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        };
        let confidence = percent(finding.confidence);
        writeln!(
            writer,
            "{}: {} [{}, {confidence}]",
            self.paint(BOLD, &format!("{}:{lines}", clean_line(&finding.path))),
            self.paint(
                BOLD,
                &format!(
                    "{} {}",
                    clean_line(&finding.cwe),
                    clean_line(&finding.title)
                )
            ),
            self.paint(severity_style(finding.severity), finding.severity.as_str()),
        )?;

        let code: Vec<&str> = finding.code.lines().collect();
        let last = start.saturating_add(u32::try_from(code.len()).unwrap_or(u32::MAX).max(1) - 1);
        let width = last.max(end).to_string().len();
        let blank = self.paint(GUTTER, &format!("{:width$} |", ""));
        writeln!(writer, "{blank}")?;
        for (offset, line) in (0u32..).zip(&code) {
            let number = start.saturating_add(offset);
            let gutter = self.paint(GUTTER, &format!("{number:>width$} |"));
            let line = clean_line(line.trim_end_matches('\r'));
            if line.is_empty() {
                writeln!(writer, "{gutter}")?;
            } else {
                writeln!(writer, "{gutter} {line}")?;
            }
        }
        writeln!(writer, "{blank}")?;
        if finding.code.chars().any(is_bidi_control) {
            let label = self.paint(BOLD, "= note:");
            writeln!(
                writer,
                "{:width$} {label} the code holds bidirectional control characters (shown escaped): \
                 it may run differently from how it reads (Trojan Source)",
                ""
            )?;
        }
        for (label, text) in [("why", &finding.explanation), ("fix", &finding.advice)] {
            if text.trim().is_empty() {
                continue;
            }
            let indent = " ".repeat(width + 8);
            let text = clean(text.trim()).replace('\n', &format!("\n{indent}"));
            let label = self.paint(BOLD, &format!("= {label}:"));
            writeln!(writer, "{:width$} {label} {text}", "")?;
        }
        Ok(())
    }

    fn summary(&self, report: &Report) -> String {
        let total = report.findings.len();
        let mut parts = Vec::new();
        let headline = if total == 0 {
            "no findings".to_string()
        } else {
            let counts: Vec<String> = [
                Severity::Critical,
                Severity::High,
                Severity::Medium,
                Severity::Low,
            ]
            .into_iter()
            .filter_map(|level| {
                let n = report
                    .findings
                    .iter()
                    .filter(|f| f.severity == level)
                    .count();
                (n > 0).then(|| self.paint(severity_style(level), &format!("{n} {level}")))
            })
            .collect();
            format!("{}: {}", plural(total, "finding"), counts.join(", "))
        };
        parts.push(self.paint(BOLD, &headline));
        parts.push(format!("{} reviewed", plural(report.files.len(), "file")));
        if !report.skipped.is_empty() {
            let skipped: Vec<String> = report
                .skipped
                .iter()
                .map(|s| format!("{} ({})", clean_line(&s.path), clean_line(&s.reason)))
                .collect();
            parts.push(format!(
                "{} skipped: {}",
                plural(report.skipped.len(), "file"),
                skipped.join(", ")
            ));
        }
        if !report.model.provider.is_empty() && report.model.provider != "none" {
            // Which execution provider really ran: a GPU runner that silently fell back shows here.
            parts.push(format!(
                "model {} {} on {}",
                clean_line(&report.model.name),
                clean_line(&report.model.version),
                clean_line(&report.model.provider)
            ));
        }
        parts.join("; ")
    }
}

fn severity_style(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Show control characters (other than tab and newline) and bidirectional controls escaped, so text
/// from the diff cannot move the cursor, recolour the terminal, reorder what it shows or hide itself.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c.is_control() && c != '\t' && c != '\n') || is_bidi_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// [`clean`] for text that must stay on one line (paths, titles, one code line): a newline in a path
/// must not split a finding in two.
fn clean_line(text: &str) -> String {
    clean(text).replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn emit(report: &Report, color: bool) -> String {
        fixtures::emit_text(&TextEmitter { color }, report)
    }

    #[test]
    fn plain_output_matches_the_expected_layout() {
        let expected = "\
app/db.py:12: CWE-89 SQL injection [critical, 93%]
   |
12 |     cur.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)
   |
   = why: A SQL statement is built from untrusted values.
   = fix: Use parameterised queries.

app/db.py:15-16: CWE-328 Weak hash for security [medium, 61%]
   |
15 |     h = hashlib.md5(pw)
16 |     return h.hexdigest()
   |
   = why: MD5 protects a password.
   = fix: Use scrypt.

2 findings: 1 critical, 1 medium; 1 file reviewed; 1 file skipped: img/logo.py (binary content); model hunkguard-cwe 0.1.0 on CPU
";
        assert_eq!(emit(&fixtures::report(), false), expected);
    }

    #[test]
    fn colours_only_when_asked() {
        let plain = emit(&fixtures::report(), false);
        assert!(!plain.contains('\x1b'));
        let coloured = emit(&fixtures::report(), true);
        assert!(coloured.contains("\x1b[1;31mcritical\x1b[0m"));
        assert!(coloured.contains("\x1b[33mmedium\x1b[0m"));
        assert!(coloured.contains("\x1b[1;34m12 |\x1b[0m"));
    }

    #[test]
    fn empty_report_prints_only_the_summary() {
        let report = Report {
            findings: Vec::new(),
            skipped: Vec::new(),
            ..fixtures::report()
        };
        assert_eq!(
            emit(&report, false),
            "no findings; 1 file reviewed; model hunkguard-cwe 0.1.0 on CPU\n"
        );
    }

    #[test]
    fn findings_come_in_the_reports_order_and_gutters_fit_the_widest_line_number() {
        let mut report = fixtures::report();
        report.findings[1].start_line = 99;
        report.findings[1].end_line = 100;
        let out = emit(&report, false);
        assert!(out.find("CWE-89").unwrap() < out.find("CWE-328").unwrap());
        assert!(out
            .contains("\n 99 |     h = hashlib.md5(pw)\n100 |     return h.hexdigest()\n    |\n"));
        assert!(out.contains("\n    = why: MD5"));
    }

    #[test]
    fn control_characters_from_the_diff_are_escaped() {
        let mut report = fixtures::report();
        report.findings.truncate(1);
        report.findings[0].code = "x = '\x1b[2J'\t# tab kept".into();
        report.findings[0].path = "evil\x07.py".into();
        let out = emit(&report, false);
        assert!(!out.contains('\x1b') && !out.contains('\x07'));
        assert!(out.contains("x = '\\u{1b}[2J'\t# tab kept"));
        assert!(out.starts_with("evil\\u{7}.py:12:"));
    }

    #[test]
    fn a_newline_in_a_path_does_not_split_a_finding() {
        let mut report = fixtures::report();
        report.findings.truncate(1);
        report.findings[0].path = "a\nb.py:1: CWE-0 fake [low, 1%]\nx.py".into();
        let out = emit(&report, false);
        assert!(
            out.starts_with("a\\nb.py:1: CWE-0 fake [low, 1%]\\nx.py:12: CWE-89"),
            "{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.contains("CWE-")).count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn bidi_controls_are_escaped_and_named() {
        let mut report = fixtures::report();
        report.findings.truncate(1);
        report.findings[0].code =
            "if access_level != \"user\u{202e} \u{2066}// admin\u{2069}\u{2066}\":".into();
        let out = emit(&report, false);
        assert!(
            !out.contains('\u{202e}') && !out.contains('\u{2066}'),
            "{out}"
        );
        assert!(out.contains("\\u{202e}"), "{out}");
        assert!(out.contains("bidirectional control characters"), "{out}");
        let plain = emit(&fixtures::report(), false);
        assert!(!plain.contains("bidirectional"), "no note without them");
    }
}
