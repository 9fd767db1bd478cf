//! Stage 3: score snippets with the fine-tuned model (tokenizers + ONNX Runtime via ort).
//!
//! Snippets are tokenized on a second thread while the first runs inference; long ones are cut into
//! windows of `max_length` tokens that overlap by a few tokens (`RuntimeOptions::overlap`), so each
//! token is scored about once. Full-length windows are scored as they come; shorter ones (small
//! snippets, tails) wait and are batched by length across files, so padding stays small. When the
//! manifest names a gate (the cascade's first stage, [`gate`]), it clears most windows and only the
//! rest pay the transformer. Token offsets map the per-token scores back to snippet lines. What leaves
//! this module is plain numbers per line.

mod gate;
pub mod manifest;
pub mod runtime;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use crate::catalogue::Catalogue;
use crate::hunks::Snippet;
use gate::Gate;
pub use manifest::Manifest;
pub use runtime::{Device, RuntimeOptions};

/// Windows per call of the full model.
const BATCH_SIZE: usize = 16;
/// Windows per call of the gate (it is cheap: a bigger call costs less overhead per window).
const GATE_BATCH: usize = 64;
/// Snippets tokenized ahead of inference.
const TOKENIZE_AHEAD: usize = 64;

/// Tokens shared by consecutive windows of a long snippet, unless `RuntimeOptions::overlap` says
/// otherwise. The manifest's `stride` (128 of 254 for the shipped model) scores every token about
/// twice; 32 scores it about 1.15 times and gives each window edge 32 tokens of context (measured:
/// see the README's speed table).
pub const DEFAULT_OVERLAP: usize = 32;

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

/// What scoring has cost so far, summed over the calls of one loaded model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreStats {
    /// Windows planned.
    pub windows: usize,
    /// Windows the gate cleared (the full model never saw them).
    pub cleared: usize,
    /// Tokens of the windows the full model scored, [CLS] and [SEP] included, padding not.
    pub model_tokens: usize,
    /// Time inside the full model's runs.
    pub model_time: Duration,
    /// Time inside the gate's runs.
    pub gate_time: Duration,
}

/// The loaded model: tokenizer, ORT sessions and manifest.
pub struct Model {
    session: Session,
    gate: Option<Gate>,
    tokenizer: Tokenizer,
    overlap: usize,
    /// The manifest the model was exported with.
    pub manifest: Manifest,
    /// The execution provider that actually runs ("CPU" or "CUDA").
    pub provider: &'static str,
    /// Time spent loading (ORT library, sessions, tokenizer).
    pub load_time: Duration,
    /// What scoring has cost so far.
    pub stats: ScoreStats,
}

/// A window: which snippet, which token range of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    snippet: usize,
    start: usize,
    end: usize,
}

/// Token windows `[start, end)` covering `n` tokens: at most `body` long, consecutive ones sharing
/// `overlap` tokens, the last one moved back to be full length (as `training/hunkguard_train/tok.py`
/// cuts them).
fn window_ranges(n: usize, body: usize, overlap: usize) -> Vec<(usize, usize)> {
    let step = body.saturating_sub(overlap).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + body).min(n);
        out.push((start, end));
        if end == n {
            break;
        }
        start = if n - start - step < body {
            n - body
        } else {
            start + step
        };
    }
    out
}

/// The per-snippet state while scoring: token ids, each token's line, and the scores so far.
struct Tokenized {
    ids: Vec<i64>,
    lines: Vec<Option<usize>>, // None: a whitespace-only token
}

