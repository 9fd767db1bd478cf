//! GitLab SAST report, schema 15.2.1 ([schema](https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/blob/v15.2.1/dist/sast-report-format.json), [documentation](https://docs.gitlab.com/ee/development/integrations/secure.html#report)).
//!
//! Declared in CI as `artifacts: reports: sast: gl-sast-report.json`; GitLab shows it in the merge
//! request's security widget (an Ultimate feature; the Code Quality report reaches every tier).

use std::io::Write;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::report::{now_utc, percent, truncate, Emitter, Report, ReportError};

/// The schema version this emitter follows (the schema requires `MAJOR.MINOR.PATCH`).
pub const SCHEMA_VERSION: &str = "15.2.1";
const SCHEMA_URI: &str = "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v15.2.1/dist/sast-report-format.json";
/// Schema limits on a vulnerability's texts, in characters.
const MAX_NAME: usize = 255;
const MAX_DESCRIPTION: usize = 1_048_576;
const MAX_SOLUTION: usize = 7_000;

/// Writes a GitLab SAST report (schema 15.2.1).
#[derive(Debug, Clone, Copy, Default)]
pub struct GitlabSastEmitter;

impl Emitter for GitlabSastEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        serde_json::to_writer_pretty(&mut *writer, &build(report))?;
        writer.write_all(b"\n")?;
        Ok(())
    }
}

fn build(report: &Report) -> SastReport<'_> {
    let name = non_empty(&report.tool.name, "hunkguard");
    let version = non_empty(&report.tool.version, env!("CARGO_PKG_VERSION"));
    let component = Component {
        id: name,
        name,
        version,
        vendor: Vendor { name },
        url: env!("CARGO_PKG_REPOSITORY"),
    };
    let mut options = Vec::new();
    if !report.model.name.is_empty() {
        let model = format!("{} {}", report.model.name, report.model.version);
        options.push(ScanOption {
            name: "model",
            value: model.trim().to_string(),
            source: "other",
        });
    }
    if !report.model.provider.is_empty() {
        options.push(ScanOption {
            name: "execution_provider",
            value: report.model.provider.clone(),
            source: "other",
        });
    }
    let messages = report
        .skipped
        .iter()
        .map(|s| ScanMessage {
            level: "info",
            value: format!("{} was not reviewed: {}", s.path, s.reason),
        })
        .collect();

    let vulnerabilities = super::with_occurrences(&report.findings)
        .into_iter()
        .map(|(f, n)| vulnerability(f, n))
        .collect();

    SastReport {
        version: SCHEMA_VERSION,
        schema: SCHEMA_URI,
        scan: Scan {
            analyzer: component.clone(),
            scanner: component,
            kind: "sast",
            start_time: utc_seconds(&report.started_at).unwrap_or_else(now),
            end_time: utc_seconds(&report.finished_at).unwrap_or_else(now),
            status: "success",
            messages,
            options,
        },
        vulnerabilities,
    }
}

fn vulnerability(finding: &Finding, occurrence: u32) -> Vulnerability<'_> {
    let confidence = percent(finding.confidence);
    let number = finding
        .cwe
        .strip_prefix("CWE-")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let identifier = match number {
        Some(n) => Identifier {
            kind: "cwe",
            name: finding.cwe.clone(),
            value: n.to_string(),
            url: crate::catalogue::cwe_url(&finding.cwe),
        },
        None => Identifier {
            kind: "hunkguard",
            name: non_empty(&finding.cwe, "unknown").to_string(),
            value: non_empty(&finding.cwe, "unknown").to_string(),
            url: None,
        },
    };
    let start_line = finding.start_line.max(1);
    let end_line = finding.end_line.max(start_line);
    Vulnerability {
        id: vulnerability_id(&finding.fingerprint, occurrence),
        name: truncate(non_empty(&finding.title, &finding.cwe), MAX_NAME),
        description: truncate(
            &format!("{} (model confidence {confidence})", finding.explanation),
            MAX_DESCRIPTION,
        ),
        severity: severity(finding.severity),
        solution: (!finding.advice.is_empty()).then(|| truncate(&finding.advice, MAX_SOLUTION)),
        identifiers: vec![identifier],
        location: Location {
            file: &finding.path,
            start_line,
            end_line,
        },
        tracking: Tracking {
            kind: "source",
            items: vec![TrackingItem {
                file: &finding.path,
                start_line,
                end_line,
                signatures: vec![Signature {
                    algorithm: "hash",
                    value: &finding.fingerprint,
                }],
            }],
        },
        raw_source_code_extract: (!finding.code.is_empty()).then_some(finding.code.as_str()),
    }
}

/// GitLab's severity names.
fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
    }
}

