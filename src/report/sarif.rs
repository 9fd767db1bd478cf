//! SARIF 2.1.0 for GitHub code scanning ([OASIS specification](https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html), [GitHub's requirements](https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning)).
//!
//! One run, one driver, the rules that the findings use (sorted by CWE number, de-duplicated) with the
//! catalogue's texts, and one result per finding. GitHub tracks an alert across uploads by
//! `partialFingerprints.primaryLocationLineHash`; the upload-sarif action fills it in from the checkout,
//! but the REST endpoint does not, so this emitter computes it itself ([`line_hashes`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;

use crate::catalogue::{Catalogue, CweEntry};
use crate::finding::{Finding, Severity};
use crate::report::gitlab_sast::utc_seconds;
use crate::report::{percent, truncate, Emitter, Report, ReportError};

/// `$schema` of the log: the OASIS errata 01 schema that GitHub validates against.
const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// Where results are rooted: the repository checkout.
const SRCROOT: &str = "%SRCROOT%";
/// GitHub rejects a run with more results than this.
pub const MAX_RESULTS: usize = 25_000;
/// GitHub reads at most this many characters of a rule's `shortDescription`.
const MAX_SHORT_DESCRIPTION: usize = 1024;
/// Key of hunkguard's own fingerprint in `fingerprints` (rule + path + normalised code).
pub const FINGERPRINT_KEY: &str = "hunkguard/v1";
/// Default `automationDetails.id`: the category GitHub uses to replace an earlier upload.
pub const DEFAULT_CATEGORY: &str = "hunkguard/";

/// Writes a SARIF 2.1.0 log for GitHub code scanning.
#[derive(Debug, Clone)]
pub struct SarifEmitter {
    category: String,
}

impl Default for SarifEmitter {
    fn default() -> Self {
        Self {
            category: DEFAULT_CATEGORY.into(),
        }
    }
}

impl SarifEmitter {
    /// Set the code-scanning category (`automationDetails.id`). A trailing `/` is added when missing,
    /// because GitHub reads everything before the last `/` as the category and the rest as a run id.
    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        let mut category = category.into();
        if !category.ends_with('/') {
            category.push('/');
        }
        self.category = category;
        self
    }
}

/// The `precision` property of a rule from the model's measured precision (`report.model.rule_precision`):
/// very-high >= 0.9 > high >= 0.75 > medium >= 0.5 > low; `medium` where nothing was measured.
fn precision_of(measured: &BTreeMap<String, f32>, cwe: &str) -> &'static str {
    match measured.get(cwe) {
        Some(p) if *p >= 0.9 => "very-high",
        Some(p) if *p >= 0.75 => "high",
        Some(p) if *p >= 0.5 => "medium",
        Some(p) if *p >= 0.0 => "low",
        _ => "medium",
    }
}

impl Emitter for SarifEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        let log = self.build(report);
        serde_json::to_writer_pretty(&mut *writer, &log)?;
        writer.write_all(b"\n")?;
        Ok(())
    }
}

