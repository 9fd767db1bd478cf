//! Stage 3: score snippets with the fine-tuned model (tokenizers + ONNX Runtime via ort).
//!
//! Each snippet is tokenized once; long ones are cut into overlapping windows of `max_length` tokens;
//! windows of all snippets are batched (sorted by length, so padding stays small). Token offsets map
//! the per-token scores back to snippet lines. What leaves this module is plain numbers per line.

pub mod manifest;
pub mod runtime;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use crate::catalogue::Catalogue;
use crate::hunks::Snippet;
pub use manifest::Manifest;
pub use runtime::{Device, RuntimeOptions};

/// Windows per ONNX Runtime call.
const BATCH_SIZE: usize = 16;

/// Errors of the model stage, one variant per step.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} is missing or unreadable: {source}")]
    Missing {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad model manifest {path}: {message}")]
    BadManifest { path: PathBuf, message: String },
    #[error("cannot load tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("{0}")]
    RuntimeMissing(String),
    #[error("CUDA execution provider unavailable: {0}")]
    Cuda(String),
    #[error("cannot load model {path} (corrupt or not an ONNX model?): {message}")]
    Load { path: PathBuf, message: String },
    #[error("model {path} does not match its manifest: {message}")]
    Shape { path: PathBuf, message: String },
    #[error("tokenization failed: {0}")]
    Tokenize(String),
    #[error("inference failed: {0}")]
    Inference(String),
}

/// Scores of one snippet, per snippet line and label (label order = `Manifest::labels`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnippetScores {
    /// Highest `token_probs` of the line's tokens.
    pub token: Vec<Vec<f32>>,
    /// Highest `seq_probs` of the windows that contain the line.
    pub window: Vec<Vec<f32>>,
}

impl SnippetScores {
    /// (token, window) scores of snippet line `line` for label `label`; 0 where there is none.
    pub fn at(&self, line: usize, label: usize) -> (f32, f32) {
        let cell = |rows: &[Vec<f32>]| {
            rows.get(line)
                .and_then(|r| r.get(label))
                .copied()
                .unwrap_or(0.0)
        };
        (cell(&self.token), cell(&self.window))
    }
}

/// The loaded model: tokenizer, ORT session and manifest.
pub struct Model {
    session: Session,
    tokenizer: Tokenizer,
    /// The manifest the model was exported with.
    pub manifest: Manifest,
    /// The execution provider that actually runs ("CPU" or "CUDA").
    pub provider: &'static str,
    /// Time spent loading (ORT library, session, tokenizer).
    pub load_time: Duration,
}

/// A window: which snippet, which token range of it.
struct Window {
    snippet: usize,
    start: usize,
    end: usize,
}

impl Model {
    /// Load `model.onnx`, `tokenizer.json` and `manifest.json` from `dir`.
    pub fn load(
        dir: &Path,
        options: &RuntimeOptions,
        catalogue: &Catalogue,
    ) -> Result<Self, ModelError> {
        let started = Instant::now();
        let manifest = Manifest::load(dir, catalogue)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| ModelError::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let model_path = dir.join("model.onnx");
        if let Err(source) = std::fs::metadata(&model_path) {
            return Err(ModelError::Missing {
                path: model_path,
                source,
            });
        }
        let (session, provider) = runtime::build_session(&model_path, options)?;
        check_io(&session, &model_path)?;
        tracing::info!(provider, model = %manifest.version, "model loaded");
        Ok(Self {
            session,
            tokenizer,
            manifest,
            provider,
            load_time: started.elapsed(),
        })
    }

