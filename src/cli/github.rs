//! `hunkguard review` in a GitHub Actions `pull_request` job, and `hunkguard post` in the `workflow_run`
//! job of the fork-safe pair.
//!
//! The order matters: SARIF, the JSON report and `pr.json` are on disk before any API call, so the job's
//! artifacts hold every finding even when posting fails. Posting problems are warnings unless `--strict`;
//! findings decide the exit code (`--fail-on`). Outputs go to `$GITHUB_OUTPUT`
//! (<https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#setting-an-output-parameter>).
//! See `docs/github.md` for tokens, forks and the upload routes.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{findings_exit_code, parse_fail_on, CliError, PostArgs, ReviewArgs};
use crate::forge::github::{self, GithubEnv, GithubOptions, PrInfo, PR_FILE};
use crate::forge::{PostOptions, PostOutcome};
use crate::report::Report;

/// SARIF report file name inside `--reports-dir`, unless `--sarif` names another path.
pub const SARIF_REPORT: &str = "hunkguard.sarif";
/// hunkguard's own JSON report (what `hunkguard post` reads).
pub const JSON_REPORT: &str = "hunkguard.json";

/// Review the pull request of the current GitHub Actions job.
///
/// Reads [`GithubEnv`], scans merge-base(base, head)..head, writes SARIF, the JSON report and `pr.json`,
/// sets the step outputs, then posts one review (or degrades to annotations). Returns the exit code the
/// findings decide.
pub fn review(args: &ReviewArgs) -> Result<u8, CliError> {
    let env = GithubEnv::from_env().map_err(CliError::usage)?;
    let (report, options) = args.scan.scan_range(
        &args.repo,
        Some(env.base_sha.clone()),
        env.head_sha.clone(),
        false,
    )?;

    // Reports first: whatever happens on the API, the artifacts hold the findings.
    let mut scan = args.scan.clone();
    scan.sarif = scan
        .sarif
        .or_else(|| Some(args.reports_dir.join(SARIF_REPORT)));
    let json_path = scan
        .json
        .clone()
        .unwrap_or_else(|| args.reports_dir.join(JSON_REPORT));
    scan.json = Some(json_path.clone());
    scan.write_reports(&report)?;
    let pr_file = json_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.join(PR_FILE))
        .unwrap_or_else(|| PathBuf::from(PR_FILE));
    PrInfo::of(&env)
        .write(&pr_file)
        .map_err(CliError::runtime)?;
    if let Some(outputs) = std::env::var_os("GITHUB_OUTPUT") {
        let sarif = scan.sarif.clone().unwrap_or_default();
        write_outputs(
            Path::new(&outputs),
            &[
                ("findings", report.findings.len().to_string()),
                ("sarif-file", sarif.display().to_string()),
                ("json-file", json_path.display().to_string()),
            ],
        )
        .map_err(CliError::runtime)?;
    }
    let exit = findings_exit_code(&report, options.config.fail_on);

    let github_options = GithubOptions {
        post: post_options(args.max_comments, args.post_deadline),
        upload_sarif: args.upload_sarif.then(|| scan.sarif.clone()).flatten(),
        dry_run: args.dry_run,
        login: login(),
        ..GithubOptions::default()
    };
    let published = block_on(github::publish(&env, &report, &github_options))?;
    let problem = match published {
        Ok(outcome) => {
            eprintln!(
                "hunkguard: pull request #{}: {}",
                env.pr_number,
                outcome_summary(&outcome)
            );
            outcome.degraded.filter(|_| !args.dry_run)
        }
        Err(error) => Some(error.to_string()),
    };
    if let Some(problem) = problem {
        let message = format!(
            "review not posted to pull request #{}: {problem}. The reports are on disk: {}, {}",
            env.pr_number,
            scan.sarif.unwrap_or_default().display(),
            json_path.display()
        );
        if args.strict {
            return Err(CliError::runtime(anyhow::anyhow!(message)));
        }
        eprintln!("hunkguard: warning: {message}");
    }
    Ok(exit)
}

