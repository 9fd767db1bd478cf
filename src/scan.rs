//! The pipeline in one place: diff -> hunks -> model -> findings -> [`Report`].
//!
//! Every stage hands plain data to the next; this module only wires them and keeps the facts of the
//! run (timing, skipped files) for the report.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalogue::Catalogue;
use crate::config::Config;
use crate::diff::{self, DiffError, DiffRequest, DiffResult, SkippedFile};
use crate::findings::{self, ScoreInfo};
use crate::hunks;
use crate::model::{Manifest, Model, ModelError, RuntimeOptions, ScoreStats};
use crate::report::{self, ModelInfo, Report, ReviewedFile, ToolInfo, JSON_SCHEMA_VERSION};

/// What to review.
#[derive(Debug, Clone)]
pub enum Target {
    /// The changes between the merge-base of base and head, and head.
    Diff(DiffRequest),
    /// Whole files or directories: every line counts as changed.
    Paths(Vec<PathBuf>),
}

/// How to review it.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Folder with model.onnx, tokenizer.json and manifest.json.
    pub model_dir: PathBuf,
    pub runtime: RuntimeOptions,
    pub config: Config,
    /// Show a progress bar (terminals only; CI logs stay line-oriented).
    pub progress: bool,
}

/// Errors of a scan, by stage.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Timings of the stages, for logs and the bench.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub diff_ms: u128,
    pub load_ms: u128,
    pub inference_ms: u128,
    pub total_ms: u128,
    /// Changed lines reviewed.
    pub changed_lines: usize,
}

/// Run the whole pipeline.
pub fn scan(
    target: &Target,
    options: &ScanOptions,
    catalogue: &Catalogue,
) -> Result<(Report, Timings), ScanError> {
    let started = Instant::now();
    let started_at = report::now_utc();
    let mut timings = Timings::default();
    let mut diff = match target {
        Target::Diff(request) => diff::diff_revisions(request)?,
        Target::Paths(paths) => diff::collect_paths(paths)?,
    };
    select_files(&mut diff, &options.config);
    timings.diff_ms = started.elapsed().as_millis();
    timings.changed_lines = diff.files.iter().map(|f| f.added_lines.len()).sum();

    let snippets = hunks::reading_plan(hunks::build_snippets(
        &diff.files,
        options.config.context_lines,
    ));
    let (findings, model_info, stats) = if snippets.is_empty() {
        // Nothing to score: do not require ONNX Runtime for an empty diff.
        let manifest = Manifest::load(&options.model_dir, catalogue)?;
        (
            Vec::new(),
            model_info(&manifest, "none"),
            ScoreStats::default(),
        )
    } else {
        let load_started = Instant::now();
        let mut model = Model::load(&options.model_dir, &options.runtime, catalogue)?;
        timings.load_ms = load_started.elapsed().as_millis();
        let inference_started = Instant::now();
        let scores = score_with_progress(&mut model, &snippets, options.progress)?;
        let labels = model.manifest.labels.clone();
        let info = ScoreInfo {
            labels: &labels,
            thresholds: model
                .manifest
                .labels
                .iter()
                .map(|l| model.manifest.threshold(l))
                .collect(),
            line_threshold: model.manifest.line_threshold,
            line_alone_threshold: model.manifest.line_alone_threshold,
        };
        let findings = findings::locate(
            &diff.files,
            &snippets,
            &scores,
            &info,
            catalogue,
            &options.config,
            |reads| model.score(reads),
        )?;
        // the re-reads of step 2 and 3 are inference too
        timings.inference_ms = inference_started.elapsed().as_millis();
        (
            findings,
            model_info(&model.manifest, model.provider),
            model.stats,
        )
    };
    timings.total_ms = started.elapsed().as_millis();
    tracing::info!(
        files = diff.files.len(),
        changed_lines = timings.changed_lines,
        findings = findings.len(),
        snippets = snippets.len(),
        windows = stats.windows,
        gate_cleared = stats.cleared,
        model_tokens = stats.model_tokens,
        ms = timings.total_ms,
        "scan finished"
    );
    let report = Report {
        schema_version: JSON_SCHEMA_VERSION,
        tool: ToolInfo::default(),
        model: model_info,
        head_sha: diff.head_sha.clone(),
        base_sha: diff.base_sha.clone(),
        started_at,
        finished_at: report::now_utc(),
        files: diff
            .files
            .iter()
            .map(|f| ReviewedFile {
                path: f.path.clone(),
                old_path: f.old_path.clone(),
                hunks: f.hunks.clone(),
                changed_lines: f.added_lines.len(),
            })
            .collect(),
        findings,
        skipped: diff.skipped,
        shard: None,
    };
    Ok((report, timings))
}

fn model_info(manifest: &Manifest, provider: &str) -> ModelInfo {
    ModelInfo {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        provider: provider.to_string(),
        rule_precision: manifest.measured_precision(),
    }
}

/// Drop files the config excludes, saying so.
fn select_files(diff: &mut DiffResult, config: &Config) {
    let (kept, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut diff.files)
        .into_iter()
        .partition(|f| config.selects(&f.path));
    diff.files = kept;
    diff.skipped
        .extend(dropped.into_iter().map(|f| SkippedFile {
            path: f.path,
            reason: "excluded by the config's include/exclude globs".into(),
        }));
}

/// Score in chunks so a progress bar can move; without a bar it is one call.
fn score_with_progress(
    model: &mut Model,
    snippets: &[hunks::Snippet],
    progress: bool,
) -> Result<Vec<crate::model::SnippetScores>, ModelError> {
    const CHUNK: usize = 64;
    if !progress || snippets.len() <= CHUNK {
        return model.score(snippets);
    }
    let bar = ProgressBar::new(snippets.len() as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} scoring {pos}/{len} snippets [{elapsed}] {wide_bar}",
    ) {
        bar.set_style(style);
    }
    let mut out = Vec::with_capacity(snippets.len());
    for chunk in snippets.chunks(CHUNK) {
        out.extend(model.score(chunk)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}
