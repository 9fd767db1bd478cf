//! GitLab merge requests: findings become diff discussions plus one summary note (REST API v4).
//!
//! API references: discussions <https://docs.gitlab.com/api/discussions/#merge-requests>, notes
//! <https://docs.gitlab.com/api/notes/#merge-requests>, merge request versions
//! <https://docs.gitlab.com/api/merge_requests/#get-merge-request-diff-versions>.
//!
//! One run: read the merge request's diff refs, read back the discussions our token's user wrote
//! (`GET /user`; only their trailers), apply the shared [`super::plan`]: open a discussion for each new
//! finding on a diff line (up to the cap), resolve our discussions whose finding is gone or moved (and
//! answer them when someone replied), and create or update in place the one summary note. A token that
//! cannot post (the job token, a 401/403) degrades the run: the reports are already on disk and the
//! outcome says why.

mod client;
mod env;

use serde::Deserialize;
use serde_json::{json, Value};

pub use super::http::RetryPolicy;
pub use env::{GitlabEnv, GitlabToken, TokenKind, TOKEN_HELP, TOKEN_VARS};

use super::comment::{self, Key};
use super::http::{Deadline, Http, HttpError};
use super::plan::{self, OnForge, Plan, Thread, Tidy};
use super::{Forge, PostOptions, PostOutcome};
use crate::findings::Finding;
use crate::report::Report;
use client::Rest;
use http::Method;

/// Why resolving a fixed thread can fail with 403 although posting worked.
pub const RESOLVE_HELP: &str =
    "resolving threads needs a token whose user or bot has the Developer \
role (a Reporter may comment but not resolve)";

/// Errors of the GitLab forge. None of them contains a token.
#[derive(Debug, thiserror::Error)]
pub enum GitlabError {
    /// A CI variable is missing.
    #[error("{name} is not set: {hint}")]
    MissingVar {
        name: &'static str,
        hint: &'static str,
    },
    /// A CI variable has a value hunkguard cannot use.
    #[error("{name}={value:?} is not usable: {reason}")]
    BadVar {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The CA file of a self-managed instance cannot be used.
    #[error("cannot use the CA certificates in {path}: {reason}")]
    CaFile { path: String, reason: String },
    /// The token was refused (401) or may not do this (403).
    #[error("GitLab answered {status} to {method} {path} ({message}): {TOKEN_HELP}")]
    Forbidden {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// A request failed (after the retries), or the posting deadline passed.
    #[error("GitLab: {0}")]
    Http(HttpError),
    /// A 2xx answer that is not the JSON we expected.
    #[error("unexpected GitLab answer for {what}: {source}")]
    BadResponse {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// Neither the merge request nor its versions name the diff's commits.
    #[error(
        "GitLab has no diff refs for merge request !{iid} yet (its diff is still being prepared)"
    )]
    NoDiffRefs { iid: u64 },
}

impl From<HttpError> for GitlabError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Forbidden {
                method,
                route,
                status,
                message,
            } => GitlabError::Forbidden {
                method,
                path: route,
                status,
                message,
            },
            HttpError::Decode { route, source } => GitlabError::BadResponse {
                what: route,
                source,
            },
            other => GitlabError::Http(other),
        }
    }
}

/// Options of a GitLab review run.
#[derive(Debug, Clone)]
pub struct GitlabOptions {
    /// Options shared by every forge (the inline cap, the deadline).
    pub post: PostOptions,
    /// How failed requests are retried, paced and timed out.
    pub retry: RetryPolicy,
    /// Call no API: say what would be posted.
    pub dry_run: bool,
}

impl Default for GitlabOptions {
    fn default() -> Self {
        Self {
            post: PostOptions::default(),
            // GitLab limits note creation per minute, not per second: no pause between requests.
            retry: RetryPolicy::default().with_spacing(std::time::Duration::ZERO),
            dry_run: false,
        }
    }
}

/// The three commits a diff position needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiffRefs {
    base_sha: String,
    start_sha: String,
    head_sha: String,
}

