//! GitHub pull-request reviews through the REST API (octocrab), with code-scanning SARIF upload and a
//! fallback to annotations and the job summary when the token cannot write.
//!
//! One run posts at most one review (<https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request>):
//! `event: COMMENT` on the head commit, one inline comment per new finding that sits on a diff line (up to a
//! cap), everything else in the review body. Fingerprint markers in our comments make re-runs idempotent, and
//! comments whose finding is gone are deleted, or answered as fixed when someone replied
//! (<https://docs.github.com/en/rest/pulls/comments>). Reports are on disk before anything here runs, so a
//! failing API degrades the review but never loses findings.
//!
//! Submodules: [`env`] (job environment), `client` (retries and rate limits), `plan` (what to post, no
//! I/O), [`annotate`] (workflow commands and job summary), `sarif` (upload payload), `untrusted` (cleaning
//! an artifact before the privileged `post` job uses it).

pub mod annotate;
mod client;
pub mod env;
mod plan;
mod sarif;
mod untrusted;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

pub use client::RetryPolicy;
pub use env::{GithubEnv, Token};

use super::{PostOptions, PostOutcome};
use crate::catalogue::Catalogue;
use crate::report::Report;
use client::Api;
use plan::StaleAction;

/// File name of the pull-request facts the analysing job leaves next to its JSON report.
pub const PR_FILE: &str = "pr.json";

/// Errors of the GitHub forge.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The job environment is missing something or is not a pull request.
    #[error("{0}")]
    Env(String),
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// JSON that GitHub or the runner gave us did not have the expected shape.
    #[error("cannot understand {what}: {source}")]
    Decode {
        what: String,
        source: serde_json::Error,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the GitHub client: {0}")]
    Client(String),
    /// GitHub answered with an error status.
    #[error("{method} {route} failed with HTTP {status} after {attempts} attempt(s): {message}")]
    Api {
        method: String,
        route: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    /// HTTP 403 that is not a rate limit: the token may not do this (fork, read-only token).
    #[error("{method} {route} was refused (HTTP 403): {message}")]
    Forbidden {
        method: String,
        route: String,
        message: String,
    },
    /// Still rate-limited after every retry.
    #[error("{method} {route} is still rate-limited after {attempts} attempt(s): {message}")]
    RateLimited {
        method: String,
        route: String,
        attempts: u32,
        message: String,
    },
    /// No answer (connection error or timeout) after every retry.
    #[error("{method} {route} got no answer after {attempts} attempt(s): {message}")]
    Transport {
        method: String,
        route: String,
        attempts: u32,
        message: String,
    },
    /// The SARIF file is over the upload limit.
    #[error("{path} is {bytes} bytes gzipped; code scanning accepts at most 10 MB")]
    SarifTooLarge { path: String, bytes: usize },
    /// The SARIF upload was refused.
    #[error(
        "SARIF upload refused: {message}. The job needs `permissions: security-events: write` and \
         code scanning must be available for the repository"
    )]
    SarifRefused { message: String },
    /// The report was made for another commit than the one the job is about.
    #[error("the report is for commit {report} but the pull request head is {expected}")]
    HeadMismatch { report: String, expected: String },
}

/// Options of a GitHub review run.
#[derive(Debug, Clone, Default)]
pub struct GithubOptions {
    /// Options common to every forge (inline comment cap).
    pub post: PostOptions,
    /// Upload this SARIF file to code scanning after the review.
    pub upload_sarif: Option<PathBuf>,
    /// Retries, waits and pacing of API calls.
    pub retry: RetryPolicy,
    /// Call no API: print annotations and write the job summary only (the analysing job of the
    /// fork-safe pair).
    pub dry_run: bool,
}

/// What the analysing job records next to the report so that a `workflow_run` job can post it.
///
/// Its content is as untrusted as the report: the posting job only uses the number to look the pull
/// request up, then checks its current head against the triggering run's head sha.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrInfo {
    /// Pull request number.
    pub number: u64,
    /// Head commit the report was made for.
    pub head_sha: String,
    /// `owner/name` of the base repository.
    pub repository: String,
}

impl PrInfo {
    /// The facts of the current pull request job.
    pub fn of(env: &GithubEnv) -> Self {
        Self {
            number: env.pr_number,
            head_sha: env.head_sha.clone(),
            repository: env.repository.clone(),
        }
    }

