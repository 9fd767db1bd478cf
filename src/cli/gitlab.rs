//! `hunkguard review` in a GitLab merge-request pipeline: scan, write the reports, then post.
//!
//! The order matters: the SAST, Code Quality and JSON reports are on disk before any API call, so
//! the job's artifacts (<https://docs.gitlab.com/ci/yaml/artifacts_reports/>) carry every finding
//! even when posting fails. Posting problems are warnings unless `--strict`; findings decide the
//! exit code (`--fail-on`). See `docs/gitlab.md` for the token and the CI template.

use super::{findings_exit_code, CliError, ReviewArgs};
use crate::forge::gitlab::{self, GitlabEnv, GitlabOptions};
use crate::forge::PostOutcome;

/// File names of the reports written into `--reports-dir`, unless a flag names another path.
pub const SAST_REPORT: &str = "gl-sast-report.json";
/// Code Quality report file name (shown in the merge request widget on every tier).
pub const CODEQUALITY_REPORT: &str = "gl-code-quality-report.json";
/// hunkguard's own JSON report (what `hunkguard post` reads).
pub const JSON_REPORT: &str = "hunkguard.json";

/// Review the merge request of the current GitLab pipeline.
///
/// Reads [`GitlabEnv`], scans `CI_MERGE_REQUEST_DIFF_BASE_SHA..head`, writes the reports, then
/// publishes discussions and the summary note. Returns the exit code the findings decide.
pub fn review(args: &ReviewArgs) -> Result<u8, CliError> {
    let env = GitlabEnv::from_env().map_err(CliError::usage)?;
    let (report, options) = args.scan.scan_range(
        &args.repo,
        Some(env.base_sha.clone()),
        env.head_sha.clone(),
        false,
    )?;

    // Reports first: whatever happens on the API, the artifacts hold the findings.
    let mut scan = args.scan.clone();
    let in_dir = |name: &str| Some(args.reports_dir.join(name));
    scan.gitlab_sast = scan.gitlab_sast.or_else(|| in_dir(SAST_REPORT));
    scan.codequality = scan.codequality.or_else(|| in_dir(CODEQUALITY_REPORT));
    scan.json = scan.json.or_else(|| in_dir(JSON_REPORT));
    scan.write_reports(&report)?;
    let written = [&scan.gitlab_sast, &scan.codequality, &scan.json]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");

    let exit = findings_exit_code(&report, options.config.fail_on);
    let gitlab_options = GitlabOptions {
        post: super::github::post_options(args.max_comments, args.post_deadline),
        dry_run: args.dry_run,
        ..GitlabOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::runtime)?;
    let published = runtime.block_on(gitlab::publish(&env, &report, &gitlab_options));
    if args.dry_run {
        if let Ok(outcome) = &published {
            eprintln!(
                "hunkguard: dry run: {}",
                outcome.degraded.as_deref().unwrap_or_default()
            );
        }
        return Ok(exit);
    }
    let problem = match published {
        Ok(outcome) => {
            eprintln!(
                "hunkguard: merge request !{}: {}",
                env.mr_iid,
                outcome_summary(&outcome)
            );
            outcome.degraded
        }
        Err(err) => Some(err.to_string()),
    };
    if let Some(problem) = problem {
        let message = format!(
            "not posted to merge request !{}: {problem}. The reports are on disk: {written}",
            env.mr_iid
        );
        if args.strict {
            return Err(CliError::runtime(anyhow::anyhow!(message)));
        }
        eprintln!("hunkguard: warning: {message}");
    }
    Ok(exit)
}

/// One line on what a publish run did.
fn outcome_summary(outcome: &PostOutcome) -> String {
    format!(
        "{} new discussion(s), {} already present, {} resolved as fixed, {} in the summary note",
        outcome.posted, outcome.already_present, outcome.resolved, outcome.in_summary
    )
}