impl SarifEmitter {
    fn build<'a>(&'a self, report: &'a Report) -> Log<'a> {
        let catalogue = Catalogue::embedded();
        let (findings, left_out) = kept_findings(report);

        // Rules: only those used, one per CWE, ordered by CWE number.
        let mut by_cwe: BTreeMap<(u32, &str), &Finding> = BTreeMap::new();
        for finding in &findings {
            by_cwe
                .entry((cwe_number(&finding.cwe).unwrap_or(u32::MAX), &finding.cwe))
                .or_insert(finding);
        }
        let rules: Vec<Rule> = by_cwe
            .values()
            .map(|f| self.rule(f, catalogue.get(&f.cwe), &report.model.rule_precision))
            .collect();
        let rule_index: HashMap<&str, usize> = by_cwe
            .keys()
            .enumerate()
            .map(|(i, (_, cwe))| (*cwe, i))
            .collect();

        let mut occurrences: HashMap<(&str, String), u32> = HashMap::new();
        let results = findings
            .iter()
            .map(|f| {
                let hash = primary_line_hash(&f.code);
                let n = occurrences.entry((&f.path, hash.clone())).or_insert(0);
                *n += 1;
                result(
                    f,
                    rule_index.get(f.cwe.as_str()).copied(),
                    format!("{hash}:{n}"),
                )
            })
            .collect();

        let mut notifications: Vec<Notification> = report
            .skipped
            .iter()
            .map(|s| Notification {
                level: "note",
                message: Message {
                    text: format!("{} was not reviewed: {}", s.path, s.reason),
                },
                locations: vec![Location {
                    physical_location: PhysicalLocation {
                        artifact_location: artifact(&s.path),
                        region: None,
                    },
                }],
            })
            .collect();
        if left_out > 0 {
            notifications.push(Notification {
                level: "warning",
                message: Message {
                    text: format!(
                        "{left_out} lower-severity findings were left out: GitHub accepts at most {MAX_RESULTS} results per run"
                    ),
                },
                locations: Vec::new(),
            });
        }

        let name = non_empty(&report.tool.name, "hunkguard");
        let version = non_empty(&report.tool.version, env!("CARGO_PKG_VERSION"));
        Log {
            schema: SCHEMA_URI,
            version: "2.1.0",
            runs: vec![Run {
                tool: Tool {
                    driver: Driver {
                        name,
                        version,
                        semantic_version: version,
                        information_uri: env!("CARGO_PKG_REPOSITORY"),
                        rules,
                    },
                },
                automation_details: AutomationDetails {
                    id: match report.shard {
                        // Each CI-matrix shard is its own category, so its upload does not replace the others'.
                        Some(shard) => format!("{}{}/", self.category, shard.run_id()),
                        None => self.category.clone(),
                    },
                },
                invocations: vec![Invocation {
                    execution_successful: true,
                    start_time_utc: utc(&report.started_at),
                    end_time_utc: utc(&report.finished_at),
                    tool_execution_notifications: notifications,
                }],
                original_uri_base_ids: BTreeMap::from([(
                    SRCROOT,
                    BaseUri {
                        description: Message {
                            text: "The root of the repository checkout.".into(),
                        },
                    },
                )]),
                results,
            }],
        }
    }

    fn rule(
        &self,
        finding: &Finding,
        entry: Option<&CweEntry>,
        measured_precision: &BTreeMap<String, f32>,
    ) -> Rule {
        let title = entry.map_or(finding.title.as_str(), |e| e.name.as_str());
        let description = entry.map_or(finding.explanation.as_str(), |e| e.description.as_str());
        let advice = entry.map_or(finding.advice.as_str(), |e| e.advice.as_str());
        let score = entry
            .map_or(finding.security_severity, |e| e.severity)
            .clamp(0.1, 10.0);
        let number = cwe_number(&finding.cwe);
        let url = crate::catalogue::cwe_url(&finding.cwe);
        let mut tags = vec!["security".to_string()];
        if let Some(n) = number {
            tags.push(format!("external/cwe/cwe-{n}"));
        }
        let see_text = url
            .as_deref()
            .map(|u| format!("\n\nSee {}: {u}", finding.cwe))
            .unwrap_or_default();
        let see_markdown = url
            .as_deref()
            .map(|u| format!("\n\nSee [{}: {title}]({u}).", finding.cwe))
            .unwrap_or_default();
        let severity = Severity::from_score(score);
        Rule {
            id: finding.cwe.clone(),
            name: pascal_case(title),
            short_description: Text {
                text: truncate(title, MAX_SHORT_DESCRIPTION),
            },
            full_description: Text {
                text: description.to_string(),
            },
            help: Help {
                text: format!("{description}\n\nHow to fix: {advice}{see_text}"),
                markdown: format!("{description}\n\n**How to fix:** {advice}{see_markdown}"),
            },
            help_uri: url,
            default_configuration: Configuration {
                level: level(severity),
            },
            properties: RuleProperties {
                tags,
                precision: precision_of(measured_precision, &finding.cwe),
                security_severity: format!("{score:.1}"),
                problem_severity: problem_severity(severity),
            },
        }
    }
}

/// The findings to report, most important first, and how many were left out for GitHub's limit
/// (the report's order puts the lowest severities and confidences last).
fn kept_findings(report: &Report) -> (Vec<&Finding>, usize) {
    let mut findings: Vec<&Finding> = report.findings.iter().collect();
    let left_out = findings.len().saturating_sub(MAX_RESULTS);
    findings.truncate(MAX_RESULTS);
    (findings, left_out)
}

