//! The command line: argument parsing, the one mapping from format names to emitters, exit codes.
//!
//! Arguments are resolved in two phases (as ripgrep does): clap and [`ScanArgs::plan`] check them
//! once with no I/O into a [`ScanPlan`], which [`ScanPlan::execute`] then runs. Exit codes are decided in one
//! place, [`run`]: 0 clean, 1 findings at or above `--fail-on`, 2 usage or config error, 3 runtime error.

pub mod github;
pub mod gitlab;
pub mod model;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::catalogue::Catalogue;
use crate::config::{Config, ConfigError, FailOn};
use crate::diff::{self, DiffRequest};
use crate::model::{Device, RuntimeOptions};
use crate::report::{self, Format, Report};
use crate::scan::{self, ScanError, ScanOptions, Target};
use crate::shard::{self, CiNodeEnv, Shard, ShardError};

/// Exit code: no finding at or above `--fail-on`.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: bad arguments or config.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run failed (ONNX Runtime missing, repository unreadable, model broken, ...).
pub const EXIT_RUNTIME: u8 = 3;

/// hunkguard reviews the Python lines a change touches for security weaknesses (CWEs), with a
/// small model that runs on this machine: no code leaves it.
#[derive(Debug, Parser)]
#[command(name = "hunkguard", version, about, long_about = None)]
pub struct Cli {
    /// More logging (-v info, -vv debug). Logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Review the changes of a branch: merge-base(base, head)..head.
    Scan(ScanCommand),
    /// Review whole files or directories (every line counts as changed).
    Check(CheckCommand),
    /// Show the model: version, labels, thresholds, metrics, and the execution provider that runs.
    Model(ModelCommand),
    /// In CI: review the pull/merge request, write reports, then post review comments.
    Review(ReviewArgs),
    /// Post a review from a JSON report written earlier (the fork-safe `workflow_run` half).
    Post(PostArgs),
}

/// `hunkguard scan`.
#[derive(Debug, Args)]
pub struct ScanCommand {
    /// Repository to review.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Target branch or commit (default: the CI's target, else origin/HEAD, origin/main, main, master).
    #[arg(long)]
    pub base: Option<String>,
    /// Head of the change.
    #[arg(long, default_value = "HEAD")]
    pub head: String,
    /// Also review uncommitted changes in the work tree (local use).
    #[arg(long)]
    pub worktree: bool,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `hunkguard check`.
#[derive(Debug, Args)]
pub struct CheckCommand {
    /// Files or directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Review only shard K of N of the files (1-based, by a stable hash of the path), for a CI
    /// matrix. Default: GitLab's CI_NODE_INDEX/CI_NODE_TOTAL when `parallel:` sets them.
    #[arg(long, value_name = "K/N", value_parser = |v: &str| Shard::parse(v, "--shard"))]
    pub shard: Option<Shard>,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// Where the model and ONNX Runtime are, and which device runs them.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model folder (model.onnx, tokenizer.json, manifest.json). Default: the shipped models/.
    #[arg(long, env = "HUNKGUARD_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Path to libonnxruntime.so (else ORT_DYLIB_PATH, .ort/, next to the binary, pip's onnxruntime).
    #[arg(long)]
    pub ort_lib: Option<PathBuf>,
    /// Execution provider: auto tries CUDA and falls back to CPU.
    #[arg(long, value_enum, default_value = "auto", env = "HUNKGUARD_DEVICE")]
    pub device: Device,
    /// Inference threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Tokens shared by consecutive windows of a long snippet (default 32; more costs time).
    #[arg(long, env = "HUNKGUARD_OVERLAP")]
    pub overlap: Option<usize>,
    /// Score every window with the full model, even when the model ships a gate (the cascade).
    #[arg(long)]
    pub no_cascade: bool,
}

impl ModelArgs {
    /// Runtime options for the model stage.
    pub fn runtime(&self) -> RuntimeOptions {
        RuntimeOptions {
            ort_lib: self.ort_lib.clone(),
            device: self.device,
            threads: self.threads,
            overlap: self.overlap,
            without_gate: self.no_cascade,
        }
    }

