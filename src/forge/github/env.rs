//! What a GitHub Actions job tells hunkguard: the `GITHUB_*` variables and the event payload file.
//!
//! See <https://docs.github.com/en/actions/reference/variables-reference> and the
//! `pull_request` / `workflow_run` payloads in
//! <https://docs.github.com/en/webhooks/webhook-events-and-payloads>. Reading goes through a lookup
//! closure so that tests can fake the environment without touching the process's own.

use std::path::PathBuf;

use serde::Deserialize;

use super::GithubError;
use crate::report::Report;

/// Default REST endpoint; GitHub Enterprise Server sets `GITHUB_API_URL` to `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// An API token. Its `Debug` output is redacted and it has no `Display`, so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wrap a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The secret itself, for the HTTP client only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What a GitHub Actions job tells us about the pull request (from `GITHUB_*` and the event file).
#[derive(Debug, Clone)]
pub struct GithubEnv {
    /// REST API root without a trailing slash (`GITHUB_API_URL`).
    pub api_url: String,
    /// `owner/name` of the repository the pull request targets (`GITHUB_REPOSITORY`).
    pub repository: String,
    /// Pull request number.
    pub pr_number: u64,
    /// Tip of the base branch when the event fired (`pull_request.base.sha`); empty when unknown.
    pub base_sha: String,
    /// Head commit of the pull request; review comments are made on this commit.
    pub head_sha: String,
    /// `owner/name` of the repository the head branch lives in; `None` when the fork was deleted.
    pub head_repository: Option<String>,
    /// `GITHUB_EVENT_NAME` (`pull_request`, `workflow_run`, ...).
    pub event_name: String,
    /// `HUNKGUARD_GITHUB_TOKEN`, else `GITHUB_TOKEN` (empty values count as unset).
    pub token: Option<Token>,
    /// `GITHUB_STEP_SUMMARY`: the job summary file to append markdown to.
    pub step_summary: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: String,
}

#[derive(Deserialize)]
struct BranchRef {
    sha: String,
    #[serde(default)]
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    number: u64,
    base: BranchRef,
    head: BranchRef,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    pull_request: Option<PullRequestPayload>,
}

#[derive(Deserialize)]
struct RunPullRequest {
    number: u64,
}

#[derive(Deserialize)]
struct WorkflowRunPayload {
    head_sha: String,
    #[serde(default)]
    head_repository: Option<RepoRef>,
    #[serde(default)]
    pull_requests: Vec<RunPullRequest>,
}

#[derive(Deserialize)]
struct WorkflowRunEvent {
    workflow_run: Option<WorkflowRunPayload>,
}

/// The variables shared by every kind of job.
struct Common {
    api_url: String,
    repository: String,
    event_name: String,
    token: Option<Token>,
    step_summary: Option<PathBuf>,
}

fn non_empty(lookup: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    lookup(key).filter(|v| !v.trim().is_empty())
}