fn result<'a>(
    finding: &'a Finding,
    rule_index: Option<usize>,
    line_hash: String,
) -> SarifResult<'a> {
    let confidence = percent(finding.confidence);
    SarifResult {
        rule_id: &finding.cwe,
        rule_index,
        level: level(finding.severity),
        message: Message {
            text: format!(
                "{}: {} (confidence {confidence})",
                finding.title, finding.explanation
            ),
        },
        locations: vec![Location {
            physical_location: PhysicalLocation {
                artifact_location: artifact(&finding.path),
                region: Some(Region {
                    start_line: finding.start_line.max(1),
                    end_line: finding.end_line.max(finding.start_line).max(1),
                    snippet: (!finding.code.is_empty()).then(|| Snippet {
                        text: &finding.code,
                    }),
                }),
            },
        }],
        partial_fingerprints: BTreeMap::from([("primaryLocationLineHash", line_hash)]),
        fingerprints: BTreeMap::from([(FINGERPRINT_KEY, finding.fingerprint.as_str())]),
        // SARIF's rank is 0-100, the same whole percentage the message shows.
        rank: f64::from((finding.confidence.clamp(0.0, 1.0) * 100.0).round()),
    }
}

/// `error` for high and critical, `warning` for medium, `note` for low.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// CodeQL's `problem.severity` vocabulary.
fn problem_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "recommendation",
    }
}

fn artifact(path: &str) -> ArtifactLocation {
    ArtifactLocation {
        uri: relative_uri(path),
        uri_base_id: SRCROOT,
    }
}

/// A repository-relative path as a relative URI reference: forward slashes, no leading `./` or `/`,
/// and every byte outside the URI path alphabet percent-encoded (`:` too, so that `c:x.py` is not
/// read as a scheme).
fn relative_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let path = path.trim_start_matches('/');
    let mut uri = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => uri.push(byte as char),
            b'-' | b'.' | b'_' | b'~' | b'/' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*'
            | b'+' | b',' | b';' | b'=' | b'@' => uri.push(byte as char),
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

/// A report timestamp as SARIF's UTC date-time, or nothing when it does not parse.
fn utc(stamp: &str) -> Option<String> {
    utc_seconds(stamp).map(|t| format!("{t}Z"))
}

fn cwe_number(cwe: &str) -> Option<u32> {
    cwe.strip_prefix("CWE-")?.parse().ok()
}

fn non_empty<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.trim().is_empty() {
        fallback
    } else {
        value
    }
}

/// A rule `name` (an identifier, not a sentence): "SQL injection" -> "SQLInjection".
fn pascal_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// The hex part of `primaryLocationLineHash` for a finding.
///
/// GitHub's scheme hashes the first 100 non-blank characters from the start of the line *in the file*,
/// which can run into the following lines. Emitters see no checkout, so the hash is computed from the
/// flagged line's text as stored in the finding (the first line of [`Finding::code`]), hashed as if
/// it were a file of its own. The value is therefore stable across runs and rebases, which is what
/// alert tracking needs, but it differs from what upload-sarif would compute from the file; that
/// action keeps a value that is already present.
pub fn primary_line_hash(code: &str) -> String {
    let line = code.split(['\n', '\r']).next().unwrap_or_default();
    let first = line_hashes(line).into_iter().next().unwrap_or_default();
    match first.split_once(':') {
        Some((hex, _)) => hex.to_string(),
        None => first,
    }
}

/// CodeQL's rolling line hashes of a whole file, one `"<hex>:<occurrence>"` per line.
///
/// Each line's hash covers the first 100 characters from the line start, skipping spaces and tabs,
/// with `\r\n`, `\r` and `\n` all read as `\n`, an end-of-file marker and zero padding after the last
/// line; characters are UTF-16 code units and arithmetic wraps at 64 bits, as in the reference
/// implementation (`fingerprints.ts` of github/codeql-action). The occurrence counts earlier lines of
/// the same file with the same hash.
pub fn line_hashes(text: &str) -> Vec<String> {
    let mut hasher = LineHasher::new();
    for unit in text.encode_utf16() {
        hasher.feed(i64::from(unit));
    }
    hasher.feed(END_OF_FILE);
    for _ in 0..WINDOW {
        hasher.emit_if_line_starts_here();
        hasher.roll(0);
    }
    hasher.hashes
}