/// Post a review from a JSON report written by another job (the `workflow_run` half of the fork-safe pair).
///
/// The pull request number comes from `--pr`, else from `pr.json` next to the report, else from the
/// `workflow_run` event. Nothing is posted when the pull request's head is no longer the analysed commit.
pub fn post(args: &PostArgs) -> Result<u8, CliError> {
    let fail_on = parse_fail_on(&args.fail_on)?;
    let report = Report::read_json(&args.findings).map_err(CliError::usage)?;
    let pr = args.pr.or_else(|| pr_from_artifact(&args.findings));
    let env =
        GithubEnv::for_post(|key| std::env::var(key).ok(), pr, &report).map_err(CliError::usage)?;
    let options = GithubOptions {
        post: post_options(args.max_comments, args.post_deadline),
        login: login(),
        ..GithubOptions::default()
    };
    let mut stdout = std::io::stdout();
    let posted = block_on(github::post_report(&env, &report, &options, &mut stdout))?;
    match posted {
        Ok(outcome) => eprintln!(
            "hunkguard: pull request #{}: {}",
            env.pr_number,
            outcome_summary(&outcome)
        ),
        Err(error) => {
            let message = format!(
                "review not posted to pull request #{}: {error}",
                env.pr_number
            );
            if args.strict {
                return Err(CliError::runtime(anyhow::anyhow!(message)));
            }
            eprintln!("hunkguard: warning: {message}");
        }
    }
    Ok(findings_exit_code(&report, fail_on))
}

/// The forge options of the command line.
pub(super) fn post_options(max_comments: usize, deadline_seconds: u64) -> PostOptions {
    PostOptions {
        max_comments,
        deadline: std::time::Duration::from_secs(deadline_seconds),
    }
}

/// `HUNKGUARD_GITHUB_LOGIN`: the login whose comments are ours when the token is a GitHub App's.
fn login() -> Option<String> {
    std::env::var("HUNKGUARD_GITHUB_LOGIN")
        .ok()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// The PR number in `pr.json` next to the report, if there is a readable one.
fn pr_from_artifact(findings: &Path) -> Option<u64> {
    let path = findings.parent().unwrap_or(Path::new(".")).join(PR_FILE);
    if !path.is_file() {
        return None;
    }
    match PrInfo::read(&path) {
        Ok(info) => Some(info.number),
        Err(error) => {
            eprintln!("hunkguard: warning: ignoring {}: {error}", path.display());
            None
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    Ok(runtime.block_on(future))
}

/// One line on what a publish run did.
fn outcome_summary(outcome: &PostOutcome) -> String {
    match &outcome.degraded {
        Some(reason) => format!(
            "no review posted ({reason}); {} finding(s) shown as annotations and in the job summary",
            outcome.in_summary
        ),
        None => format!(
            "{} new inline comment(s), {} in the review body, {} already present, {} outdated removed, \
             {} answered as fixed",
            outcome.posted,
            outcome.in_summary,
            outcome.already_present,
            outcome.removed,
            outcome.resolved
        ),
    }
}

/// Append step outputs to the `$GITHUB_OUTPUT` file (multi-line values use a random delimiter).
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let delimiter = format!(
                "HUNKGUARD_EOF_{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            );
            writeln!(file, "{name}<<{delimiter}\n{value}\n{delimiter}")?;
        } else {
            writeln!(file, "{name}={value}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_a_delimiter_for_multi_line_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_outputs(&path, &[("findings", "3".into()), ("odd", "a\nb".into())]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("findings=3\nodd<<HUNKGUARD_EOF_"));
        assert!(text.contains("\na\nb\nHUNKGUARD_EOF_"));
    }

    #[test]
    fn the_pr_number_comes_from_pr_json_next_to_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let info = PrInfo {
            number: 12,
            head_sha: "abc".into(),
            repository: "acme/app".into(),
        };
        info.write(&dir.path().join(PR_FILE)).unwrap();
        assert_eq!(pr_from_artifact(&dir.path().join(JSON_REPORT)), Some(12));
        assert_eq!(pr_from_artifact(&dir.path().join("sub/x.json")), None);
    }
}