/// A stable, UUID-shaped id (the schema recommends a UUID) from the finding's fingerprint and its
/// occurrence among findings with the same fingerprint, so identical flagged lines stay distinct.
/// Laid out as an RFC 9562 version 8 (custom) UUID over SHA-256.
fn vulnerability_id(fingerprint: &str, occurrence: u32) -> String {
    let digest = super::occurrence_digest("hunkguard-gitlab-sast", fingerprint, occurrence);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An RFC 3339 timestamp (any offset, optional fraction) as UTC `YYYY-MM-DDThh:mm:ss`, the form
/// GitLab's schema demands; `None` when it does not parse.
pub(crate) fn utc_seconds(stamp: &str) -> Option<String> {
    use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

    let stamp = stamp.trim();
    let bytes = stamp.as_bytes();
    let digits = |from: usize, to: usize| -> Option<u32> {
        let part = bytes.get(from..to)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators.iter().any(|(i, c)| bytes.get(*i) != Some(c))
        || !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let date = Date::from_calendar_date(
        i32::try_from(digits(0, 4)?).ok()?,
        Month::try_from(u8::try_from(digits(5, 7)?).ok()?).ok()?,
        u8::try_from(digits(8, 10)?).ok()?,
    )
    .ok()?;
    // A leap second (:60) is read as :59.
    let clock = Time::from_hms(
        u8::try_from(digits(11, 13)?).ok()?,
        u8::try_from(digits(14, 16)?).ok()?,
        u8::try_from(digits(17, 19)?.min(59)).ok()?,
    )
    .ok()?;
    let mut rest = stamp.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let rest = rest.as_bytes();
            if rest.len() != 6 || rest[3] != b':' {
                return None;
            }
            let part = |from: usize| -> Option<i8> {
                let two = rest.get(from..from + 2)?;
                if !two.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                std::str::from_utf8(two).ok()?.parse().ok()
            };
            UtcOffset::from_hms(sign * part(1)?, sign * part(4)?, 0).ok()?
        }
    };
    let utc = PrimitiveDateTime::new(date, clock)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

fn now() -> String {
    utc_seconds(&now_utc()).unwrap_or_else(|| "1970-01-01T00:00:00".into())
}

fn non_empty<'a>(value: &'a str, fallback: &'a str) -> &'a str {
    if value.trim().is_empty() {
        fallback
    } else {
        value
    }
}

// The report's shape, limited to what hunkguard writes.

#[derive(Serialize)]
struct SastReport<'a> {
    version: &'static str,
    schema: &'static str,
    scan: Scan<'a>,
    vulnerabilities: Vec<Vulnerability<'a>>,
}

#[derive(Serialize)]
struct Scan<'a> {
    analyzer: Component<'a>,
    scanner: Component<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    start_time: String,
    end_time: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    messages: Vec<ScanMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<ScanOption>,
}

#[derive(Serialize, Clone)]
struct Component<'a> {
    id: &'a str,
    name: &'a str,
    version: &'a str,
    vendor: Vendor<'a>,
    url: &'static str,
}

#[derive(Serialize, Clone)]
struct Vendor<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ScanMessage {
    level: &'static str,
    value: String,
}

#[derive(Serialize)]
struct ScanOption {
    name: &'static str,
    value: String,
    source: &'static str,
}

#[derive(Serialize)]
struct Vulnerability<'a> {
    id: String,
    name: String,
    description: String,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    solution: Option<String>,
    identifiers: Vec<Identifier>,
    location: Location<'a>,
    tracking: Tracking<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_source_code_extract: Option<&'a str>,
}

#[derive(Serialize)]
struct Identifier {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Serialize)]
struct Location<'a> {
    file: &'a str,
    start_line: u32,
    end_line: u32,
}

#[derive(Serialize)]
struct Tracking<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    items: Vec<TrackingItem<'a>>,
}

#[derive(Serialize)]
struct TrackingItem<'a> {
    file: &'a str,
    start_line: u32,
    end_line: u32,
    signatures: Vec<Signature<'a>>,
}