impl Model {
    /// Load `model.onnx`, `tokenizer.json`, `manifest.json` and the gate it names from `dir`.
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
        let gate = match &manifest.gate {
            Some(entry) if !options.without_gate => Some(Gate::load(dir, entry, options)?),
            _ => None,
        };
        let body = manifest.max_length - 2;
        let overlap = options.overlap.unwrap_or(DEFAULT_OVERLAP).min(body - 1);
        tracing::info!(
            provider,
            model = %manifest.version,
            cascade = gate.is_some(),
            overlap,
            "model loaded"
        );
        Ok(Self {
            session,
            gate,
            tokenizer,
            overlap,
            manifest,
            provider,
            load_time: started.elapsed(),
            stats: ScoreStats::default(),
        })
    }

    /// Whether a gate clears windows before the full model (the manifest names one and it is not off).
    pub fn has_gate(&self) -> bool {
        self.gate.is_some()
    }

    /// Token ids of `text`, without special tokens (the window adds them).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| ModelError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().iter().map(|id| i64::from(*id)).collect())
    }

    /// Run one window of token ids (no special tokens) through the full model, never the gate, and
    /// return (seq_probs, token_probs per position), positions including [CLS] and [SEP]. Used to
    /// check the runtime against reference scores.
    #[allow(clippy::type_complexity)]
    pub fn run_window(&mut self, ids: &[i64]) -> Result<(Vec<f32>, Vec<Vec<f32>>), ModelError> {
        let mut row = Vec::with_capacity(ids.len() + 2);
        row.push(self.manifest.cls_id);
        row.extend_from_slice(ids);
        row.push(self.manifest.sep_id);
        let (seq, tokens) = run_batch(&mut self.session, &self.manifest, &[row])?;
        let labels = self.manifest.labels.len();
        let token_rows = tokens[0].chunks(labels).map(<[f32]>::to_vec).collect();
        Ok((seq[0].clone(), token_rows))
    }

    /// Score every snippet.
    pub fn score(&mut self, snippets: &[Snippet]) -> Result<Vec<SnippetScores>, ModelError> {
        let labels = self.manifest.labels.len();
        let body = self.manifest.max_length - 2;
        let overlap = self.overlap;
        let mut scorer = Scorer {
            session: &mut self.session,
            gate: self.gate.as_mut(),
            manifest: &self.manifest,
            stats: &mut self.stats,
            tokenized: Vec::with_capacity(snippets.len()),
            scores: snippets
                .iter()
                .map(|s| SnippetScores {
                    token: vec![vec![0.0; labels]; s.line_numbers.len()],
                    window: vec![vec![0.0; labels]; s.line_numbers.len()],
                })
                .collect(),
        };
        let tokenizer = &self.tokenizer;
        std::thread::scope(|scope| -> Result<(), ModelError> {
            // Tokenize on a second thread while this one runs inference: they overlap in time.
            let (sender, receiver) = mpsc::sync_channel(TOKENIZE_AHEAD);
            scope.spawn(move || {
                for snippet in snippets {
                    if sender.send(tokenize(tokenizer, &snippet.text)).is_err() {
                        break; // the scorer stopped on an error
                    }
                }
            });
            let mut full = Vec::new();
            let mut short = Vec::new();
            for (index, tokenized) in receiver.into_iter().enumerate() {
                let tokenized = tokenized?;
                for (start, end) in window_ranges(tokenized.ids.len(), body, overlap) {
                    let window = Window {
                        snippet: index,
                        start,
                        end,
                    };
                    if end - start == body {
                        full.push(window);
                    } else {
                        short.push(window);
                    }
                }
                scorer.tokenized.push(tokenized);
                if full.len() >= GATE_BATCH {
                    scorer.run(&std::mem::take(&mut full))?;
                }
            }
            // Short windows of all snippets together, by length: batches of near-equal widths.
            short.sort_by_key(|w| w.end - w.start);
            full.extend(short);
            for chunk in full.chunks(GATE_BATCH) {
                scorer.run(chunk)?;
            }
            Ok(())
        })?;
        Ok(scorer.scores)
    }
}

/// Tokenize one snippet: ids without special tokens, and the snippet line of each token.
fn tokenize(tokenizer: &Tokenizer, text: &str) -> Result<Tokenized, ModelError> {
    let encoding = tokenizer
        .encode(text, false)
        .map_err(|e| ModelError::Tokenize(e.to_string()))?;
    let lines = crate::hunks::token_lines(text, encoding.get_offsets());
    let ids = encoding.get_ids().iter().map(|id| i64::from(*id)).collect();
    Ok(Tokenized { ids, lines })
}

