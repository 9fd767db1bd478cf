//! GitHub pull-request reviews through the REST API (octocrab), with code-scanning SARIF upload and a
//! fallback to annotations and the job summary when the token cannot write or time runs out.
//!
//! One run posts at most one review (<https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request>):
//! `event: COMMENT` on the head commit, one inline comment per new finding that sits on a diff line (up to a
//! cap), everything else in the review body. Only comments written by the posting identity (`GET /user`,
//! else `github-actions[bot]` for the job token, else `--login`) are read back, and only their trailers;
//! comments whose finding is gone or moved are deleted, or answered when someone replied
//! (<https://docs.github.com/en/rest/pulls/comments>). Reports are on disk before anything here runs, so a
//! failing API degrades the review but never loses findings.
//!
//! Submodules: [`env`] (job environment), `client` (octocrab under the shared HTTP layer), [`annotate`]
//! (workflow commands and job summary), `sarif` (upload payload), `untrusted` (cleaning an artifact before
//! the privileged `post` job uses it).

pub mod annotate;
mod client;
pub mod env;
mod sarif;
mod untrusted;

use std::io::Write;
use std::path::{Path, PathBuf};

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use env::{GithubEnv, Token};

use super::comment::{self, Key};
pub use super::http::RetryPolicy;

use super::http::{Created, Deadline, Http, HttpError};
use super::plan::{self, OnForge, Plan, Thread, Tidy};
use super::{Forge, PostOptions, PostOutcome};
use crate::catalogue::Catalogue;
use crate::report::Report;
use client::Octo;

