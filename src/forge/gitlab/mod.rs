//! GitLab merge requests: findings become diff discussions plus one summary note (REST API v4).
//!
//! API references: discussions <https://docs.gitlab.com/api/discussions/#merge-requests>, notes
//! <https://docs.gitlab.com/api/notes/#merge-requests>, merge request versions
//! <https://docs.gitlab.com/api/merge_requests/#get-merge-request-diff-versions>.
//!
//! One run: read the merge request's diff refs, list the discussions already there, open a discussion
//! for each new finding that [`super::anchor`] places on a diff line (up to the cap), resolve our
//! discussions whose finding is gone, and create or update in place the one summary note. Fingerprint
//! markers in the bodies make re-runs post nothing twice. A token that cannot post (the job token, a
//! 401/403) degrades the run: the reports are already on disk and the outcome says why.

mod client;
mod env;

use std::collections::BTreeSet;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

pub use client::{RetryPolicy, Timeouts};
pub use env::{GitlabEnv, GitlabToken, TokenKind, TOKEN_HELP, TOKEN_VARS};

use super::comment;
use super::{anchor, Anchor, PostOptions, PostOutcome};
use crate::findings::Finding;
use crate::report::Report;
use client::Client;

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
    /// The request failed on the network (after the retries).
    #[error("GitLab {method} {path} failed: {source}")]
    Http {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// The token was refused (401) or may not do this (403).
    #[error("GitLab answered {status} to {method} {path} ({message}): {TOKEN_HELP}")]
    Forbidden {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// Any other non-2xx answer (after the retries).
    #[error("GitLab answered {status} to {method} {path}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// A 2xx answer that is not the JSON we expected.
    #[error("unexpected GitLab answer for {what}: {source}")]
    BadResponse {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Neither the merge request nor its versions name the diff's commits.
    #[error(
        "GitLab has no diff refs for merge request !{iid} yet (its diff is still being prepared)"
    )]
    NoDiffRefs { iid: u64 },
}

/// Options of a GitLab review run.
#[derive(Debug, Clone, Default)]
pub struct GitlabOptions {
    /// Options shared by every forge (the inline cap).
    pub post: PostOptions,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Request timeouts.
    pub timeouts: Timeouts,
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
}

/// A discussion we opened earlier, found by the fingerprint marker in its first note.
#[derive(Debug)]
struct OurDiscussion {
    id: String,
    fingerprint: String,
    /// Resolvable and not yet resolved.
    open: bool,
}

/// What the merge request already holds from us.
#[derive(Debug, Default)]
struct Existing {
    discussions: Vec<OurDiscussion>,
    /// The summary note: (note id, body).
    summary: Option<(u64, String)>,
}

/// Post discussions and the summary note for `report`; the reports must already be on disk.
///
/// Returns what was done. A token that cannot post yields `Ok` with [`PostOutcome::degraded`] set;
/// other failures (network, 404, 5xx after retries) are errors, with nothing lost but the comments.
pub async fn publish(
    env: &GitlabEnv,
    report: &Report,
    options: &GitlabOptions,
) -> Result<PostOutcome, GitlabError> {
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
    let client = Client::new(env, token, options.retry.clone(), &options.timeouts)?;
    match review(&client, env, report, &options.post, &mut outcome).await {
        Ok(()) => Ok(outcome),
        Err(err @ GitlabError::Forbidden { .. }) => {
            outcome.degraded = Some(err.to_string());
            Ok(outcome)
        }
        Err(err) => Err(err),
    }
}