/// One `score` call's working state: the sessions, the snippets tokenized so far, their scores.
struct Scorer<'a> {
    session: &'a mut Session,
    gate: Option<&'a mut Gate>,
    manifest: &'a Manifest,
    stats: &'a mut ScoreStats,
    tokenized: Vec<Tokenized>,
    scores: Vec<SnippetScores>,
}

impl Scorer<'_> {
    /// Gate `windows` (sorted by length), score the kept ones with the full model, fold in the scores.
    fn run(&mut self, windows: &[Window]) -> Result<(), ModelError> {
        let rows: Vec<Vec<i64>> = windows
            .iter()
            .map(|w| {
                let mut row = Vec::with_capacity(w.end - w.start + 2);
                row.push(self.manifest.cls_id);
                row.extend_from_slice(&self.tokenized[w.snippet].ids[w.start..w.end]);
                row.push(self.manifest.sep_id);
                row
            })
            .collect();
        self.stats.windows += windows.len();
        let keep = match self.gate.as_deref_mut() {
            Some(gate) => {
                let started = Instant::now();
                let keep = gate.keep(&rows, self.manifest.pad_id)?;
                self.stats.gate_time += started.elapsed();
                keep
            }
            None => vec![true; rows.len()],
        };
        let (kept_windows, kept_rows): (Vec<Window>, Vec<Vec<i64>>) = windows
            .iter()
            .zip(rows)
            .zip(&keep)
            .filter(|(_, keep)| **keep)
            .map(|(pair, _)| pair)
            .unzip();
        self.stats.cleared += windows.len() - kept_windows.len();
        for (batch, batch_rows) in kept_windows
            .chunks(BATCH_SIZE)
            .zip(kept_rows.chunks(BATCH_SIZE))
        {
            let started = Instant::now();
            let (seq, tokens) = run_batch(self.session, self.manifest, batch_rows)?;
            self.stats.model_time += started.elapsed();
            self.stats.model_tokens += batch_rows.iter().map(Vec::len).sum::<usize>();
            self.fold(batch, &seq, &tokens);
        }
        Ok(())
    }

    /// Keep, per line and label, the highest token score and the highest score of a window holding it.
    fn fold(&mut self, batch: &[Window], seq: &[Vec<f32>], tokens: &[Vec<f32>]) {
        let labels = self.manifest.labels.len();
        for (b, window) in batch.iter().enumerate() {
            let target = &mut self.scores[window.snippet];
            let lines = &self.tokenized[window.snippet].lines;
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
                let (Some(token_cells), Some(window_cells)) =
                    (target.token.get_mut(line), target.window.get_mut(line))
                else {
                    continue;
                };
                for c in 0..labels {
                    token_cells[c] = token_cells[c].max(token_row[c]);
                    window_cells[c] = window_cells[c].max(seq[b][c]);
                }
            }
        }
    }
}

/// `input_ids` and `attention_mask` tensors of `rows`, padded to the longest with `pad_id`.
fn padded_inputs(rows: &[Vec<i64>], pad_id: i64) -> Result<(Tensor<i64>, Tensor<i64>), ort::Error> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(rows.len() * width);
    let mut mask = Vec::with_capacity(rows.len() * width);
    for row in rows {
        ids.extend_from_slice(row);
        ids.extend(std::iter::repeat_n(pad_id, width - row.len()));
        mask.extend(std::iter::repeat_n(1i64, row.len()));
        mask.extend(std::iter::repeat_n(0i64, width - row.len()));
    }
    let shape = [rows.len(), width];
    Ok((
        Tensor::from_array((shape, ids.into_boxed_slice()))?,
        Tensor::from_array((shape, mask.into_boxed_slice()))?,
    ))
}

/// Run padded rows through the full model; returns per-row seq_probs and per-row flattened
/// token_probs [width * labels].
#[allow(clippy::type_complexity)]
fn run_batch(
    session: &mut Session,
    manifest: &Manifest,
    rows: &[Vec<i64>],
) -> Result<(Vec<Vec<f32>>, Vec<Vec<f32>>), ModelError> {
    let labels = manifest.labels.len();
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let inference = |e: ort::Error| ModelError::Inference(e.to_string());
    let (ids, mask) = padded_inputs(rows, manifest.pad_id).map_err(inference)?;
    let outputs = session
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