    /// The model folder: the flag, or the shipped one.
    pub fn model_dir(&self) -> PathBuf {
        self.model_dir.clone().unwrap_or_else(default_model_dir)
    }
}

/// `hunkguard model`.
#[derive(Debug, Args)]
pub struct ModelCommand {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by every command that scans.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Config file (default: .hunkguard.yml at the repository root).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Format written to --output (or stdout).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the --format output to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also write SARIF 2.1.0 here.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Also write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a GitLab SAST report here.
    #[arg(long, value_name = "FILE")]
    pub gitlab_sast: Option<PathBuf>,
    /// Also write a GitLab Code Quality report here.
    #[arg(long, value_name = "FILE")]
    pub codequality: Option<PathBuf>,
    /// Also write the text report here.
    #[arg(long, value_name = "FILE")]
    pub text: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this level: low, medium, high, critical or never.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<String>,
    /// Minimum confidence (0-1; 0.5 = the model's calibrated threshold). Overrides the config.
    #[arg(long, value_name = "X")]
    pub min_confidence: Option<f32>,
    /// Unchanged lines around each change that the model also reads. Overrides the config.
    #[arg(long, value_name = "N")]
    pub context_lines: Option<u32>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// `hunkguard review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Which forge; auto reads GITHUB_ACTIONS / GITLAB_CI.
    #[arg(long, value_enum, default_value = "auto")]
    pub forge: ForgeKind,
    /// Repository checkout.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Folder for the reports written before posting.
    #[arg(long, default_value = "hunkguard-reports")]
    pub reports_dir: PathBuf,
    /// At most this many new inline comments; the rest go into the summary.
    #[arg(long, default_value_t = crate::forge::DEFAULT_MAX_COMMENTS)]
    pub max_comments: usize,
    /// Upload the SARIF report to GitHub code scanning too.
    #[arg(long)]
    pub upload_sarif: bool,
    /// Fail the job (exit 3) when posting fails; by default only findings decide.
    #[arg(long)]
    pub strict: bool,
    /// Write reports and print what would be posted, but post nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The whole posting phase ends after this many seconds; what is left stays in the reports.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub post_deadline: u64,
    #[command(flatten)]
    pub scan: ScanArgs,
}

/// `hunkguard post`.
#[derive(Debug, Args)]
pub struct PostArgs {
    /// JSON report written by `hunkguard review` or `scan --json`.
    #[arg(long)]
    pub findings: PathBuf,
    /// Pull request number (default: from the report artifact's pr.json or the workflow_run event).
    #[arg(long)]
    pub pr: Option<u64>,
    /// At most this many new inline comments.
    #[arg(long, default_value_t = crate::forge::DEFAULT_MAX_COMMENTS)]
    pub max_comments: usize,
    /// Fail (exit 3) when posting fails.
    #[arg(long)]
    pub strict: bool,
    /// The whole posting phase ends after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub post_deadline: u64,
    /// Exit 1 when a finding is at or above this level.
    #[arg(long, default_value = "never")]
    pub fail_on: String,
}

/// Which forge `review` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForgeKind {
    Auto,
    Github,
    Gitlab,
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl CliError {
    /// A usage or config error (exit 2).
    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }

    /// A runtime error (exit 3).
    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_RUNTIME,
            error: error.into(),
        }
    }
}

impl From<ScanError> for CliError {
    fn from(error: ScanError) -> Self {
        CliError::runtime(error)
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        CliError::usage(error)
    }
}

/// Where the shipped model is: next to the binary, in an installed share folder, or in the checkout.
pub fn default_model_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("models"));
            candidates.push(dir.join("../share/hunkguard/models"));
            candidates.push(dir.join("../../models"));
        }
    }
    candidates.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models"
    )));
    candidates
        .iter()
        .find(|dir| dir.join("manifest.json").is_file())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// The scan flags, checked with no I/O: what [`ScanArgs::plan`] resolved once, ready to execute.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    config_file: Option<PathBuf>,
    fail_on: Option<FailOn>,
    min_confidence: Option<f32>,
    context_lines: Option<u32>,
    model_dir: PathBuf,
    runtime: RuntimeOptions,
    progress: bool,
}