    /// Token ids of `text`, without special tokens (the window adds them).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().iter().map(|id| i64::from(*id)).collect())
    }

    /// Run one window of token ids (no special tokens) and return (seq_probs, token_probs per position),
    /// positions including [CLS] and [SEP]. Used to check the runtime against reference scores.
    #[allow(clippy::type_complexity)]
    pub fn run_window(&mut self, ids: &[i64]) -> Result<(Vec<f32>, Vec<Vec<f32>>), ModelError> {
        let mut row = Vec::with_capacity(ids.len() + 2);
        row.push(self.manifest.cls_id);
        row.extend_from_slice(ids);
        row.push(self.manifest.sep_id);
        let (seq, tokens) = self.run_batch(&[row])?;
        let labels = self.manifest.labels.len();
        let token_rows = tokens[0].chunks(labels).map(<[f32]>::to_vec).collect();
        Ok((seq[0].clone(), token_rows))
    }

    /// Score every snippet.
    pub fn score(&mut self, snippets: &[Snippet]) -> Result<Vec<SnippetScores>, ModelError> {
        let labels = self.manifest.labels.len();
        let body = self.manifest.max_length - 2;
        let step = body - self.manifest.stride;
        let mut token_ids: Vec<Vec<i64>> = Vec::with_capacity(snippets.len());
        let mut token_lines: Vec<Vec<Option<usize>>> = Vec::with_capacity(snippets.len());
        let mut scores: Vec<SnippetScores> = Vec::with_capacity(snippets.len());
        let mut windows = Vec::new();
        for (index, snippet) in snippets.iter().enumerate() {
            let encoding = self
                .tokenizer
                .encode(snippet.text.as_str(), false)
                .map_err(|e| ModelError::Tokenize(e.to_string()))?;
            let lines = crate::hunks::token_lines(&snippet.text, encoding.get_offsets());
            let ids: Vec<i64> = encoding.get_ids().iter().map(|id| i64::from(*id)).collect();
            let n = ids.len();
            let mut start = 0;
            while start < n {
                let end = (start + body).min(n);
                windows.push(Window {
                    snippet: index,
                    start,
                    end,
                });
                if end == n {
                    break;
                }
                start = if n - start - step < body {
                    n - body
                } else {
                    start + step
                };
            }
            let line_count = snippet.line_numbers.len();
            scores.push(SnippetScores {
                token: vec![vec![0.0; labels]; line_count],
                window: vec![vec![0.0; labels]; line_count],
            });
            token_ids.push(ids);
            token_lines.push(lines);
        }
        windows.sort_by_key(|w| w.end - w.start);
        for batch in windows.chunks(BATCH_SIZE) {
            let rows: Vec<Vec<i64>> = batch
                .iter()
                .map(|w| {
                    let mut row = Vec::with_capacity(w.end - w.start + 2);
                    row.push(self.manifest.cls_id);
                    row.extend_from_slice(&token_ids[w.snippet][w.start..w.end]);
                    row.push(self.manifest.sep_id);
                    row
                })
                .collect();
            let (seq, tokens) = self.run_batch(&rows)?;
            for (b, window) in batch.iter().enumerate() {
                let target = &mut scores[window.snippet];
                let lines = &token_lines[window.snippet];
                for (offset, line) in lines[window.start..window.end].iter().enumerate() {
                    let position = 1 + offset;
                    // whitespace-only tokens belong to no line, as in training
                    let Some(line) = line else {
                        continue;
                    };
                    let line = (*line).min(target.token.len().saturating_sub(1));
                    let Some(token_row) = tokens[b].get(position * labels..(position + 1) * labels)
                    else {
                        continue;
                    };
                    for c in 0..labels {
                        let cell = &mut target.token[line][c];
                        *cell = cell.max(token_row[c]);
                        let cell = &mut target.window[line][c];
                        *cell = cell.max(seq[b][c]);
                    }
                }
            }
        }
        Ok(scores)
    }

    /// Run padded rows; returns per-row seq_probs and per-row flattened token_probs [seq * labels].
    #[allow(clippy::type_complexity)]
    fn run_batch(
        &mut self,
        rows: &[Vec<i64>],
    ) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), ModelError> {
        let labels = self.manifest.labels.len();
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for row in rows {
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(self.manifest.pad_id, width - row.len()));
            mask.extend(std::iter::repeat_n(1i64, row.len()));
            mask.extend(std::iter::repeat_n(0i64, width - row.len()));
        }
        let shape = [rows.len(), width];
        let inference = |e: ort::Error| ModelError::Inference(e.to_string());
        let ids = Tensor::from_array((shape, ids.into_boxed_slice())).map_err(inference)?;
        let mask = Tensor::from_array((shape, mask.into_boxed_slice())).map_err(inference)?;
        let outputs = self
            .session
            .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
            .map_err(inference)?;
        let (seq_shape, seq) = outputs["seq_probs"]
            .try_extract_tensor::<f32>()
            .map_err(inference)?;
        let (token_shape, tokens) = outputs["token_probs"]
            .try_extract_tensor::<f32>()
            .map_err(inference)?;
        let expected_seq = [rows.len() as i64, labels as i64];
        let expected_tokens = [rows.len() as i64, width as i64, labels as i64];
        if seq_shape[..] != expected_seq || token_shape[..] != expected_tokens {
            return Err(ModelError::Inference(format!(
                "unexpected output shapes {seq_shape:?} / {token_shape:?}, expected {expected_seq:?} / {expected_tokens:?}"
            )));
        }
        let seq_rows = seq.chunks(labels).map(<[f32]>::to_vec).collect();
        let token_rows = tokens.chunks(width * labels).map(<[f32]>::to_vec).collect();
        Ok((seq_rows, token_rows))
    }
}

/// Check the model declares the inputs and outputs we feed and read, and say what it has otherwise.
fn check_io(session: &Session, path: &Path) -> Result<(), ModelError> {
    let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    for needed in ["input_ids", "attention_mask"] {
        if !inputs.contains(&needed) {
            return Err(ModelError::Shape {
                path: path.to_path_buf(),
                message: format!("no input `{needed}`; the model has inputs {inputs:?}"),
            });
        }
    }
    for needed in ["seq_probs", "token_probs"] {
        if !outputs.contains(&needed) {
            return Err(ModelError::Shape {
                path: path.to_path_buf(),
                message: format!("no output `{needed}`; the model has outputs {outputs:?}"),
            });
        }
    }
    Ok(())
}