    /// Write `pr.json` to `path`.
    pub fn write(&self, path: &Path) -> Result<(), GithubError> {
        let text = serde_json::to_string_pretty(self).map_err(|source| GithubError::Decode {
            what: "pull request facts".into(),
            source,
        })?;
        std::fs::write(path, text + "\n").map_err(|source| GithubError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Read a `pr.json` written by [`PrInfo::write`].
    pub fn read(path: &Path) -> Result<Self, GithubError> {
        let text = std::fs::read_to_string(path).map_err(|source| GithubError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| GithubError::Decode {
            what: path.display().to_string(),
            source,
        })
    }
}

/// Post the review (or degrade to annotations); reports are already on disk. Annotations go to stdout.
pub async fn publish(
    env: &GithubEnv,
    report: &Report,
    options: &GithubOptions,
) -> Result<PostOutcome, GithubError> {
    publish_to(env, report, options, &mut std::io::stdout()).await
}

/// [`publish`], writing workflow-command annotations to `out`.
///
/// Degrades (annotations + job summary, `Ok` with [`PostOutcome::degraded`] set) when there is no token,
/// the pull request comes from a fork, `dry_run` is set, or GitHub answers 403. Any other failure also
/// writes the annotations and the summary, then returns the error.
pub async fn publish_to(
    env: &GithubEnv,
    report: &Report,
    options: &GithubOptions,
    out: &mut (dyn Write + Send),
) -> Result<PostOutcome, GithubError> {
    if let Some(sha) = report.head_sha.as_deref() {
        if sha != env.head_sha {
            return Err(GithubError::HeadMismatch {
                report: sha.to_string(),
                expected: env.head_sha.clone(),
            });
        }
    }
    if options.dry_run {
        let why = "posting is disabled (--dry-run, or the action's `post: false`)";
        return degrade(env, report, why.into(), out);
    }
    let Some(token) = &env.token else {
        let why =
            "no token: set GITHUB_TOKEN (or HUNKGUARD_GITHUB_TOKEN) with `pull-requests: write`";
        return degrade(env, report, why.into(), out);
    };
    if env.is_fork() {
        let head = env.head_repository.as_deref().unwrap_or("a deleted fork");
        let why = format!(
            "the pull request comes from {head}, so this job's token is read-only; \
             use the fork-safe workflow pair to post reviews"
        );
        return degrade(env, report, why, out);
    }
    let mut api = Api::new(&env.api_url, token, options.retry.clone())?;
    let mut outcome = PostOutcome::default();
    match review(&mut api, env, report, options, &mut outcome).await {
        Ok(()) => {}
        Err(GithubError::Forbidden { message, .. }) => {
            return degrade(
                env,
                report,
                format!(
                    "GitHub refused the review ({message}): the token is read-only here \
                     (a fork, or the job lacks `pull-requests: write`)"
                ),
                out,
            );
        }
        Err(error) => {
            let failed = PostOutcome {
                degraded: Some(format!("posting failed: {error}")),
                ..outcome
            };
            if let Err(e) = emit_fallback(env, report, &failed, out) {
                tracing::warn!("cannot write the fallback annotations: {e}");
            }
            return Err(error);
        }
    }
    write_summary(env, report, &outcome)?;
    if let Some(path) = &options.upload_sarif {
        upload_sarif(&mut api, env, path).await?;
    }
    Ok(outcome)
}

/// Post a JSON report made by another workflow (the `workflow_run` half of the fork-safe pair).
///
/// The report is cleaned first (texts from the embedded catalogue, odd findings dropped). Nothing is
/// posted, and [`PostOutcome::degraded`] says why, when the pull request is closed or its head is no longer
/// the commit the report and the triggering run were made for.
pub async fn post_report(
    env: &GithubEnv,
    report: &Report,
    options: &GithubOptions,
    out: &mut (dyn Write + Send),
) -> Result<PostOutcome, GithubError> {
    #[derive(Deserialize)]
    struct Repo {
        full_name: String,
    }
    #[derive(Deserialize)]
    struct Head {
        sha: String,
        #[serde(default)]
        repo: Option<Repo>,
    }
    #[derive(Deserialize)]
    struct Pull {
        state: String,
        head: Head,
    }

    let (clean, dropped) = untrusted::sanitise(report, &Catalogue::embedded());
    for reason in dropped {
        tracing::warn!("not posting {reason}");
    }
    let token = env.token.as_ref().ok_or_else(|| {
        GithubError::Env(
            "`hunkguard post` needs a token with `pull-requests: write` in GITHUB_TOKEN".into(),
        )
    })?;
    let (owner, repo) = env.owner_repo();
    let route = format!("/repos/{owner}/{repo}/pulls/{}", env.pr_number);
    let mut api = Api::new(&env.api_url, token, options.retry.clone())?;
    let pull: Pull = api.get(&route).await?.json(&route)?;
    let skip = |why: String| {
        tracing::warn!("{why}");
        Ok(PostOutcome {
            degraded: Some(why),
            ..PostOutcome::default()
        })
    };
    let n = env.pr_number;
    if pull.state != "open" {
        return skip(format!(
            "pull request #{n} is {}: nothing posted",
            pull.state
        ));
    }
    if pull.head.sha != env.head_sha {
        return skip(format!(
            "pull request #{n} is now at {} but the triggering run analysed {}: nothing posted \
             (the run for the new head will post)",
            pull.head.sha, env.head_sha
        ));
    }
    if clean.head_sha.as_deref() != Some(pull.head.sha.as_str()) {
        return skip(format!(
            "the report is for {} but pull request #{n} is at {}: nothing posted",
            clean.head_sha.as_deref().unwrap_or("an unknown commit"),
            pull.head.sha
        ));
    }
    let head_repo = pull.head.repo.map(|r| r.full_name);
    if let (Some(expected), Some(actual)) = (&env.head_repository, &head_repo) {
        if expected != actual {
            return skip(format!(
                "pull request #{n} comes from {actual}, not from {expected}: nothing posted"
            ));
        }
    }
    // The posting job holds a write token even for forks: post as a same-repository review.
    let target = GithubEnv {
        head_sha: pull.head.sha,
        head_repository: head_repo,
        event_name: "workflow_run".into(),
        ..env.clone()
    };
    publish_to(&target, &clean, options, out).await
}

/// List what the PR holds, post one review with what is new, tidy up stale comments.
async fn review(
    api: &mut Api,
    env: &GithubEnv,
    report: &Report,
    options: &GithubOptions,
    outcome: &mut PostOutcome,
) -> Result<(), GithubError> {
    let (owner, repo) = env.owner_repo();
    let pull = format!("/repos/{owner}/{repo}/pulls/{}", env.pr_number);
    let comments: Vec<plan::ExistingComment> = api
        .get_all(&format!("{pull}/comments?per_page=100"))
        .await?;
    let reviews: Vec<plan::ExistingReview> =
        api.get_all(&format!("{pull}/reviews?per_page=100")).await?;
    let plan = plan::plan(report, &comments, &reviews, options.post.max_comments);
    outcome.already_present = plan.already_present;

    if plan.has_new() {
        let comments: Vec<&plan::InlineComment> = plan.inline.iter().map(|(_, c)| c).collect();
        let payload = json!({
            "commit_id": env.head_sha,
            "event": "COMMENT",
            "body": plan::review_body(&report.findings, &plan.not_inline),
            "comments": comments,
        });
        let route = format!("{pull}/reviews");
        match api.post(&route, &payload).await {
            Ok(_) => {
                outcome.posted = plan.inline.len();
                outcome.in_summary = plan.not_inline.len();
            }
            // GitHub refuses the whole review when one comment is off the diff, without saying which:
            // keep every finding by moving them all into the body.
            Err(GithubError::Api {
                status: 422,
                message,
                ..
            }) if !plan.inline.is_empty() => {
                tracing::warn!(
                    "GitHub refused the inline comments ({message}); posting the findings in the review body"
                );
                let all = plan.all_into_body("GitHub refused it as an inline comment");
                let payload = json!({
                    "commit_id": env.head_sha,
                    "event": "COMMENT",
                    "body": plan::review_body(&report.findings, &all),
                });
                api.post(&route, &payload).await?;
                outcome.in_summary = all.len();
            }
            Err(error) => return Err(error),
        }
    }

    for stale in &plan.stale {
        let id = stale.comment_id;
        let done = match stale.action {
            StaleAction::Delete => api
                .delete(&format!("/repos/{owner}/{repo}/pulls/comments/{id}"))
                .await
                .map(|_| outcome.removed += 1),
            StaleAction::ReplyFixed => api
                .post(
                    &format!("{pull}/comments/{id}/replies"),
                    &json!({ "body": plan::fixed_reply(&stale.fingerprint, &env.head_sha) }),
                )
                .await
                .map(|_| outcome.resolved += 1),
        };
        // Tidying up is best effort: a comment someone else deleted, or one we may not touch, is no failure.
        if let Err(error) = done {
            tracing::warn!("cannot tidy up review comment {id}: {error}");
        }
    }
    Ok(())
}

async fn upload_sarif(api: &mut Api, env: &GithubEnv, path: &Path) -> Result<(), GithubError> {
    let (owner, repo) = env.owner_repo();
    let body = sarif::upload_body(sarif::encode_file(path)?, &env.head_sha, env.pr_number);
    let route = format!("/repos/{owner}/{repo}/code-scanning/sarifs");
    match api.post(&route, &body).await {
        Ok(_) => Ok(()),
        Err(GithubError::Forbidden { message, .. })
        | Err(GithubError::Api {
            status: 404,
            message,
            ..
        }) => Err(GithubError::SarifRefused { message }),
        Err(error) => Err(error),
    }
}

fn degrade(
    env: &GithubEnv,
    report: &Report,
    reason: String,
    out: &mut (dyn Write + Send),
) -> Result<PostOutcome, GithubError> {
    tracing::warn!("not posting a review: {reason}");
    let outcome = PostOutcome {
        in_summary: report.findings.len(),
        degraded: Some(reason),
        ..PostOutcome::default()
    };
    emit_fallback(env, report, &outcome, out)?;
    Ok(outcome)
}

fn emit_fallback(
    env: &GithubEnv,
    report: &Report,
    outcome: &PostOutcome,
    out: &mut (dyn Write + Send),
) -> Result<(), GithubError> {
    crate::report::github::write_annotations(out, &report.findings).map_err(|source| {
        GithubError::Io {
            path: "stdout".into(),
            source,
        }
    })?;
    write_summary(env, report, outcome)
}

fn write_summary(
    env: &GithubEnv,
    report: &Report,
    outcome: &PostOutcome,
) -> Result<(), GithubError> {
    let Some(path) = &env.step_summary else {
        return Ok(());
    };
    annotate::append_step_summary(path, &annotate::step_summary(report, outcome)).map_err(
        |source| GithubError::Io {
            path: path.display().to_string(),
            source,
        },
    )
}