impl ScanArgs {
    /// Check every flag that needs no I/O, once, so a typo is a usage error before anything runs.
    pub fn plan(&self) -> Result<ScanPlan, CliError> {
        let fail_on = self.fail_on.as_deref().map(parse_fail_on).transpose()?;
        if let Some(min) = self.min_confidence {
            if !(0.0..=1.0).contains(&min) {
                return Err(CliError::usage(anyhow::anyhow!(
                    "--min-confidence: {min} is not between 0 and 1"
                )));
            }
        }
        if let Some(lines) = self.context_lines.filter(|lines| *lines > 50) {
            return Err(CliError::usage(anyhow::anyhow!(
                "--context-lines: {lines} is more than 50"
            )));
        }
        Ok(ScanPlan {
            config_file: self.config.clone(),
            fail_on,
            min_confidence: self.min_confidence,
            context_lines: self.context_lines,
            model_dir: self.model.model_dir(),
            runtime: self.model.runtime(),
            progress: !self.no_progress
                && std::io::stderr().is_terminal()
                && std::env::var_os("CI").is_none(),
        })
    }

    /// Review `merge-base(base, head)..head` of the repository at `repo` (the config is read from its root).
    pub fn scan_range(
        &self,
        repo: &Path,
        base: Option<String>,
        head: String,
        worktree: bool,
    ) -> Result<(Report, ScanOptions), CliError> {
        let plan = self.plan()?;
        let opened = diff::open_repo(repo).map_err(CliError::runtime)?;
        let root = opened
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo.to_path_buf());
        let request = DiffRequest {
            repo: repo.to_path_buf(),
            base,
            head,
            worktree,
            context_lines: 3,
        };
        plan.execute(&Target::Diff(request), &root)
    }

    /// Write every requested report file, then the --format output to --output or stdout.
    ///
    /// Each report is written on its own: an unwritable `--sarif` does not stop `--json`, and the
    /// error names every report that could not be written.
    pub fn write_reports(&self, report: &Report) -> Result<(), CliError> {
        let files = [
            (&self.sarif, Format::Sarif),
            (&self.json, Format::Json),
            (&self.gitlab_sast, Format::GitlabSast),
            (&self.codequality, Format::Codequality),
            (&self.text, Format::Text),
            (&self.output, self.format),
        ];
        let mut failures = Vec::new();
        for (path, format) in files {
            if let Some(path) = path {
                match report::write_file(path, format, report) {
                    Ok(()) => tracing::info!(path = %path.display(), "report written"),
                    Err(error) => failures.push(error.to_string()),
                }
            }
        }
        if self.output.is_none() {
            let color = self.format == Format::Text
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            let mut buffer = Vec::new();
            match self.format.emitter(color).emit(&mut buffer, report) {
                Ok(()) => {
                    if let Err(error) = write_stdout(&buffer) {
                        failures.push(format!("cannot write to stdout: {}", error.error));
                    }
                }
                Err(error) => failures.push(format!("cannot write to stdout: {error}")),
            }
        }
        match failures.len() {
            0 => Ok(()),
            1 => Err(CliError::runtime(anyhow::anyhow!("{}", failures[0]))),
            n => Err(CliError::runtime(anyhow::anyhow!(
                "{n} reports were not written: {}",
                failures.join("; ")
            ))),
        }
    }
}

impl ScanPlan {
    /// The scan options: the config file (at `repo_root` unless given), then the flags over it.
    fn options(&self, repo_root: &Path, catalogue: &Catalogue) -> Result<ScanOptions, CliError> {
        let mut config = Config::discover(self.config_file.as_deref(), repo_root, catalogue)?;
        if let Some(fail_on) = self.fail_on {
            config.fail_on = fail_on;
        }
        if let Some(min) = self.min_confidence {
            config.min_confidence = min;
        }
        if let Some(lines) = self.context_lines {
            config.context_lines = lines;
        }
        Ok(ScanOptions {
            model_dir: self.model_dir.clone(),
            runtime: self.runtime.clone(),
            config,
            progress: self.progress,
        })
    }

