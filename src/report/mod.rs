//! Stage 5: reports, one emitter per output format.
//!
//! Every emitter reads the same [`Report`] (findings plus the facts of the run) and writes one format.
//! The CLI owns the single mapping from a format name to its emitter ([`Format::emitter`]).
//! Reports are written to disk before any forge call, so a failing API never loses findings.

pub mod codequality;
pub mod github;
pub mod gitlab_sast;
pub mod json;
pub mod sarif;
pub mod text;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diff::{HunkSpan, SkippedFile};
use crate::finding::Finding;
use crate::shard::Shard;

/// Version of the JSON report layout (`docs/json-report.md`); bumped on breaking changes.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Name and version of this program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl Default for ToolInfo {
    fn default() -> Self {
        Self {
            name: "hunkguard".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Which model produced the findings, and where it ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// The ONNX Runtime execution provider that actually ran ("CPU", "CUDA").
    pub provider: String,
    /// Precision the model measured per CWE on real validation code (0-1), where it flagged enough
    /// examples to say; SARIF turns it into each rule's `precision`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rule_precision: BTreeMap<String, f32>,
}

/// A reviewed file: its hunk map, so that findings can be anchored later without the checkout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewedFile {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub hunks: Vec<HunkSpan>,
    /// Number of added or modified lines that were reviewed.
    pub changed_lines: usize,
}

/// Everything a report says about one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub model: ModelInfo,
    /// Head commit of the reviewed range (absent for `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// Merge-base the range starts from (absent for `check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<String>,
    /// Start and end of the run, UTC, RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    pub files: Vec<ReviewedFile>,
    /// In [`Finding`]'s one order, most important first: the scan and [`Report::read_json`] sort
    /// them once, and every emitter writes them as they come.
    pub findings: Vec<Finding>,
    pub skipped: Vec<SkippedFile>,
    /// The CI-matrix shard this run covered (`check --shard K/N`); absent for a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl Report {
    /// Hunk spans of `path`, if the file was reviewed.
    pub fn hunks_of(&self, path: &str) -> Option<&[HunkSpan]> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.hunks.as_slice())
    }

    /// Read a JSON report written by [`json::JsonEmitter`] (for `hunkguard post --findings`).
    pub fn read_json(path: &Path) -> Result<Self, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut report: Report =
            serde_json::from_str(&text).map_err(|source| ReportError::BadJson {
                path: path.display().to_string(),
                source,
            })?;
        if report.schema_version != JSON_SCHEMA_VERSION {
            return Err(ReportError::SchemaVersion {
                path: path.display().to_string(),
                found: report.schema_version,
            });
        }
        report.findings.sort();
        Ok(report)
    }
}

/// `text` cut to at most `max_chars` characters, the last one an ellipsis when it was cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            let mut short: String = text[..cut]
                .chars()
                .take(max_chars.saturating_sub(1))
                .collect();
            short.push('…');
            short
        }
        None => text.to_string(),
    }
}

/// A confidence in [0, 1] as a whole percentage, `93%`: how every emitter shows it.
pub fn percent(confidence: f32) -> String {
    format!("{:.0}%", (confidence.clamp(0.0, 1.0) * 100.0).round())
}

/// Whether `c` is a Unicode bidirectional control (embeddings, overrides, isolates, marks): text that
/// holds one may display in another order than it runs ("Trojan Source", CVE-2021-42574).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Errors writing or reading reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot serialise the report: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("{path} is not a hunkguard JSON report: {source}")]
    BadJson {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has report schema version {found}; this hunkguard reads version {JSON_SCHEMA_VERSION}")]
    SchemaVersion { path: String, found: u32 },
    #[error("write error: {0}")]
    Write(#[from] std::io::Error),
}

/// One output format.
pub trait Emitter {
    /// Write `report` to `writer` in this format.
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError>;
}

/// The output formats, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Human-readable, rustc/ruff style.
    Text,
    /// hunkguard's own JSON (versioned; see docs/json-report.md).
    Json,
    /// SARIF 2.1.0 for GitHub code scanning.
    Sarif,
    /// GitLab SAST report (schema 15.2.1).
    GitlabSast,
    /// GitLab Code Quality report.
    Codequality,
    /// GitHub Actions workflow-command annotations.
    Github,
}

impl Format {
    /// The emitter for this format. `color` applies to text only.
    pub fn emitter(self, color: bool) -> Box<dyn Emitter> {
        match self {
            Format::Text => Box::new(text::TextEmitter { color }),
            Format::Json => Box::new(json::JsonEmitter),
            Format::Sarif => Box::new(sarif::SarifEmitter::default()),
            Format::GitlabSast => Box::new(gitlab_sast::GitlabSastEmitter),
            Format::Codequality => Box::new(codequality::CodeQualityEmitter),
            Format::Github => Box::new(github::GithubAnnotationEmitter),
        }
    }
}

/// Write `report` in `format` to the file `path` (parent directories are created).
pub fn write_file(path: &Path, format: Format, report: &Report) -> Result<(), ReportError> {
    let io_err = |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut buffer = Vec::new();
    format.emitter(false).emit(&mut buffer, report)?;
    std::fs::write(path, buffer).map_err(io_err)
}

/// Each finding with its occurrence (1, 2, ...) among the findings before it that share its
/// fingerprint, in report order: identical flagged lines in one file stay distinct in the GitLab formats.
pub(crate) fn with_occurrences(findings: &[Finding]) -> Vec<(&Finding, u32)> {
    let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    findings
        .iter()
        .map(|f| {
            let n = seen.entry(&f.fingerprint).or_insert(0);
            *n += 1;
            (f, *n)
        })
        .collect()
}