/// Characters per line hash.
const WINDOW: usize = 100;
/// Multiplier of the polynomial hash.
const MULTIPLIER: i64 = 37;
/// The character the reference implementation appends at the end of the input.
const END_OF_FILE: i64 = 65535;

struct LineHasher {
    /// `MULTIPLIER ^ WINDOW`, to drop the character leaving the window.
    drop_factor: i64,
    window: [i64; WINDOW],
    /// The 1-based line that starts at each window slot, 0 where none does.
    line_starts: [u32; WINDOW],
    hash: i64,
    index: usize,
    line: u32,
    at_line_start: bool,
    after_cr: bool,
    seen: HashMap<u64, u32>,
    hashes: Vec<String>,
}

impl LineHasher {
    fn new() -> Self {
        Self {
            drop_factor: (0..WINDOW).fold(1i64, |f, _| f.wrapping_mul(MULTIPLIER)),
            window: [0; WINDOW],
            line_starts: [0; WINDOW],
            hash: 0,
            index: 0,
            line: 0,
            at_line_start: true,
            after_cr: false,
            seen: HashMap::new(),
            hashes: Vec::new(),
        }
    }

    fn feed(&mut self, unit: i64) {
        const TAB: i64 = b'\t' as i64;
        const SPACE: i64 = b' ' as i64;
        const LF: i64 = b'\n' as i64;
        const CR: i64 = b'\r' as i64;
        if unit == SPACE || unit == TAB || (self.after_cr && unit == LF) {
            self.after_cr = false;
            return;
        }
        self.after_cr = unit == CR;
        let unit = if unit == CR { LF } else { unit };
        self.emit_if_line_starts_here();
        if self.at_line_start {
            self.at_line_start = false;
            self.line += 1;
            self.line_starts[self.index] = self.line;
        }
        if unit == LF {
            self.at_line_start = true;
        }
        self.roll(unit);
    }

    /// A full window has passed since a line started in this slot: its hash is complete.
    fn emit_if_line_starts_here(&mut self) {
        if self.line_starts[self.index] != 0 {
            let value = self.hash as u64;
            let count = self.seen.entry(value).or_insert(0);
            *count += 1;
            self.hashes.push(format!("{value:x}:{count}"));
            self.line_starts[self.index] = 0;
        }
    }

    fn roll(&mut self, unit: i64) {
        let leaving = std::mem::replace(&mut self.window[self.index], unit);
        self.hash = MULTIPLIER
            .wrapping_mul(self.hash)
            .wrapping_add(unit)
            .wrapping_sub(self.drop_factor.wrapping_mul(leaving));
        self.index = (self.index + 1) % WINDOW;
    }
}

// The SARIF shape, limited to what hunkguard writes.

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool<'a>,
    automation_details: AutomationDetails,
    invocations: Vec<Invocation<'a>>,
    original_uri_base_ids: BTreeMap<&'static str, BaseUri>,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'a str,
    version: &'a str,
    semantic_version: &'a str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    name: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<String>,
    precision: &'static str,
    #[serde(rename = "security-severity")]
    security_severity: String,
    #[serde(rename = "problem.severity")]
    problem_severity: &'static str,
}

#[derive(Serialize)]
struct AutomationDetails {
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification<'a>>,
}

#[derive(Serialize)]
struct Notification<'a> {
    level: &'static str,
    message: Message,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location<'a>>,
}

#[derive(Serialize)]
struct BaseUri {
    description: Message,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Message,
    locations: Vec<Location<'a>>,
    partial_fingerprints: BTreeMap<&'static str, String>,
    fingerprints: BTreeMap<&'static str, &'a str>,
    rank: f64,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    physical_location: PhysicalLocation<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation<'a> {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region<'a> {
    start_line: u32,
    end_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<Snippet<'a>>,
}

#[derive(Serialize)]
struct Snippet<'a> {
    text: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use serde_json::Value;

    fn emit(emitter: &SarifEmitter, report: &Report) -> Value {
        fixtures::emit_json(emitter, report)
    }

    use fixtures::empty;

    fn assert_valid(log: &Value) {
        fixtures::assert_valid("sarif-schema-2.1.0.json", log);
    }

    #[test]
    fn output_validates_against_the_sarif_schema() {
        assert_valid(&emit(&SarifEmitter::default(), &fixtures::report()));
        assert_valid(&emit(&SarifEmitter::default(), &empty()));
        assert_valid(&emit(&SarifEmitter::default(), &Report::default()));
    }

