//! hunkguard's own JSON report, the versioned interchange format ([docs/json-report.md](https://github.com/hunkguard/hunkguard/blob/main/docs/json-report.md)).
//!
//! It is the [`Report`] itself, pretty-printed: `hunkguard post --findings` reads it back with
//! [`Report::read_json`], so a scan and the posting of its review can run in separate jobs (the fork
//! pull request workflow). `schema_version` is always [`JSON_SCHEMA_VERSION`], the layout written here.

use std::io::Write;

use crate::report::{Emitter, Report, ReportError, JSON_SCHEMA_VERSION};

/// Writes the report as pretty JSON, stamped with the current [`JSON_SCHEMA_VERSION`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonEmitter;

impl Emitter for JsonEmitter {
    fn emit(&self, writer: &mut dyn Write, report: &Report) -> Result<(), ReportError> {
        // The version describes the layout this code writes, whatever the value was in memory
        // (`Report::default()` has 0).
        let stamped;
        let report = if report.schema_version == JSON_SCHEMA_VERSION {
            report
        } else {
            stamped = Report {
                schema_version: JSON_SCHEMA_VERSION,
                ..report.clone()
            };
            &stamped
        };
        serde_json::to_writer_pretty(&mut *writer, report)?;
        writer.write_all(b"\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use serde_json::Value;

    fn emit(report: &Report) -> String {
        fixtures::emit_text(&JsonEmitter, report)
    }

    #[test]
    fn round_trips_through_read_json() {
        let report = fixtures::report();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, emit(&report)).unwrap();
        assert_eq!(Report::read_json(&path).unwrap(), report);
    }

    #[test]
    fn layout_is_pretty_and_field_names_are_stable() {
        let text = emit(&fixtures::report());
        assert!(text.starts_with("{\n  \"schema_version\": 1,\n"));
        assert!(text.ends_with("}\n"));
        let doc: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "schema_version",
            "tool",
            "model",
            "head_sha",
            "base_sha",
            "started_at",
            "finished_at",
            "files",
            "findings",
            "skipped",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let finding = &doc["findings"][0];
        assert_eq!(finding["cwe"], "CWE-89");
        assert_eq!(finding["severity"], "critical");
        assert_eq!(finding["confidence"], 0.93);
        assert_eq!(finding["security_severity"], 9.8);
        assert_eq!(finding["start_line"], 12);
        assert_eq!(doc["files"][0]["hunks"][0]["start"], 10);
        assert!(
            doc["files"][0].get("old_path").is_none(),
            "absent optionals are left out"
        );
        assert_eq!(doc["skipped"][0]["reason"], "binary content");
    }

    #[test]
    fn every_field_is_documented() {
        fn keys(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, inner) in map {
                        out.push(key.clone());
                        keys(inner, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| keys(item, out)),
                _ => {}
            }
        }
        let mut report = fixtures::report();
        report.files[0].old_path = Some("app/old_db.py".into());
        let doc: Value = serde_json::from_str(&emit(&report)).unwrap();
        let mut all = Vec::new();
        keys(&doc, &mut all);
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json-report.md"))
                .unwrap();
        let missing: Vec<&String> = all
            .iter()
            .filter(|key| {
                !docs.contains(&format!("| `{key}` |")) && !docs.contains(&format!(".{key}` |"))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "fields missing from docs/json-report.md: {missing:?}"
        );
    }

    #[test]
    fn empty_and_default_reports_carry_the_current_version() {
        let empty = Report {
            findings: Vec::new(),
            skipped: Vec::new(),
            ..fixtures::report()
        };
        let doc: Value = serde_json::from_str(&emit(&empty)).unwrap();
        assert_eq!(doc["findings"], Value::Array(Vec::new()));
        let doc: Value = serde_json::from_str(&emit(&Report::default())).unwrap();
        assert_eq!(doc["schema_version"], JSON_SCHEMA_VERSION);
        assert!(doc.get("head_sha").is_none());
    }
}