fn read_common(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Common, GithubError> {
    let repository = non_empty(lookup, "GITHUB_REPOSITORY").ok_or_else(|| {
        GithubError::Env(
            "GITHUB_REPOSITORY is not set: `hunkguard review`/`post` run inside GitHub Actions"
                .into(),
        )
    })?;
    if repository.split('/').filter(|p| !p.is_empty()).count() != 2 {
        return Err(GithubError::Env(format!(
            "GITHUB_REPOSITORY must be `owner/name`, got `{repository}`"
        )));
    }
    let api_url = non_empty(lookup, "GITHUB_API_URL")
        .unwrap_or_else(|| DEFAULT_API_URL.into())
        .trim_end_matches('/')
        .to_string();
    if api_url.parse::<http::Uri>().is_err() || !api_url.contains("://") {
        return Err(GithubError::Env(format!(
            "GITHUB_API_URL is not a URL: `{api_url}`"
        )));
    }
    let token = non_empty(lookup, "HUNKGUARD_GITHUB_TOKEN")
        .or_else(|| non_empty(lookup, "GITHUB_TOKEN"))
        .map(|t| Token::new(t.trim()));
    Ok(Common {
        api_url,
        repository,
        event_name: non_empty(lookup, "GITHUB_EVENT_NAME").unwrap_or_default(),
        token,
        step_summary: non_empty(lookup, "GITHUB_STEP_SUMMARY").map(PathBuf::from),
    })
}

fn read_event_file(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(PathBuf, String), GithubError> {
    let path = non_empty(lookup, "GITHUB_EVENT_PATH")
        .map(PathBuf::from)
        .ok_or_else(|| {
            GithubError::Env("GITHUB_EVENT_PATH is not set: run inside a GitHub Actions job".into())
        })?;
    let text = std::fs::read_to_string(&path).map_err(|source| GithubError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok((path, text))
}

impl GithubEnv {
    /// Read the environment of a `pull_request` job from the process environment.
    pub fn from_env() -> Result<Self, GithubError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Read the environment of a `pull_request` job through `lookup` (a variable name to its value).
    ///
    /// The event file must carry a `pull_request` object: `push` and other events have no pull request
    /// to review, and the error says so.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GithubError> {
        let common = read_common(&lookup)?;
        let (path, text) = read_event_file(&lookup)?;
        let event: PullRequestEvent =
            serde_json::from_str(&text).map_err(|source| GithubError::Decode {
                what: format!("event file {}", path.display()),
                source,
            })?;
        let pr = event.pull_request.ok_or_else(|| {
            GithubError::Env(format!(
                "the `{}` event has no pull request: run `hunkguard review` on `pull_request` events \
                 (use `hunkguard diff`/`check` elsewhere)",
                common.event_name
            ))
        })?;
        Ok(Self {
            api_url: common.api_url,
            repository: pr
                .base
                .repo
                .map(|r| r.full_name)
                .unwrap_or(common.repository),
            pr_number: pr.number,
            base_sha: pr.base.sha,
            head_sha: pr.head.sha,
            head_repository: pr.head.repo.map(|r| r.full_name),
            event_name: common.event_name,
            token: common.token,
            step_summary: common.step_summary,
        })
    }

    /// The environment of a `workflow_run` job that posts a report produced by another workflow.
    ///
    /// The pull request number is `pr_number` when given, else the first entry of the event's
    /// `workflow_run.pull_requests` (GitHub leaves that list empty for forks, hence the argument).
    /// The head sha is the triggering run's `head_sha` from the event (trusted: the artifact is not),
    /// else the report's.
    pub fn for_post(
        lookup: impl Fn(&str) -> Option<String>,
        pr_number: Option<u64>,
        report: &Report,
    ) -> Result<Self, GithubError> {
        let common = read_common(&lookup)?;
        let run = match read_event_file(&lookup) {
            Ok((path, text)) => {
                let event: WorkflowRunEvent =
                    serde_json::from_str(&text).map_err(|source| GithubError::Decode {
                        what: format!("event file {}", path.display()),
                        source,
                    })?;
                event.workflow_run
            }
            Err(_) => None,
        };
        let pr_number = pr_number
            .or_else(|| run.as_ref().and_then(|r| r.pull_requests.first().map(|p| p.number)))
            .ok_or_else(|| {
                GithubError::Env(
                    "no pull request number: pass --pr, or let the analysing job write pr.json next to \
                     the report (hunkguard review does)"
                        .into(),
                )
            })?;
        let head_sha = run
            .as_ref()
            .map(|r| r.head_sha.clone())
            .or_else(|| report.head_sha.clone())
            .ok_or_else(|| {
                GithubError::Env(
                    "the report has no head_sha and no workflow_run event gives one".into(),
                )
            })?;
        Ok(Self {
            api_url: common.api_url,
            repository: common.repository,
            pr_number,
            base_sha: report.base_sha.clone().unwrap_or_default(),
            head_sha,
            head_repository: run.and_then(|r| r.head_repository.map(|h| h.full_name)),
            event_name: common.event_name,
            token: common.token,
            step_summary: common.step_summary,
        })
    }

    /// `(owner, name)` of the base repository.
    pub fn owner_repo(&self) -> (&str, &str) {
        self.repository
            .split_once('/')
            .unwrap_or((self.repository.as_str(), ""))
    }

    /// Whether this is a `pull_request` job for a pull request from another repository, where GitHub
    /// hands out a read-only token (and no secrets).
    pub fn is_fork(&self) -> bool {
        self.event_name == "pull_request"
            && self.head_repository.as_deref() != Some(self.repository.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn event(dir: &tempfile::TempDir, body: &str) -> String {
        let path = dir.path().join("event.json");
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    }

    const PR_EVENT: &str = r#"{"action":"synchronize","number":7,"pull_request":{"number":7,
        "base":{"sha":"bbb","repo":{"full_name":"acme/app"}},
        "head":{"sha":"hhh","repo":{"full_name":"fork/app"}}}}"#;

    #[test]
    fn reads_a_pull_request_event_and_redacts_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let vars: HashMap<&str, String> = HashMap::from([
            ("GITHUB_EVENT_PATH", event(&dir, PR_EVENT)),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
            ("GITHUB_API_URL", "https://ghe.example.com/api/v3/".into()),
            ("GITHUB_TOKEN", "ghs_secret".into()),
            ("HUNKGUARD_GITHUB_TOKEN", "".into()),
        ]);
        let env = GithubEnv::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(env.pr_number, 7);
        assert_eq!(
            (env.base_sha.as_str(), env.head_sha.as_str()),
            ("bbb", "hhh")
        );
        assert_eq!(env.api_url, "https://ghe.example.com/api/v3");
        assert_eq!(env.owner_repo(), ("acme", "app"));
        assert!(env.is_fork());
        assert_eq!(env.token.as_ref().map(Token::expose), Some("ghs_secret"));
        assert!(!format!("{env:?}").contains("ghs_secret"));
    }

    #[test]
    fn the_hunkguard_token_wins_and_the_default_api_url_applies() {
        let dir = tempfile::tempdir().unwrap();
        let same = PR_EVENT.replace("fork/app", "acme/app");
        let vars: HashMap<&str, String> = HashMap::from([
            ("GITHUB_EVENT_PATH", event(&dir, &same)),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
            ("GITHUB_TOKEN", "a".into()),
            ("HUNKGUARD_GITHUB_TOKEN", "b".into()),
        ]);
        let env = GithubEnv::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert_eq!(env.api_url, DEFAULT_API_URL);
        assert_eq!(env.token, Some(Token::new("b")));
        assert!(!env.is_fork());
    }

    #[test]
    fn a_push_event_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let vars: HashMap<&str, String> = HashMap::from([
            (
                "GITHUB_EVENT_PATH",
                event(&dir, r#"{"ref":"refs/heads/main"}"#),
            ),
            ("GITHUB_EVENT_NAME", "push".into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
        ]);
        let err = GithubEnv::from_lookup(|k| vars.get(k).cloned()).unwrap_err();
        assert!(
            err.to_string().contains("`push` event has no pull request"),
            "{err}"
        );
    }

    #[test]
    fn post_takes_the_head_from_the_trusted_workflow_run_event() {
        let dir = tempfile::tempdir().unwrap();
        let run = r#"{"workflow_run":{"head_sha":"fff","head_repository":{"full_name":"fork/app"},
            "pull_requests":[{"number":3}]}}"#;
        let vars: HashMap<&str, String> = HashMap::from([
            ("GITHUB_EVENT_PATH", event(&dir, run)),
            ("GITHUB_EVENT_NAME", "workflow_run".into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
        ]);
        let report = Report {
            head_sha: Some("eee".into()),
            ..Report::default()
        };
        let env = GithubEnv::for_post(|k| vars.get(k).cloned(), None, &report).unwrap();
        assert_eq!((env.pr_number, env.head_sha.as_str()), (3, "fff"));
        assert!(!env.is_fork());
        let env = GithubEnv::for_post(|k| vars.get(k).cloned(), Some(9), &report).unwrap();
        assert_eq!(env.pr_number, 9);
    }
}