    #[test]
    #[should_panic(expected = "sarif-schema-2.1.0.json violations")]
    fn the_schema_check_rejects_a_broken_log() {
        let mut log = emit(&SarifEmitter::default(), &fixtures::report());
        log["runs"][0]["results"][0]["level"] = Value::from("fatal");
        assert_valid(&log);
    }

    #[test]
    fn log_header_driver_and_run_details() {
        let log = emit(&SarifEmitter::default(), &fixtures::report());
        assert_eq!(log["$schema"], SCHEMA_URI);
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        let run = &log["runs"][0];
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "hunkguard");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(driver["semanticVersion"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            driver["informationUri"],
            "https://github.com/hunkguard/hunkguard"
        );
        assert_eq!(run["automationDetails"]["id"], "hunkguard/");
        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], true);
        assert_eq!(invocation["startTimeUtc"], "2026-01-02T03:04:05Z");
        assert_eq!(invocation["endTimeUtc"], "2026-01-02T03:04:06Z");
        let note = &invocation["toolExecutionNotifications"][0];
        assert_eq!(
            note["message"]["text"],
            "img/logo.py was not reviewed: binary content"
        );
        assert!(run["originalUriBaseIds"]["%SRCROOT%"].is_object());

        let custom = SarifEmitter::default().with_category("python-security");
        let log = emit(&custom, &empty());
        assert_eq!(
            log["runs"][0]["automationDetails"]["id"],
            "python-security/"
        );
        assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"],
            Value::Array(Vec::new())
        );
    }

    #[test]
    fn rules_are_the_used_cwes_sorted_and_deduplicated_with_catalogue_texts() {
        let mut report = fixtures::report();
        let mut again = report.findings[0].clone();
        again.start_line = 18;
        again.end_line = 18;
        report.findings.push(again);
        let log = emit(&SarifEmitter::default(), &report);
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            ["CWE-89", "CWE-328"],
            "numeric order, one rule per CWE"
        );

        let sql = &rules[0];
        assert_eq!(sql["name"], "SQLInjection");
        assert_eq!(sql["shortDescription"]["text"], "SQL injection");
        let catalogue = Catalogue::embedded();
        let entry = catalogue.get("CWE-89").unwrap();
        assert_eq!(sql["fullDescription"]["text"], entry.description.as_str());
        assert!(sql["help"]["text"]
            .as_str()
            .unwrap()
            .contains(&entry.advice));
        assert!(sql["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("[CWE-89: SQL injection](https://cwe.mitre.org/data/definitions/89.html)"));
        assert_eq!(
            sql["helpUri"],
            "https://cwe.mitre.org/data/definitions/89.html"
        );
        let props = &sql["properties"];
        assert_eq!(
            props["tags"],
            serde_json::json!(["security", "external/cwe/cwe-89"])
        );
        assert_eq!(props["precision"], "medium");
        assert_eq!(props["security-severity"], format!("{:.1}", entry.severity));
        assert_eq!(props["problem.severity"], "error");
        assert_eq!(sql["defaultConfiguration"]["level"], "error");
        assert!(rules[1]["properties"]["tags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("external/cwe/cwe-328")));

        let results = log["runs"][0]["results"].as_array().unwrap();
        let indices: Vec<u64> = results
            .iter()
            .map(|r| r["ruleIndex"].as_u64().unwrap())
            .collect();
        assert_eq!(
            indices,
            [0, 1, 0],
            "ruleIndex points at the rule of the result"
        );
    }

    #[test]
    fn unknown_cwe_falls_back_to_the_finding_texts() {
        let mut report = fixtures::report();
        report.findings[0].cwe = "CWE-99999".into();
        report.findings[0].title = "Made-up weakness".into();
        let log = emit(&SarifEmitter::default(), &report);
        let rule = &log["runs"][0]["tool"]["driver"]["rules"][1];
        assert_eq!(rule["id"], "CWE-99999");
        assert_eq!(rule["shortDescription"]["text"], "Made-up weakness");
        assert_eq!(rule["properties"]["security-severity"], "9.8");
        assert_valid(&log);
    }

    #[test]
    fn rule_precision_comes_from_the_model_measurements_in_the_report() {
        let mut report = fixtures::report();
        report.model.rule_precision =
            BTreeMap::from([("CWE-89".to_string(), 0.93), ("CWE-328".to_string(), 0.41)]);
        let log = emit(&SarifEmitter::default(), &report);
        let rules = &log["runs"][0]["tool"]["driver"]["rules"];
        assert_eq!(rules[0]["properties"]["precision"], "very-high");
        assert_eq!(rules[1]["properties"]["precision"], "low");
        assert_valid(&log);
        let measured = BTreeMap::from([("CWE-89".to_string(), 0.8)]);
        assert_eq!(precision_of(&measured, "CWE-89"), "high");
        assert_eq!(precision_of(&measured, "CWE-22"), "medium", "not measured");
    }

    #[test]
    fn results_carry_level_message_location_and_fingerprints() {
        let report = fixtures::report();
        let log = emit(&SarifEmitter::default(), &report);
        let results = log["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);

        let sql = &results[0];
        assert_eq!(sql["ruleId"], "CWE-89");
        assert_eq!(sql["level"], "error");
        assert_eq!(
            sql["message"]["text"],
            "SQL injection: A SQL statement is built from untrusted values. (confidence 93%)"
        );
        let location = &sql["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "app/db.py");
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(location["region"]["startLine"], 12);
        assert_eq!(location["region"]["endLine"], 12);
        assert_eq!(
            location["region"]["snippet"]["text"],
            report.findings[0].code.as_str()
        );
        let expected_hash = format!("{}:1", primary_line_hash(&report.findings[0].code));
        assert_eq!(
            sql["partialFingerprints"]["primaryLocationLineHash"],
            expected_hash.as_str()
        );
        assert_eq!(
            sql["fingerprints"][FINGERPRINT_KEY],
            report.findings[0].fingerprint.as_str()
        );

        let md5 = &results[1];
        assert_eq!(md5["level"], "warning");
        assert_eq!(
            md5["locations"][0]["physicalLocation"]["region"]["endLine"],
            16
        );
        // Only the first flagged line is hashed.
        assert_eq!(
            md5["partialFingerprints"]["primaryLocationLineHash"],
            format!("{}:1", primary_line_hash("    h = hashlib.md5(pw)")).as_str()
        );

        let mut low = report.clone();
        low.findings[1].severity = Severity::Low;
        low.findings[0].severity = Severity::High;
        let log = emit(&SarifEmitter::default(), &low);
        assert_eq!(log["runs"][0]["results"][0]["level"], "error");
        assert_eq!(log["runs"][0]["results"][1]["level"], "note");
    }

    #[test]
    fn output_is_deterministic_and_in_the_reports_order() {
        let report = fixtures::report();
        let mut a = Vec::new();
        let mut b = Vec::new();
        SarifEmitter::default().emit(&mut a, &report).unwrap();
        SarifEmitter::default().emit(&mut b, &report).unwrap();
        assert_eq!(a, b);
        // the report is sorted once upstream; the emitter does not re-sort it
        let mut reversed = report.clone();
        reversed.findings.reverse();
        let log = emit(&SarifEmitter::default(), &reversed);
        let rules: Vec<&str> = log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ruleId"].as_str().unwrap())
            .collect();
        assert_eq!(rules, ["CWE-328", "CWE-89"]);
    }

    #[test]
    fn identical_lines_in_one_file_get_increasing_occurrences() {
        let mut report = fixtures::report();
        let mut twin = report.findings[0].clone();
        twin.start_line = 30;
        twin.end_line = 30;
        twin.code = "\tcur.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)".into();
        report.findings.push(twin);
        let mut elsewhere = report.findings[0].clone();
        elsewhere.path = "app/other.py".into();
        report.findings.push(elsewhere);
        let log = emit(&SarifEmitter::default(), &report);
        let hashes: Vec<&str> = log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["partialFingerprints"]["primaryLocationLineHash"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        let hex = primary_line_hash(&report.findings[0].code);
        assert_eq!(hashes[0], format!("{hex}:1"));
        assert_eq!(hashes[2], format!("{hex}:2"), "indentation is not hashed");
        assert_eq!(hashes[3], format!("{hex}:1"), "occurrences count per file");
    }

    /// Expected values from github/codeql-action's own tests of `fingerprints.ts`.
    #[test]
    fn line_hashes_match_codeql_published_values() {
        assert_eq!(line_hashes(""), ["c129715d7a2bc9a3:1"]);
        assert_eq!(
            line_hashes(" a\nb\n  \t\tc\n d"),
            [
                "271789c17abda88f:1",
                "54703d4cd895b18:1",
                "180aee12dab6264:1",
                "a23a3dc5e078b07b:1"
            ]
        );
        assert_eq!(
            line_hashes(" hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End"),
            [
                "8b7cf3e952e7aeb2:1",
                "b1ae1287ec4718d9:1",
                "bff680108adb0fcc:1",
                "c6805c5e1288b612:1",
                "b86d3392aea1be30:1",
                "e6ceba753e1a442:1",
            ]
        );
        let normalised = [
            "e9496ae3ebfced30:1",
            "fb7c023a8b9ccb3f:1",
            "ce8ba1a563dcdaca:1",
            "e20e36e16fcb0cc8:1",
            "b3edc88f2938467e:1",
            "c8e28b0b4002a3a0:1",
            "c129715d7a2bc9a3:1",
        ];
        for text in [
            " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
            " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
            " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
            " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
        ] {
            assert_eq!(line_hashes(text), normalised, "{text:?}");
        }
        assert_eq!(
            line_hashes(&"Lorem ipsum dolor sit amet.\n".repeat(10)),
            [
                "a7f2ff13bc495cf2:1",
                "a7f2ff13bc495cf2:2",
                "a7f2ff13bc495cf2:3",
                "a7f2ff13bc495cf2:4",
                "a7f2ff13bc495cf2:5",
                "a7f2ff13bc495cf2:6",
                "a7f2ff1481e87703:1",
                "a9cf91f7bbf1862b:1",
                "55ec222b86bcae53:1",
                "cc97dc7b1d7d8f7b:1",
                "c129715d7a2bc9a3:1"
            ]
        );
    }

    #[test]
    fn primary_line_hash_uses_the_first_line_as_its_own_file() {
        let line = "    cur.execute(q % x)";
        let hex = primary_line_hash(line);
        assert_eq!(format!("{hex}:1"), line_hashes(line)[0]);
        assert_eq!(hex, primary_line_hash(&format!("{line}\r\n    more()")));
        assert_eq!(hex, primary_line_hash("cur.execute(q%x)"));
        assert_ne!(hex, primary_line_hash("cur.execute(q, x)"));
    }

    #[test]
    fn uris_are_relative_forward_slashed_and_encoded() {
        assert_eq!(relative_uri("app/db.py"), "app/db.py");
        assert_eq!(relative_uri("./app\\db.py"), "app/db.py");
        assert_eq!(relative_uri("/app/db.py"), "app/db.py");
        assert_eq!(
            relative_uri("my app/naïve%.py"),
            "my%20app/na%C3%AFve%25.py"
        );
        assert_eq!(relative_uri("c:x.py"), "c%3Ax.py");
    }

    #[test]
    fn results_are_capped_at_githubs_limit_keeping_the_most_severe() {
        let mut report = fixtures::report();
        let template = report.findings[1].clone();
        report.findings = (0..MAX_RESULTS as u32 + 1)
            .map(|i| Finding {
                start_line: i + 1,
                end_line: i + 1,
                ..template.clone()
            })
            .collect();
        report.findings[7].severity = Severity::Critical;
        report.findings[9].severity = Severity::Low;
        // in the report's order, as the scan leaves it: the critical one (line 8) first, the low one
        // (line 10) last
        report.findings.sort();
        let log = emit(&SarifEmitter::default(), &report);
        let run = &log["runs"][0];
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), MAX_RESULTS);
        assert_eq!(results[0]["level"], "error");
        assert!(
            results.iter().all(|r| r["level"] != "note"),
            "the low one is cut"
        );
        assert_eq!(
            results[9]["locations"][0]["physicalLocation"]["region"]["startLine"],
            11
        );
        let notes = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .unwrap();
        assert!(notes.iter().any(|n| n["level"] == "warning"));
    }

    #[test]
    fn helpers_shape_names_and_texts() {
        assert_eq!(pascal_case("OS command injection"), "OSCommandInjection");
        assert_eq!(pascal_case("Weak hash for security"), "WeakHashForSecurity");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(
            truncate(&"é".repeat(2000), MAX_SHORT_DESCRIPTION)
                .chars()
                .count(),
            1024
        );
    }
}