async fn review(
    client: &Client,
    env: &GitlabEnv,
    report: &Report,
    post: &PostOptions,
    outcome: &mut PostOutcome,
) -> Result<(), GitlabError> {
    let mr = env.mr_path();
    let reviewed_head = report.head_sha.as_deref().unwrap_or(&env.head_sha);
    let Some(refs) = diff_refs(client, &mr, env.mr_iid, reviewed_head).await? else {
        outcome.degraded = Some(format!(
            "merge request !{} has moved on from {}, the commit this run reviewed; \
             the pipeline of its new head posts that review",
            env.mr_iid,
            short(reviewed_head)
        ));
        return Ok(());
    };
    let existing = existing(client, &mr).await?;
    let known: BTreeSet<&str> = existing
        .discussions
        .iter()
        .map(|d| d.fingerprint.as_str())
        .collect();

    // New discussions, one request at a time (GitLab rate-limits note creation per user).
    let mut posted_now: BTreeSet<&str> = BTreeSet::new();
    let mut not_inline: Vec<(&Finding, String)> = Vec::new();
    for finding in &report.findings {
        if known.contains(finding.fingerprint.as_str())
            || posted_now.contains(finding.fingerprint.as_str())
        {
            outcome.already_present += 1;
            continue;
        }
        let line = match anchor(report, finding) {
            Anchor::Lines { line, .. } => line,
            Anchor::Unanchored(why) => {
                not_inline.push((finding, why));
                continue;
            }
        };
        if outcome.posted >= post.max_comments {
            not_inline.push((
                finding,
                format!(
                    "over the limit of {} new inline comments per run",
                    post.max_comments
                ),
            ));
            continue;
        }
        let body = json!({
            "body": comment::finding_body(finding),
            "position": position(report, finding, line, &refs),
        });
        let path = format!("{mr}/discussions");
        match client.send(Method::POST, &path, &[], Some(&body)).await {
            Ok(_) => {
                outcome.posted += 1;
                posted_now.insert(&finding.fingerprint);
            }
            // GitLab refuses a position it cannot place ("line_code can't be blank"); the finding
            // is still shown, in the summary, and the other discussions go on.
            Err(GitlabError::Status {
                status: 400 | 422,
                message,
                ..
            }) => not_inline.push((
                finding,
                format!("GitLab refused the diff position: {message}"),
            )),
            Err(err) => return Err(err),
        }
    }

    // Our discussions whose finding is gone were fixed: resolve them (replies stay readable).
    // Resolving needs the Developer role: a Reporter token may comment but gets 403 here, which
    // must not stop the summary from being updated.
    let current: BTreeSet<&str> = report
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    for discussion in &existing.discussions {
        if discussion.open && !current.contains(discussion.fingerprint.as_str()) {
            let path = format!("{mr}/discussions/{}", discussion.id);
            let query = [("resolved", "true".to_string())];
            match client.send(Method::PUT, &path, &query, None).await {
                Ok(_) => outcome.resolved += 1,
                Err(GitlabError::Forbidden { status, .. }) => {
                    outcome.degraded = Some(format!(
                        "GitLab answered {status} to resolving a fixed thread: {RESOLVE_HELP}"
                    ));
                    break;
                }
                Err(err) => return Err(err),
            }
        }
    }

    // The summary: one note, edited in place. A clean merge request without one gets none.
    outcome.in_summary = not_inline.len();
    let body = format!(
        "{}\n<sub>hunkguard {} reviewed {}.</sub>\n",
        comment::summary_body(&report.findings, &not_inline),
        env!("CARGO_PKG_VERSION"),
        short(reviewed_head)
    );
    match existing.summary {
        Some((_, old)) if old.trim_end() == body.trim_end() => {}
        Some((note_id, _)) => {
            let path = format!("{mr}/notes/{note_id}");
            client
                .send(Method::PUT, &path, &[], Some(&json!({ "body": body })))
                .await?;
        }
        None if report.findings.is_empty() => {}
        None => {
            let path = format!("{mr}/notes");
            client
                .send(Method::POST, &path, &[], Some(&json!({ "body": body })))
                .await?;
        }
    }
    Ok(())
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
    client: &Client,
    mr: &str,
    iid: u64,
    reviewed_head: &str,
) -> Result<Option<DiffRefs>, GitlabError> {
    let reply = client.send(Method::GET, mr, &[], None).await?;
    let merge_request: RawMergeRequest = reply.json("the merge request")?;
    let latest = merge_request
        .diff_refs
        .and_then(|r| complete(r.base_sha, r.start_sha, r.head_sha));
    if let Some(refs) = &latest {
        if same_commit(&refs.head_sha, reviewed_head) {
            return Ok(latest);
        }
    }
    let reply = client
        .send(Method::GET, &format!("{mr}/versions"), &[], None)
        .await?;
    let versions: Vec<RawVersion> = reply.json("the merge request versions")?;
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

/// List every discussion of the merge request and keep ours: fingerprinted threads and the summary.
async fn existing(client: &Client, mr: &str) -> Result<Existing, GitlabError> {
    let raw = client
        .get_all(
            &format!("{mr}/discussions"),
            "the merge request discussions",
        )
        .await?;
    let mut found = Existing::default();
    for value in raw {
        let discussion: RawDiscussion = match serde_json::from_value(value) {
            Ok(d) => d,
            Err(err) => {
                tracing::debug!("skipping a discussion GitLab described oddly: {err}");
                continue;
            }
        };
        // Only the first note counts: a reply that quotes our comment is not ours.
        let Some(first) = discussion.notes.first().filter(|n| !n.system) else {
            continue;
        };
        if first.body.contains(comment::SUMMARY_MARKER) {
            if found.summary.is_none() {
                found.summary = Some((first.id, first.body.clone()));
            }
            continue;
        }
        let Some(fingerprint) = comment::parse_marker(&first.body) else {
            continue;
        };
        let resolvable: Vec<&RawNote> = discussion.notes.iter().filter(|n| n.resolvable).collect();
        let open = !resolvable.is_empty() && resolvable.iter().any(|n| !n.resolved);
        // Two threads for one finding (an earlier race) are both kept, so both get resolved.
        found.discussions.push(OurDiscussion {
            id: discussion.id,
            fingerprint,
            open,
        });
    }
    Ok(found)
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