/// SHA-256 over a format's domain tag, a finding fingerprint and its occurrence among findings that
/// share it: the stable, unique ids the GitLab formats need (identical flagged lines stay distinct).
pub(crate) fn occurrence_digest(domain: &str, fingerprint: &str, occurrence: u32) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(domain.as_bytes());
    hasher.update([0]);
    hasher.update(fingerprint.as_bytes());
    hasher.update([0]);
    hasher.update(occurrence.to_be_bytes());
    hasher.finalize().into()
}

/// Current UTC time as RFC 3339 with seconds (what every format here accepts).
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .map(|s| truncate_fraction(&s))
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

fn truncate_fraction(stamp: &str) -> String {
    match stamp.find('.') {
        Some(dot) => format!("{}Z", &stamp[..dot]),
        None => stamp.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A report shared by the emitter tests.
    use super::*;
    use crate::finding::{fingerprint, Severity};

    /// What `emitter` writes for `report`, as text.
    pub fn emit_text(emitter: &dyn Emitter, report: &Report) -> String {
        let mut out = Vec::new();
        emitter.emit(&mut out, report).expect("emitting to memory");
        String::from_utf8(out).expect("emitters write UTF-8")
    }

    /// What `emitter` writes for `report`, parsed as JSON.
    pub fn emit_json(emitter: &dyn Emitter, report: &Report) -> serde_json::Value {
        serde_json::from_str(&emit_text(emitter, report)).expect("emitter wrote JSON")
    }

    /// The fixture report with no findings and no skipped files.
    pub fn empty() -> Report {
        Report {
            findings: Vec::new(),
            skipped: Vec::new(),
            ..report()
        }
    }

    /// The fixture report plus a copy of its first finding on line 40: same fingerprint, other place,
    /// for the formats whose ids must stay unique among identical flagged lines.
    pub fn with_twin() -> Report {
        let mut report = report();
        let mut twin = report.findings[0].clone();
        twin.start_line = 40;
        twin.end_line = 40;
        report.findings.push(twin);
        report
    }

    /// Assert `doc` validates against `../shared/schemas/<schema_file>`.
    pub fn assert_valid(schema_file: &str, doc: &serde_json::Value) {
        let path = format!(
            "{}/../shared/schemas/{schema_file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{schema_file} violations: {errors:#?}");
    }

    pub fn report() -> Report {
        let code = "    cur.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)";
        Report {
            schema_version: JSON_SCHEMA_VERSION,
            tool: ToolInfo::default(),
            model: ModelInfo {
                name: "hunkguard-cwe".into(),
                version: "0.1.0".into(),
                provider: "CPU".into(),
                ..Default::default()
            },
            head_sha: Some("a".repeat(40)),
            base_sha: Some("b".repeat(40)),
            started_at: "2026-01-02T03:04:05Z".into(),
            finished_at: "2026-01-02T03:04:06Z".into(),
            files: vec![ReviewedFile {
                path: "app/db.py".into(),
                old_path: None,
                hunks: vec![HunkSpan { start: 10, end: 20 }],
                changed_lines: 3,
            }],
            findings: vec![
                Finding {
                    path: "app/db.py".into(),
                    start_line: 12,
                    end_line: 12,
                    cwe: "CWE-89".into(),
                    title: "SQL injection".into(),
                    confidence: 0.93,
                    severity: Severity::Critical,
                    security_severity: 9.8,
                    explanation: "A SQL statement is built from untrusted values.".into(),
                    advice: "Use parameterised queries.".into(),
                    code: code.into(),
                    fingerprint: fingerprint("CWE-89", "app/db.py", code),
                },
                Finding {
                    path: "app/db.py".into(),
                    start_line: 15,
                    end_line: 16,
                    cwe: "CWE-328".into(),
                    title: "Weak hash for security".into(),
                    confidence: 0.61,
                    severity: Severity::Medium,
                    security_severity: 5.9,
                    explanation: "MD5 protects a password.".into(),
                    advice: "Use scrypt.".into(),
                    code: "    h = hashlib.md5(pw)\n    return h.hexdigest()".into(),
                    fingerprint: fingerprint("CWE-328", "app/db.py", "h = hashlib.md5(pw)"),
                },
            ],
            skipped: vec![SkippedFile {
                path: "img/logo.py".into(),
                reason: "binary content".into(),
            }],
            shard: None,
        }
    }
}

#[cfg(test)]
mod snapshot_tests {
    //! Every emitter on the one fixture report, held to its snapshot in `src/report/snapshots/`. A
    //! deliberate change of a format is reviewed as a diff of that file (`INSTA_UPDATE=always cargo test`
    //! rewrites them, or `cargo insta review`); CI fails on any other change.
    use super::{fixtures, Format};

    #[test]
    fn every_format_writes_the_fixture_report_as_its_snapshot_says() {
        for (name, format) in [
            ("text", Format::Text),
            ("json", Format::Json),
            ("sarif", Format::Sarif),
            ("gitlab_sast", Format::GitlabSast),
            ("codequality", Format::Codequality),
            ("github_annotations", Format::Github),
        ] {
            let written = fixtures::emit_text(&*format.emitter(false), &fixtures::with_twin());
            insta::assert_snapshot!(name, written);
        }
    }
}
