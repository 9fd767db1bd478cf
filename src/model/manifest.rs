//! The model manifest (`models/manifest.json`): what the exported model outputs and how to read it.
//!
//! Written by `training/` at export time. The runtime trusts nothing it does not check here: labels
//! must be known to the catalogue and every label must have a threshold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::catalogue::Catalogue;

/// Fewest validation flags (true + false positives) behind a published per-label precision.
pub const MIN_FLAGS_FOR_PRECISION: u64 = 5;

/// The manifest as exported.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// Model name, e.g. `hunkguard-cwe`.
    pub name: String,
    /// Model version, shown in reports.
    pub version: String,
    /// When it was exported.
    #[serde(default)]
    pub created: Option<String>,
    /// CWE ids in output order.
    pub labels: Vec<String>,
    /// Calibrated per-label thresholds on `seq_probs`.
    pub thresholds: BTreeMap<String, f32>,
    /// Threshold on `token_probs` that marks a line as holding the weakness.
    pub line_threshold: f32,
    /// Token score at which a line fires its label on its own, whatever its window's score (absent:
    /// only the window fires a label). A sink the token head is sure of is often in a window whose
    /// other lines dilute the window's score (`Markup(message)` in a long helper).
    #[serde(default)]
    pub line_alone_threshold: Option<f32>,
    /// Tokens per window, [CLS] and [SEP] included.
    pub max_length: usize,
    /// Tokens shared by consecutive windows of a long snippet.
    pub stride: usize,
    pub pad_id: i64,
    pub cls_id: i64,
    pub sep_id: i64,
    /// Whether the weights are int8-quantized.
    #[serde(default)]
    pub quantized: bool,
    /// Hash of the training data, for provenance.
    #[serde(default)]
    pub training_data_sha256: Option<String>,
    /// Validation metrics, shown by `hunkguard model`.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// The cascade's first stage, when the model ships one (absent: every window pays the full model).
    #[serde(default)]
    pub gate: Option<GateEntry>,
}

/// The manifest's `gate` entry, written by `training/hunkguard_train/cascade.py`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct GateEntry {
    /// File name of the gate model, in the model folder.
    pub file: String,
    /// Windows whose gate probability is below this are cleared without the full model.
    pub threshold: f32,
    /// Share of the full model's firing validation windows the gate keeps at `threshold`.
    #[serde(default)]
    pub kept_recall: Option<f32>,
    /// Share of validation windows the gate clears at `threshold`.
    #[serde(default)]
    pub cleared_share: Option<f32>,
    /// Window overlap the validation windows were cut with (the runtime's default when trained).
    #[serde(default)]
    pub overlap: Option<usize>,
}

impl Manifest {
    /// Precision measured per label on real validation code (`metrics.per_label.ours`), for the labels
    /// flagged at least [`MIN_FLAGS_FOR_PRECISION`] times there; fewer flags say too little to publish.
    pub fn measured_precision(&self) -> BTreeMap<String, f32> {
        let Some(per_label) = self
            .metrics
            .pointer("/per_label/ours")
            .and_then(|v| v.as_object())
        else {
            return BTreeMap::new();
        };
        per_label
            .iter()
            .filter_map(|(label, m)| {
                let flags = m.get("tp")?.as_u64()? + m.get("fp")?.as_u64()?;
                let precision = m.get("precision")?.as_f64()?;
                (flags >= MIN_FLAGS_FOR_PRECISION).then(|| (label.clone(), precision as f32))
            })
            .collect()
    }