#[derive(Debug, Deserialize)]
struct RawDiffRefs {
    base_sha: Option<String>,
    start_sha: Option<String>,
    head_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawMergeRequest {
    diff_refs: Option<RawDiffRefs>,
}

#[derive(Debug, Deserialize)]
struct RawVersion {
    base_commit_sha: Option<String>,
    start_commit_sha: Option<String>,
    head_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawDiscussion {
    id: String,
    #[serde(default)]
    notes: Vec<RawNote>,
}

#[derive(Debug, Deserialize)]
struct RawNote {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    resolvable: bool,
    #[serde(default)]
    resolved: bool,
    #[serde(default)]
    author: Option<RawUser>,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    id: u64,
}

/// Post discussions and the summary note for `report`; the reports must already be on disk.
///
/// Returns what was done. A token that cannot post yields `Ok` with [`PostOutcome::degraded`] set;
/// other failures (network, 404, 5xx after retries, the deadline) are errors, with nothing lost but
/// the comments.
pub async fn publish(
    env: &GitlabEnv,
    report: &Report,
    options: &GitlabOptions,
) -> Result<PostOutcome, GitlabError> {
    if options.dry_run {
        return Ok(super::dry_run(report, &options.post));
    }
    let mut outcome = PostOutcome::default();
    let token = match &env.token {
        None => {
            outcome.degraded = Some(format!(
                "no GitLab token is set (tried {}): {TOKEN_HELP}",
                TOKEN_VARS.join(", ")
            ));
            return Ok(outcome);
        }
        Some(token) if !token.can_post() => {
            outcome.degraded = Some(format!(
                "only CI_JOB_TOKEN is available and it cannot create merge request discussions: {TOKEN_HELP}"
            ));
            return Ok(outcome);
        }
        Some(token) => token.clone(),
    };
    let deadline = Deadline::after(options.post.deadline);
    let http = Http::new(
        Rest::new(env, token, &options.retry)?,
        options.retry.clone(),
        deadline,
    );
    let work = review(&http, env, report, &options.post, &mut outcome);
    let done = match tokio::time::timeout(deadline.remaining(), work).await {
        Ok(done) => done,
        Err(_) => Err(GitlabError::Http(HttpError::Deadline {
            method: "posting".into(),
            route: "the review".into(),
            budget: deadline.budget(),
            why: "the phase ran out of time".into(),
        })),
    };
    match done {
        Ok(()) => Ok(outcome),
        Err(err @ GitlabError::Forbidden { .. }) => {
            outcome.degraded = Some(err.to_string());
            Ok(outcome)
        }
        Err(err) => Err(err),
    }
}

async fn review(
    http: &Http<Rest>,
    env: &GitlabEnv,
    report: &Report,
    post: &PostOptions,
    outcome: &mut PostOutcome,
) -> Result<(), GitlabError> {
    let mr = env.mr_path();
    let reviewed_head = report.head_sha.as_deref().unwrap_or(&env.head_sha);
    let Some(refs) = diff_refs(http, &mr, env.mr_iid, reviewed_head).await? else {
        outcome.degraded = Some(format!(
            "merge request !{} has moved on from {}, the commit this run reviewed; \
             the pipeline of its new head posts that review",
            env.mr_iid,
            short(reviewed_head)
        ));
        return Ok(());
    };
    let me: RawUser = http.get("/user").await?.json("/user")?;
    let mut forge = Gitlab {
        http,
        mr,
        me: me.id,
        run: super::run_id(reviewed_head),
        refs,
        head: reviewed_head.to_string(),
        summary: None,
    };
    super::review(&mut forge, report, post, reviewed_head, outcome).await
}

/// The GitLab adapter of one run.
struct Gitlab<'a> {
    http: &'a Http<Rest>,
    mr: String,
    /// The id of the token's user: notes by anyone else are never read for markers.
    me: u64,
    /// Written into everything this run posts.
    run: String,
    refs: DiffRefs,
    head: String,
    /// Our summary note, found by [`Forge::read`]: (note id, body).
    summary: Option<(u64, String)>,
}

impl Gitlab<'_> {
    fn is_ours(&self, note: &RawNote) -> bool {
        !note.system && note.author.as_ref().is_some_and(|a| a.id == self.me)
    }

