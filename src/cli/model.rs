//! `hunkguard model`: which model runs, with which thresholds and measured quality, on which provider.
//!
//! The text form is a summary a person reads in a terminal; `--json` carries everything, the
//! manifest's full metrics included.

use std::fmt::Write as _;

use serde_json::Value;

use super::{write_stdout, CliError, ModelCommand, EXIT_CLEAN};
use crate::catalogue::Catalogue;
use crate::finding::Severity;
use crate::model::{Manifest, Model};
use crate::report::percent;

/// Run `hunkguard model`.
pub fn run(command: &ModelCommand) -> Result<u8, CliError> {
    let catalogue = Catalogue::embedded();
    let dir = command.model.model_dir();
    let runtime = command.model.runtime();
    let model = Model::load(&dir, &runtime, &catalogue).map_err(CliError::runtime)?;
    let library = crate::model::runtime::init_environment(&runtime).map_err(CliError::runtime)?;
    let manifest = &model.manifest;
    if command.json {
        let value = serde_json::json!({
            "name": manifest.name,
            "version": manifest.version,
            "created": manifest.created,
            "directory": dir,
            "provider": model.provider,
            "onnxruntime": library,
            "load_ms": model.load_time.as_millis(),
            "max_length": manifest.max_length,
            "quantized": manifest.quantized,
            "line_threshold": manifest.line_threshold,
            "line_alone_threshold": manifest.line_alone_threshold,
            "labels": manifest.labels.iter().map(|l| serde_json::json!({
                "id": l,
                "name": catalogue.get(l).map(|e| e.name.clone()),
                "threshold": manifest.threshold(l),
            })).collect::<Vec<_>>(),
            "metrics": manifest.metrics,
            "cascade": model.has_gate().then_some(&manifest.gate),
        });
        let text = serde_json::to_string_pretty(&value).map_err(CliError::runtime)?;
        write_stdout(format!("{text}\n").as_bytes())?;
        return Ok(EXIT_CLEAN);
    }
    let mut out = String::new();
    let _ = writeln!(out, "model      {} {}", manifest.name, manifest.version);
    let _ = writeln!(out, "directory  {}", dir.display());
    let _ = writeln!(
        out,
        "provider   {} (ONNX Runtime {})",
        model.provider,
        library.display()
    );
    let _ = writeln!(out, "loaded in  {} ms", model.load_time.as_millis());
    if let (true, Some(gate)) = (model.has_gate(), &manifest.gate) {
        let _ = writeln!(
            out,
            "cascade    {} clears windows below {:.4} (keeps {} of the model's firing validation windows, clears {})",
            gate.file,
            gate.threshold,
            gate.kept_recall.map_or("?".into(), percent),
            gate.cleared_share.map_or("?".into(), percent),
        );
    }
    let _ = writeln!(
        out,
        "window     {} tokens, quantized: {}",
        manifest.max_length, manifest.quantized
    );
    summarise_quality(&mut out, &manifest.metrics);
    label_table(&mut out, manifest, &catalogue);
    let _ = writeln!(
        out,
        "every metric: hunkguard model --json (or {})",
        dir.join("MODEL_CARD.md").display()
    );
    write_stdout(out.as_bytes())?;
    Ok(EXIT_CLEAN)
}

/// Width the free text of the summary is wrapped to.
const SUMMARY_WIDTH: usize = 100;

/// The headline numbers of the manifest's metrics, where the manifest has them.
fn summarise_quality(out: &mut String, metrics: &Value) {
    if let Some(on) = metrics.get("evaluated_on").and_then(Value::as_str) {
        // the manifest's description is one long sentence; a terminal reads it wrapped
        let options = textwrap::Options::new(SUMMARY_WIDTH)
            .initial_indent("measured   on ")
            .subsequent_indent("              ")
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        for line in textwrap::wrap(on, options) {
            let _ = writeln!(out, "{line}");
        }
    }
    for (who, key) in [("hunkguard", "ours"), ("Bandit", "bandit")] {
        let scores = &metrics[key]["binary_labelled"];
        if let (Some(p), Some(r), Some(f1)) = (
            scores["precision"].as_f64(),
            scores["recall"].as_f64(),
            scores["f1"].as_f64(),
        ) {
            let _ = writeln!(
                out,
                "           {who:<10} precision {}, recall {}, F1 {f1:.2} on labelled real code",
                percent(p as f32),
                percent(r as f32)
            );
        }
    }
}

/// One line per label: id, name, threshold, severity, and the measured precision/recall when known.
fn label_table(out: &mut String, manifest: &Manifest, catalogue: &Catalogue) {
    let alone = manifest
        .line_alone_threshold
        .map(|t| format!("; a line alone fires at {t:.3}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "labels     {} (threshold on seq_probs; line threshold {:.3}{alone})",
        manifest.labels.len(),
        manifest.line_threshold
    );
    let _ = writeln!(
        out,
        "  {:<9} {:<34} {:>9}  {:<8}  {:>9}  {:>6}",
        "CWE", "name", "threshold", "severity", "precision", "recall"
    );
    for label in &manifest.labels {
        let entry = catalogue.get(label);
        let measured = &manifest.metrics["per_label"]["ours"][label];
        let cell = |key: &str| {
            measured[key]
                .as_f64()
                .map(|share| percent(share as f32))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            out,
            "  {:<9} {:<34} {:>9.3}  {:<8}  {:>9}  {:>6}",
            label,
            entry.map(|e| e.name.as_str()).unwrap_or("?"),
            manifest.threshold(label),
            entry
                .map(|e| Severity::from_score(e.severity).as_str())
                .unwrap_or("?"),
            cell("precision"),
            cell("recall"),
        );
    }
}