/// The login `GITHUB_TOKEN` posts as (`GET /user` is refused to that token).
pub const ACTIONS_LOGIN: &str = "github-actions[bot]";

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
    /// A request failed (after the retries), or the posting deadline passed.
    #[error(transparent)]
    Http(#[from] HttpError),
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
    /// The login whose comments are ours, when `GET /user` cannot tell (a GitHub App's `name[bot]`).
    pub login: Option<String>,
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
        let outcome = super::dry_run(report, &options.post);
        emit_fallback(env, report, &outcome, out)?;
        return Ok(outcome);
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
    let deadline = Deadline::after(options.post.deadline);
    let http = Http::new(
        Octo::new(&env.api_url, token, &options.retry)?,
        options.retry.clone(),
        deadline,
    );
    let mut outcome = PostOutcome::default();
    let posted = within(deadline, async {
        let mut forge = Github::new(&http, env, options).await?;
        super::review(
            &mut forge,
            report,
            &options.post,
            &env.head_sha,
            &mut outcome,
        )
        .await?;
        if let Some(path) = &options.upload_sarif {
            upload_sarif(&http, env, path).await?;
        }
        Ok(())
    })
    .await;
    match posted {
        Ok(()) => {}
        Err(GithubError::Http(HttpError::Forbidden { message, .. })) => {
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
    Ok(outcome)
}

/// Run `work`, but no longer than `deadline` (each request is bounded too; this also bounds the
/// waits between them).
async fn within<T>(
    deadline: Deadline,
    work: impl std::future::Future<Output = Result<T, GithubError>>,
) -> Result<T, GithubError> {
    match tokio::time::timeout(deadline.remaining(), work).await {
        Ok(done) => done,
        Err(_) => Err(GithubError::Http(HttpError::Deadline {
            method: "posting".into(),
            route: "the review".into(),
            budget: deadline.budget(),
            why: "the phase ran out of time".into(),
        })),
    }
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
    let http = Http::new(
        Octo::new(&env.api_url, token, &options.retry)?,
        options.retry.clone(),
        Deadline::after(options.post.deadline),
    );
    let pull: Pull = http.get(&route).await?.json(&route)?;
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

/// A review comment as listed by the API (only the fields we read).
#[derive(Debug, Deserialize)]
struct RawComment {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    in_reply_to_id: Option<u64>,
    #[serde(default)]
    user: Option<RawUser>,
}

/// A submitted review as listed by the API.
#[derive(Debug, Deserialize)]
struct RawReview {
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<RawUser>,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    login: String,
}

/// One inline comment of the review payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct InlineComment {
    path: String,
    body: String,
    line: u32,
    side: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_side: Option<&'static str>,
}

/// The GitHub adapter of one run.
struct Github<'a> {
    http: &'a Http<Octo>,
    env: &'a GithubEnv,
    /// Comments by this login are ours; nobody else's are read for markers.
    login: String,
    /// Written into everything this run posts.
    run: String,
    pull: String,
}

impl<'a> Github<'a> {
    async fn new(
        http: &'a Http<Octo>,
        env: &'a GithubEnv,
        options: &GithubOptions,
    ) -> Result<Self, GithubError> {
        let login = match &options.login {
            Some(login) => login.clone(),
            None => identity(http).await?,
        };
        let (owner, repo) = env.owner_repo();
        Ok(Self {
            http,
            env,
            login,
            run: super::run_id(&env.head_sha),
            pull: format!("/repos/{owner}/{repo}/pulls/{}", env.pr_number),
        })
    }

    fn is_ours(&self, user: &Option<RawUser>) -> bool {
        user.as_ref()
            .is_some_and(|u| u.login.eq_ignore_ascii_case(&self.login))
    }

    async fn comments(&self) -> Result<Vec<RawComment>, HttpError> {
        self.http
            .get_all(&format!("{}/comments?per_page=100", self.pull))
            .await
    }

    async fn reviews(&self) -> Result<Vec<RawReview>, HttpError> {
        self.http
            .get_all(&format!("{}/reviews?per_page=100", self.pull))
            .await
    }

    /// Whether a review of this run is on the pull request (its answer may have been lost).
    async fn review_landed(&self) -> Result<bool, HttpError> {
        Ok(self.reviews().await?.iter().any(|r| {
            self.is_ours(&r.user)
                && comment::trailer(r.body.as_deref().unwrap_or_default())
                    .run
                    .as_deref()
                    == Some(self.run.as_str())
        }))
    }

    /// Whether our answer to comment `id` is there.
    async fn answer_landed(&self, id: u64, key: &Key) -> Result<bool, HttpError> {
        Ok(self.comments().await?.iter().any(|c| {
            c.in_reply_to_id == Some(id)
                && self.is_ours(&c.user)
                && comment::trailer(&c.body).answers.contains(key)
        }))
    }

    async fn post_review(
        &self,
        body: String,
        comments: &[InlineComment],
    ) -> Result<Created, HttpError> {
        let mut payload = json!({
            "commit_id": self.env.head_sha,
            "event": "COMMENT",
            "body": body,
        });
        if !comments.is_empty() {
            payload["comments"] = json!(comments);
        }
        self.http
            .create(&format!("{}/reviews", self.pull), &payload, || {
                self.review_landed()
            })
            .await
    }

    /// The review body: the shared summary of `not_inline` and its trailer.
    fn review_body(
        &self,
        report: &Report,
        not_inline: &[(&crate::findings::Finding, Key, String)],
    ) -> (String, usize) {
        let (text, listed) = plan::summary(&report.findings, not_inline);
        let count = listed.len();
        (
            format!("{text}{}", comment::summary_trailer(&listed, &self.run)),
            count,
        )
    }
}

/// The login of the token: `GET /user`, or the Actions bot when the job token may not ask.
async fn identity(http: &Http<Octo>) -> Result<String, GithubError> {
    match http.get("/user").await {
        Ok(answer) => Ok(answer.json::<RawUser>("/user")?.login),
        Err(HttpError::Forbidden { .. }) | Err(HttpError::Status { status: 404, .. }) => {
            Ok(ACTIONS_LOGIN.to_string())
        }
        Err(error) => Err(error.into()),
    }
}

impl Forge for Github<'_> {
    type Error = GithubError;

    async fn read(&mut self) -> Result<OnForge, GithubError> {
        let comments = self.comments().await?;
        let reviews = self.reviews().await?;
        let mut on_forge = OnForge::default();
        for top in comments.iter().filter(|c| c.in_reply_to_id.is_none()) {
            if !self.is_ours(&top.user) {
                continue;
            }
            let Some(marked) = comment::trailer(&top.body).findings.into_iter().next() else {
                continue;
            };
            let replies: Vec<&RawComment> = comments
                .iter()
                .filter(|c| c.in_reply_to_id == Some(top.id))
                .collect();
            let answered = replies.iter().any(|r| {
                self.is_ours(&r.user) && comment::trailer(&r.body).answers.contains(&marked.key)
            });
            on_forge.threads.push(Thread {
                id: top.id.to_string(),
                key: marked.key,
                line: marked.line,
                replied: replies.iter().any(|r| !self.is_ours(&r.user)),
                answered,
                open: true,
            });
        }
        for review in reviews.iter().filter(|r| self.is_ours(&r.user)) {
            let trailer = comment::trailer(review.body.as_deref().unwrap_or_default());
            on_forge
                .listed
                .extend(trailer.findings.into_iter().map(|m| m.key));
        }
        Ok(on_forge)
    }

    async fn apply(
        &mut self,
        report: &Report,
        plan: &Plan<'_>,
        outcome: &mut PostOutcome,
    ) -> Result<(), GithubError> {
        if plan.has_new() {
            let comments: Vec<InlineComment> = plan
                .inline
                .iter()
                .map(|i| InlineComment {
                    path: i.finding.path.clone(),
                    body: comment::finding_body(i.finding, &i.key, i.line, &self.run),
                    line: i.line,
                    side: "RIGHT",
                    start_line: i.start_line,
                    start_side: i.start_line.map(|_| "RIGHT"),
                })
                .collect();
            let (body, listed) = self.review_body(report, &plan.not_inline);
            match self.post_review(body, &comments).await {
                Ok(_) => {
                    outcome.posted = plan.inline.len();
                    outcome.in_summary = listed;
                }
                // GitHub refuses the whole review when one comment is off the diff, without saying
                // which: keep every finding by moving them all into the body.
                Err(HttpError::Status {
                    status: 422,
                    message,
                    ..
                }) if !plan.inline.is_empty() => {
                    tracing::warn!(
                        "GitHub refused the inline comments ({message}); posting the findings in the review body"
                    );
                    let all = plan.all_into_summary("GitHub refused it as an inline comment");
                    let (body, listed) = self.review_body(report, &all);
                    self.post_review(body, &[]).await?;
                    outcome.in_summary = listed;
                }
                Err(error) => return Err(error.into()),
            }
        }

        let (owner, repo) = self.env.owner_repo();
        for stale in &plan.stale {
            let Ok(id) = stale.id.parse::<u64>() else {
                continue;
            };
            let done = match &stale.action {
                Tidy::Remove => {
                    let route = format!("/repos/{owner}/{repo}/pulls/comments/{id}");
                    match self.http.send(Method::DELETE, &route, None).await {
                        // Gone already (someone else deleted it, or an earlier attempt did).
                        Ok(_) | Err(HttpError::Status { status: 404, .. }) => {
                            outcome.removed += 1;
                            Ok(())
                        }
                        Err(error) => Err(error),
                    }
                }
                Tidy::Answer(why) => {
                    let route = format!("{}/comments/{id}/replies", self.pull);
                    let body = json!({ "body": comment::answer_body(&stale.key, why, &self.run) });
                    self.http
                        .create(&route, &body, || self.answer_landed(id, &stale.key))
                        .await
                        .map(|_| outcome.resolved += 1)
                }
            };
            match done {
                Ok(()) => {}
                Err(error @ HttpError::Deadline { .. }) => return Err(error.into()),
                // Tidying up is best effort: a comment we may not touch is no failure.
                Err(error) => tracing::warn!("cannot tidy up review comment {id}: {error}"),
            }
        }
        Ok(())
    }
}

async fn upload_sarif(http: &Http<Octo>, env: &GithubEnv, path: &Path) -> Result<(), GithubError> {
    let (owner, repo) = env.owner_repo();
    let body = sarif::upload_body(sarif::encode_file(path)?, &env.head_sha, env.pr_number);
    let route = format!("/repos/{owner}/{repo}/code-scanning/sarifs");
    // A second upload of the same analysis replaces the first: repeating it is harmless.
    match http.create(&route, &body, || async { Ok(false) }).await {
        Ok(_) => Ok(()),
        Err(HttpError::Forbidden { message, .. })
        | Err(HttpError::Status {
            status: 404,
            message,
            ..
        }) => Err(GithubError::SarifRefused { message }),
        Err(error) => Err(error.into()),
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
