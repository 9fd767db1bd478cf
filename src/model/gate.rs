//! The cascade's first stage: a tiny conv net on the same token ids that clears most windows, so
//! only the rest pay the transformer.
//!
//! Trained by `training/hunkguard_train/cascade.py` to predict "the full model fires some label on this
//! window" and thresholded there so it keeps >= 99.5 % of those windows on the validation split (the
//! manifest's `gate.kept_recall`). A cleared window is not scored at all: its tokens get no scores from
//! it, which is what the full model's below-threshold scores would have led to for the default
//! `min_confidence` (a finding needs a window at or above its label's threshold).

use std::path::{Path, PathBuf};

use ort::session::Session;

use super::manifest::GateEntry;
use super::{padded_inputs, runtime, ModelError, RuntimeOptions};

/// Name of the gate's output: one probability per window.
const OUTPUT: &str = "gate_probs";

/// The loaded gate.
pub(super) struct Gate {
    session: Session,
    threshold: f32,
    path: PathBuf,
}

impl Gate {
    /// Load the gate the manifest names, from the model folder `dir`.
    pub(super) fn load(
        dir: &Path,
        entry: &GateEntry,
        options: &RuntimeOptions,
    ) -> Result<Self, ModelError> {
        let path = dir.join(&entry.file);
        if let Err(source) = std::fs::metadata(&path) {
            return Err(ModelError::Missing { path, source });
        }
        let session = runtime::build_cpu_session(&path, options)?;
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        if !inputs.contains(&"input_ids") || !inputs.contains(&"attention_mask") {
            return Err(ModelError::Shape {
                path,
                message: format!(
                    "the gate needs inputs `input_ids` and `attention_mask`; it has {inputs:?}"
                ),
            });
        }
        if !outputs.contains(&OUTPUT) {
            return Err(ModelError::Shape {
                path,
                message: format!("the gate has no output `{OUTPUT}`; it has {outputs:?}"),
            });
        }
        Ok(Self {
            session,
            threshold: entry.threshold,
            path,
        })
    }

    /// For each row ([CLS] ids [SEP]), whether the full model must score it.
    pub(super) fn keep(&mut self, rows: &[Vec<i64>], pad_id: i64) -> Result<Vec<bool>, ModelError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let inference = |e: ort::Error| ModelError::Inference(format!("gate: {e}"));
        let (ids, mask) = padded_inputs(rows, pad_id).map_err(inference)?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(inference)?;
        let (shape, probs) = outputs[OUTPUT]
            .try_extract_tensor::<f32>()
            .map_err(inference)?;
        if shape[..] != [rows.len() as i64] {
            return Err(ModelError::Shape {
                path: self.path.clone(),
                message: format!("gate output shape {shape:?}, expected [{}]", rows.len()),
            });
        }
        // NaN is kept: an unreadable verdict must not clear a window.
        Ok(probs
            .iter()
            .map(|p| p.is_nan() || *p >= self.threshold)
            .collect())
    }
}