    async fn discussions(&self) -> Result<Vec<RawDiscussion>, HttpError> {
        let raw: Vec<Value> = self
            .http
            .get_all(&format!("{}/discussions?per_page=100&page=1", self.mr))
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|value| match serde_json::from_value(value) {
                Ok(d) => Some(d),
                Err(err) => {
                    tracing::debug!("skipping a discussion GitLab described oddly: {err}");
                    None
                }
            })
            .collect())
    }

    /// Whether a note of ours that this run wrote and that `wanted` accepts is on the merge request.
    async fn landed(&self, wanted: impl Fn(&comment::Trailer) -> bool) -> Result<bool, HttpError> {
        Ok(self.discussions().await?.iter().any(|d| {
            d.notes.iter().any(|n| {
                let trailer = comment::trailer(&n.body);
                self.is_ours(n)
                    && trailer.run.as_deref() == Some(self.run.as_str())
                    && wanted(&trailer)
            })
        }))
    }

    async fn resolve(&self, id: &str, outcome: &mut PostOutcome) -> Result<bool, GitlabError> {
        let route = format!("{}/discussions/{id}?resolved=true", self.mr);
        match self.http.send(Method::PUT, &route, None).await {
            Ok(_) => {
                outcome.resolved += 1;
                Ok(true)
            }
            // Resolving needs the Developer role: a Reporter token may comment but gets 403 here,
            // which must not stop the summary from being updated.
            Err(HttpError::Forbidden { status, .. }) => {
                outcome.degraded = Some(format!(
                    "GitLab answered {status} to resolving a fixed thread: {RESOLVE_HELP}"
                ));
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn write_summary(
        &self,
        report: &Report,
        not_inline: &[(&Finding, Key, String)],
        outcome: &mut PostOutcome,
    ) -> Result<(), GitlabError> {
        let (text, listed) = plan::summary(&report.findings, not_inline);
        outcome.in_summary = listed.len();
        let body = format!(
            "{text}\n<sub>hunkguard {} reviewed {}.</sub>\n{}",
            env!("CARGO_PKG_VERSION"),
            short(&self.head),
            comment::summary_trailer(&listed, &self.run)
        );
        match &self.summary {
            Some((_, old))
                if comment::without_run_marker(old) == comment::without_run_marker(&body) => {}
            Some((note_id, _)) => {
                let route = format!("{}/notes/{note_id}", self.mr);
                self.http
                    .send(Method::PUT, &route, Some(&json!({ "body": body })))
                    .await?;
            }
            // A clean merge request without a summary gets none.
            None if report.findings.is_empty() => {}
            None => {
                let route = format!("{}/notes", self.mr);
                self.http
                    .create(&route, &json!({ "body": body }), || {
                        self.landed(|t| t.summary)
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

impl Forge for Gitlab<'_> {
    type Error = GitlabError;

    async fn read(&mut self) -> Result<OnForge, GitlabError> {
        let mut on_forge = OnForge::default();
        for discussion in self.discussions().await? {
            // Only the first note counts: a reply that quotes our comment is not ours.
            let Some(first) = discussion.notes.first().filter(|n| self.is_ours(n)) else {
                continue;
            };
            let trailer = comment::trailer(&first.body);
            // The summary is rewritten by every run, so what it lists is listed again, not "present".
            if trailer.summary {
                if self.summary.is_none() {
                    self.summary = Some((first.id, first.body.clone()));
                }
                continue;
            }
            let Some(marked) = trailer.findings.into_iter().next() else {
                continue;
            };
            let replies = &discussion.notes[1..];
            let resolvable: Vec<&RawNote> =
                discussion.notes.iter().filter(|n| n.resolvable).collect();
            on_forge.threads.push(Thread {
                id: discussion.id.clone(),
                answered: replies.iter().any(|r| {
                    self.is_ours(r) && comment::trailer(&r.body).answers.contains(&marked.key)
                }),
                replied: replies.iter().any(|r| !r.system && !self.is_ours(r)),
                open: resolvable.iter().any(|n| !n.resolved),
                key: marked.key,
                line: marked.line,
            });
        }
        Ok(on_forge)
    }

    async fn apply(
        &mut self,
        report: &Report,
        plan: &Plan<'_>,
        outcome: &mut PostOutcome,
    ) -> Result<(), GitlabError> {
        // New discussions, one request at a time (GitLab rate-limits note creation per user).
        let mut not_inline = plan.not_inline.clone();
        let route = format!("{}/discussions", self.mr);
        for inline in &plan.inline {
            let body = json!({
                "body": comment::finding_body(inline.finding, &inline.key, inline.line, &self.run),
                "position": position(report, inline.finding, inline.line, &self.refs),
            });
            let landed =
                || self.landed(|t| t.findings.first().is_some_and(|m| m.key == inline.key));
            match self.http.create(&route, &body, landed).await {
                Ok(_) => outcome.posted += 1,
                // GitLab refuses a position it cannot place ("line_code can't be blank"); the finding
                // is still shown, in the summary, and the other discussions go on.
                Err(HttpError::Status {
                    status: 400 | 422,
                    message,
                    ..
                }) => not_inline.push((
                    inline.finding,
                    inline.key.clone(),
                    format!("GitLab refused the diff position: {message}"),
                )),
                Err(err) => return Err(err.into()),
            }
        }

        // Our threads whose finding is gone or moved: answered when someone replied, then resolved.
        for stale in &plan.stale {
            if let Tidy::Answer(why) = &stale.action {
                let route = format!("{}/discussions/{}/notes", self.mr, stale.id);
                let body = json!({ "body": comment::answer_body(&stale.key, why, &self.run) });
                self.http
                    .create(&route, &body, || {
                        self.landed(|t| t.answers.contains(&stale.key))
                    })
                    .await?;
            }
            if !self.resolve(&stale.id, outcome).await? {
                break;
            }
        }

        // The summary: one note, edited in place.
        self.write_summary(report, &not_inline, outcome).await
    }
}

/// The diff position of an added line: both paths (old = new for an added file), the line on the
/// new side only, and the three commits of the merge request version we reviewed.
fn position(report: &Report, finding: &Finding, line: u32, refs: &DiffRefs) -> Value {
    let old_path = report
        .files
        .iter()
        .find(|f| f.path == finding.path)
        .and_then(|f| f.old_path.clone())
        .unwrap_or_else(|| finding.path.clone());
    json!({
        "position_type": "text",
        "base_sha": refs.base_sha,
        "start_sha": refs.start_sha,
        "head_sha": refs.head_sha,
        "old_path": old_path,
        "new_path": finding.path,
        "new_line": line,
    })
}

/// The diff refs of the merge request version whose head is `reviewed_head`.
///
/// `diff_refs` on the merge request describe its latest version; when it is not filled in yet, or a
/// newer push moved the head while we reviewed, the versions list names every version's commits.
/// `None` when no version has our head (the merge request moved on to commits we did not review).
async fn diff_refs(
    http: &Http<Rest>,
    mr: &str,
    iid: u64,
    reviewed_head: &str,
) -> Result<Option<DiffRefs>, GitlabError> {
    let merge_request: RawMergeRequest = http.get(mr).await?.json("the merge request")?;
    let latest = merge_request
        .diff_refs
        .and_then(|r| complete(r.base_sha, r.start_sha, r.head_sha));
    if let Some(refs) = &latest {
        if same_commit(&refs.head_sha, reviewed_head) {
            return Ok(latest);
        }
    }
    let versions: Vec<RawVersion> = http
        .get(&format!("{mr}/versions"))
        .await?
        .json("the merge request versions")?;
    let versions: Vec<DiffRefs> = versions
        .into_iter()
        .filter_map(|v| complete(v.base_commit_sha, v.start_commit_sha, v.head_commit_sha))
        .collect();
    if let Some(refs) = versions
        .iter()
        .find(|v| same_commit(&v.head_sha, reviewed_head))
    {
        return Ok(Some(refs.clone()));
    }
    if latest.is_none() && versions.is_empty() {
        return Err(GitlabError::NoDiffRefs { iid });
    }
    Ok(None)
}

fn complete(base: Option<String>, start: Option<String>, head: Option<String>) -> Option<DiffRefs> {
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Some(DiffRefs {
        base_sha: nonempty(base)?,
        start_sha: nonempty(start)?,
        head_sha: nonempty(head)?,
    })
}

/// Full shas compare equal; an abbreviated one matches as a prefix.
fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a.starts_with(&b) || b.starts_with(&a)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shas_match_in_full_or_abbreviated() {
        assert!(same_commit(&"a".repeat(40), "aaaaaaa"));
        assert!(same_commit("ABCDEF1", "abcdef1234"));
        assert!(!same_commit("abcdef1", "abcdef2"));
    }

    #[test]
    fn diff_refs_need_all_three_commits() {
        assert!(complete(Some("a".into()), Some("b".into()), Some("c".into())).is_some());
        assert!(complete(Some("a".into()), None, Some("c".into())).is_none());
        assert!(complete(Some("a".into()), Some(String::new()), Some("c".into())).is_none());
    }

    #[test]
    fn positions_name_both_paths_and_the_new_line() {
        let mut report = crate::report::fixtures::report();
        let refs = DiffRefs {
            base_sha: "b".into(),
            start_sha: "s".into(),
            head_sha: "h".into(),
        };
        let finding = report.findings[0].clone();
        let p = position(&report, &finding, 12, &refs);
        assert_eq!(p["old_path"], "app/db.py");
        assert_eq!(p["new_path"], "app/db.py");
        assert_eq!(p["new_line"], 12);
        assert!(p.get("old_line").is_none());
        report.files[0].old_path = Some("app/old_db.py".into());
        let p = position(&report, &finding, 12, &refs);
        assert_eq!(p["old_path"], "app/old_db.py");
    }
}