    /// Run the pipeline on `target`.
    pub fn execute(
        &self,
        target: &Target,
        repo_root: &Path,
    ) -> Result<(Report, ScanOptions), CliError> {
        let catalogue = Catalogue::embedded();
        let options = self.options(repo_root, &catalogue)?;
        let (report, timings) = scan::scan(target, &options, &catalogue)?;
        tracing::debug!(?timings, "timings");
        Ok((report, options))
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error of ours.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::runtime(e)),
        _ => Ok(()),
    }
}

/// The exit code that the findings decide.
pub fn findings_exit_code(report: &Report, fail_on: FailOn) -> u8 {
    match fail_on {
        FailOn::Never => EXIT_CLEAN,
        FailOn::AtLeast(level) => {
            if report.findings.iter().any(|f| f.severity >= level) {
                EXIT_FINDINGS
            } else {
                EXIT_CLEAN
            }
        }
    }
}

/// Parse a `--fail-on` value.
pub fn parse_fail_on(value: &str) -> Result<FailOn, CliError> {
    value
        .parse()
        .map_err(|e: String| CliError::usage(anyhow::anyhow!("--fail-on: {e}")))
}

fn run_scan(command: &ScanCommand) -> Result<u8, CliError> {
    let (report, options) = command.scan.scan_range(
        &command.repo,
        command.base.clone(),
        command.head.clone(),
        command.worktree,
    )?;
    command.scan.write_reports(&report)?;
    Ok(findings_exit_code(&report, options.config.fail_on))
}

fn run_check(command: &CheckCommand) -> Result<u8, CliError> {
    let plan = command.scan.plan()?;
    let root = std::env::current_dir().map_err(CliError::runtime)?;
    let (paths, shard) =
        shard::select(command.shard, &CiNodeEnv::from_env(), &command.paths, &root).map_err(
            |e| match e {
                ShardError::Collect(_) => CliError::runtime(e),
                _ => CliError::usage(e),
            },
        )?;
    let (mut report, options) = plan.execute(&Target::Paths(paths), &root)?;
    report.shard = shard;
    command.scan.write_reports(&report)?;
    Ok(findings_exit_code(&report, options.config.fail_on))
}

fn run_review(args: &ReviewArgs) -> Result<u8, CliError> {
    let forge = match args.forge {
        ForgeKind::Auto if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") => ForgeKind::Github,
        ForgeKind::Auto if std::env::var("GITLAB_CI").is_ok_and(|v| v == "true") => ForgeKind::Gitlab,
        ForgeKind::Auto => {
            return Err(CliError::usage(anyhow::anyhow!(
                "review runs in GitHub Actions or GitLab CI (neither GITHUB_ACTIONS nor GITLAB_CI is set); \
                 pass --forge github|gitlab, or use `hunkguard scan` locally"
            )))
        }
        other => other,
    };
    match forge {
        ForgeKind::Github => github::review(args),
        _ => gitlab::review(args),
    }
}

/// Parse the command line, run, and map every outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_CLEAN
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, cli.quiet);
    let result = match &cli.command {
        Command::Scan(c) => run_scan(c),
        Command::Check(c) => run_check(c),
        Command::Model(c) => model::run(c),
        Command::Review(c) => run_review(c),
        Command::Post(c) => github::post(c),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(CliError { code, error }) => {
            eprintln!("hunkguard: error: {}", error_chain(&error));
            ExitCode::from(code)
        }
    }
}

/// The error and its causes on one line, leaving out a cause the text before already quotes: every
/// stage's error names its source in its own message, and `anyhow`'s `{:#}` would print it again.
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HUNKGUARD_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!("hunkguard={level},ort=error"))
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