    /// Read and check `manifest.json` in `dir`.
    pub fn load(dir: &Path, catalogue: &Catalogue) -> Result<Self, ModelError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Missing {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| ModelError::BadManifest {
                path: path.clone(),
                message: e.to_string(),
            })?;
        manifest
            .check(catalogue)
            .map_err(|message| ModelError::BadManifest { path, message })?;
        Ok(manifest)
    }

    fn check(&self, catalogue: &Catalogue) -> Result<(), String> {
        if self.labels.is_empty() {
            return Err("no labels".into());
        }
        for label in &self.labels {
            if catalogue.get(label).is_none() {
                return Err(format!("label {label} is not in the CWE catalogue"));
            }
            match self.thresholds.get(label) {
                Some(t) if (0.0..=1.0).contains(t) => {}
                Some(t) => return Err(format!("threshold {t} of {label} is not in [0, 1]")),
                None => return Err(format!("no threshold for {label}")),
            }
        }
        if let Some(t) = self.line_alone_threshold {
            if !(0.5..=1.0).contains(&t) {
                return Err(format!("line_alone_threshold {t} is not in [0.5, 1]"));
            }
        }
        if !(8..=8192).contains(&self.max_length) {
            return Err(format!("max_length {} is out of range", self.max_length));
        }
        if let Some(gate) = &self.gate {
            let plain = Path::new(&gate.file)
                .file_name()
                .is_some_and(|name| name == gate.file.as_str());
            if !plain {
                return Err(format!(
                    "gate file {:?} must be a file name in the model folder",
                    gate.file
                ));
            }
            if !(0.0..=1.0).contains(&gate.threshold) {
                return Err(format!(
                    "gate threshold {} is not in [0, 1]",
                    gate.threshold
                ));
            }
        }
        if self.stride >= self.max_length - 2 {
            return Err(format!(
                "stride {} must be smaller than max_length - 2",
                self.stride
            ));
        }
        Ok(())
    }

    /// The threshold of a label (1.0, never reached, for an unknown one).
    pub fn threshold(&self, label: &str) -> f32 {
        self.thresholds.get(label).copied().unwrap_or(1.0)
    }
}

/// Map a raw probability to a label-independent confidence: 0.5 at the label's calibrated threshold.
///
/// Raw sigmoid outputs are not comparable across labels (thresholds range widely after calibration),
/// so users set one `min_confidence` on this scale instead.
pub fn confidence(probability: f32, threshold: f32) -> f32 {
    let p = probability.clamp(0.0, 1.0);
    let t = threshold.clamp(1e-6, 1.0 - 1e-6);
    if p >= t {
        0.5 + 0.5 * (p - t) / (1.0 - t)
    } else {
        0.5 * p / t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_half_at_the_threshold_and_monotone() {
        assert!((confidence(0.3, 0.3) - 0.5).abs() < 1e-6);
        assert!((confidence(1.0, 0.3) - 1.0).abs() < 1e-6);
        assert!(confidence(0.0, 0.3).abs() < 1e-6);
        let mut last = -1.0;
        for i in 0..=100 {
            let c = confidence(i as f32 / 100.0, 0.7);
            assert!(c >= last);
            last = c;
        }
    }

    #[test]
    fn measured_precision_is_published_only_for_labels_flagged_often_enough() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "name": "m", "version": "1", "labels": ["CWE-89", "CWE-78", "CWE-22"],
            "thresholds": {}, "line_threshold": 0.9, "max_length": 256, "stride": 128,
            "pad_id": 0, "cls_id": 1, "sep_id": 2,
            "metrics": {"per_label": {"ours": {
                "CWE-89": {"tp": 9, "fp": 1, "precision": 0.9},
                "CWE-78": {"tp": 1, "fp": 1, "precision": 0.5},
                "CWE-22": {"tp": 0, "fp": 0, "precision": null}
            }}}
        }))
        .unwrap();
        assert_eq!(
            manifest.measured_precision(),
            BTreeMap::from([("CWE-89".to_string(), 0.9)])
        );
        let bare = Manifest {
            metrics: serde_json::Value::Null,
            ..manifest
        };
        assert!(bare.measured_precision().is_empty());
    }

    #[test]
    fn a_line_alone_threshold_is_optional_and_must_be_a_confident_score() {
        let with = |alone: serde_json::Value| -> Result<(), String> {
            let manifest: Manifest = serde_json::from_value(serde_json::json!({
                "name": "m", "version": "1", "labels": ["CWE-89"],
                "thresholds": {"CWE-89": 0.5}, "line_threshold": 0.9, "line_alone_threshold": alone,
                "max_length": 256, "stride": 128, "pad_id": 0, "cls_id": 1, "sep_id": 2
            }))
            .map_err(|e| e.to_string())?;
            manifest.check(&Catalogue::embedded())
        };
        assert_eq!(with(serde_json::Value::Null), Ok(()));
        assert_eq!(with(serde_json::json!(0.995)), Ok(()));
        for bad in [0.2, 1.5] {
            let err = with(serde_json::json!(bad)).unwrap_err();
            assert!(err.contains("line_alone_threshold"), "{err}");
        }
    }
}