#[derive(Serialize)]
struct Signature<'a> {
    algorithm: &'static str,
    value: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use serde_json::{json, Value};

    fn emit(report: &Report) -> Value {
        fixtures::emit_json(&GitlabSastEmitter, report)
    }

    use fixtures::empty;

    fn assert_valid(doc: &Value) {
        fixtures::assert_valid("gitlab-sast-report-format-15.2.1.json", doc);
    }

    #[test]
    fn output_validates_against_the_gitlab_schema() {
        assert_valid(&emit(&fixtures::report()));
        assert_valid(&emit(&empty()));
        assert_valid(&emit(&Report::default()));
    }

    #[test]
    #[should_panic(expected = "gitlab-sast-report-format-15.2.1.json violations")]
    fn the_schema_check_rejects_rfc3339_times() {
        let mut doc = emit(&fixtures::report());
        doc["scan"]["start_time"] = Value::from("2026-01-02T03:04:05Z");
        assert_valid(&doc);
    }

    #[test]
    fn scan_section_names_the_tool_and_converts_times() {
        let doc = emit(&fixtures::report());
        assert_eq!(doc["version"], "15.2.1");
        let scan = &doc["scan"];
        assert_eq!(scan["type"], "sast");
        assert_eq!(scan["status"], "success");
        assert_eq!(scan["start_time"], "2026-01-02T03:04:05");
        assert_eq!(scan["end_time"], "2026-01-02T03:04:06");
        for part in ["analyzer", "scanner"] {
            assert_eq!(scan[part]["id"], "hunkguard");
            assert_eq!(scan[part]["name"], "hunkguard");
            assert_eq!(scan[part]["version"], env!("CARGO_PKG_VERSION"));
            assert_eq!(scan[part]["vendor"]["name"], "hunkguard");
        }
        assert_eq!(
            scan["options"][0],
            json!({"name": "model", "value": "hunkguard-cwe 0.1.0", "source": "other"})
        );
        assert_eq!(
            scan["messages"][0]["value"],
            "img/logo.py was not reviewed: binary content"
        );
    }

    #[test]
    fn vulnerabilities_carry_cwe_identifier_severity_location_and_solution() {
        let report = fixtures::report();
        let doc = emit(&report);
        let vulns = doc["vulnerabilities"].as_array().unwrap();
        assert_eq!(vulns.len(), 2);
        let sql = &vulns[0];
        assert_eq!(sql["name"], "SQL injection");
        assert_eq!(sql["severity"], "Critical");
        assert_eq!(
            sql["description"],
            "A SQL statement is built from untrusted values. (model confidence 93%)"
        );
        assert_eq!(sql["solution"], "Use parameterised queries.");
        assert_eq!(
            sql["identifiers"],
            json!([{"type": "cwe", "name": "CWE-89", "value": "89",
                    "url": "https://cwe.mitre.org/data/definitions/89.html"}])
        );
        assert_eq!(
            sql["location"],
            json!({"file": "app/db.py", "start_line": 12, "end_line": 12})
        );
        assert_eq!(
            sql["tracking"]["items"][0]["signatures"][0]["value"],
            report.findings[0].fingerprint.as_str()
        );
        assert_eq!(vulns[1]["severity"], "Medium");
        assert_eq!(vulns[1]["location"]["end_line"], 16);
        assert_eq!(severity(Severity::High), "High");
        assert_eq!(severity(Severity::Low), "Low");
    }

    #[test]
    fn ids_are_uuid_shaped_stable_and_unique() {
        let report = fixtures::with_twin();
        let ids = |r: &Report| -> Vec<String> {
            emit(r)["vulnerabilities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_string())
                .collect()
        };
        let first = ids(&report);
        let mut reversed = report.clone();
        reversed.findings.reverse();
        assert_eq!(first, ids(&reversed), "independent of input order");
        let mut moved = report.clone();
        for f in &mut moved.findings {
            f.start_line += 5;
            f.end_line += 5;
        }
        assert_eq!(first, ids(&moved), "stable when the code moves");
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            3,
            "identical flagged code still gets distinct ids"
        );
        for id in &first {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12]);
            assert_eq!(&id[14..15], "8", "version 8");
        }
    }

    #[test]
    fn timestamps_are_converted_to_utc_seconds() {
        assert_eq!(
            utc_seconds("2026-01-02T03:04:05Z").as_deref(),
            Some("2026-01-02T03:04:05")
        );
        assert_eq!(
            utc_seconds("2026-01-02T03:04:05.123456+02:30").as_deref(),
            Some("2026-01-02T00:34:05")
        );
        assert_eq!(
            utc_seconds("2025-12-31T23:30:00-01:00").as_deref(),
            Some("2026-01-01T00:30:00")
        );
        assert_eq!(utc_seconds(""), None);
        assert_eq!(utc_seconds("2026-13-02T03:04:05Z"), None);
        assert_eq!(
            utc_seconds("2026-01-02T03:04:05"),
            None,
            "an offset is required"
        );
        assert_eq!(utc_seconds("2026-01-02T03:04:05+2:00"), None);
        assert_eq!(utc_seconds("+026-01-02T03:04:05Z"), None);
    }

    #[test]
    fn long_texts_are_cut_to_the_schema_limits() {
        let mut report = fixtures::report();
        report.findings[0].title = "t".repeat(300);
        report.findings[0].advice = "a".repeat(8000);
        let doc = emit(&report);
        let sql = &doc["vulnerabilities"][0];
        assert_eq!(sql["name"].as_str().unwrap().chars().count(), MAX_NAME);
        assert_eq!(
            sql["solution"].as_str().unwrap().chars().count(),
            MAX_SOLUTION
        );
        assert_valid(&doc);
    }
}
