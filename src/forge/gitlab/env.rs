//! What a GitLab merge-request pipeline tells hunkguard: API URL, project, merge request, commits and token.
//!
//! Read from the predefined CI/CD variables
//! (<https://docs.gitlab.com/ci/variables/predefined_variables/>) through a lookup function, so tests
//! never touch the process environment. Tokens are kept out of `Debug` output and error messages.

use std::fmt;
use std::path::PathBuf;

use super::GitlabError;

/// The variables holding a token that can post, in the order they are tried.
pub const TOKEN_VARS: [&str; 2] = ["HUNKGUARD_GITLAB_TOKEN", "GITLAB_TOKEN"];

/// The sentence every "cannot post" message contains, so users learn the fix wherever they see it.
pub const TOKEN_HELP: &str =
    "posting discussions needs a project access token or personal access token \
with the `api` scope in HUNKGUARD_GITLAB_TOKEN";

/// Which kind of token, which decides the header it travels in and whether it can post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A personal, project or group access token, sent as `PRIVATE-TOKEN`.
    Private,
    /// `CI_JOB_TOKEN`, sent as `JOB-TOKEN`. It cannot create notes or discussions.
    Job,
}

/// An API token. `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GitlabToken {
    kind: TokenKind,
    secret: String,
    /// The variable it came from, for messages.
    source: &'static str,
}

impl GitlabToken {
    /// A personal/project access token (sent as `PRIVATE-TOKEN`).
    pub fn private(secret: impl Into<String>, source: &'static str) -> Self {
        Self {
            kind: TokenKind::Private,
            secret: secret.into(),
            source,
        }
    }

    /// A CI job token (sent as `JOB-TOKEN`).
    pub fn job(secret: impl Into<String>) -> Self {
        Self {
            kind: TokenKind::Job,
            secret: secret.into(),
            source: "CI_JOB_TOKEN",
        }
    }

    /// Which kind of token this is.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The variable the token was read from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether this token can create discussions at all (a job token cannot).
    pub fn can_post(&self) -> bool {
        self.kind == TokenKind::Private
    }

    /// The HTTP header name GitLab expects for this kind of token.
    pub fn header_name(&self) -> &'static str {
        match self.kind {
            TokenKind::Private => "PRIVATE-TOKEN",
            TokenKind::Job => "JOB-TOKEN",
        }
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for GitlabToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabToken")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Display for GitlabToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (redacted)", self.source)
    }
}

/// What a GitLab merge-request pipeline tells us (from `CI_*` and the token variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabEnv {
    /// `CI_API_V4_URL` without a trailing slash, e.g. `https://gitlab.example.com/api/v4`.
    pub api_url: String,
    /// Project that owns the merge request: `CI_MERGE_REQUEST_PROJECT_ID`, else `CI_PROJECT_ID`.
    /// A numeric id or a `group/project` path (URL-encoded when used).
    pub project_id: String,
    /// `CI_MERGE_REQUEST_IID`: the `!N` number inside the project.
    pub mr_iid: u64,
    /// `CI_MERGE_REQUEST_DIFF_BASE_SHA`: the merge-base the merge request's diff starts from.
    pub base_sha: String,
    /// The head of the source branch: `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` in merged-results
    /// pipelines (where `CI_COMMIT_SHA` is a temporary merge commit), else `CI_COMMIT_SHA`.
    pub head_sha: String,
    /// The token to talk to the API with, if any.
    pub token: Option<GitlabToken>,
    /// Extra CA certificates (PEM) for a self-managed instance behind a private CA:
    /// `CI_SERVER_TLS_CA_FILE` (set by the runner), else `SSL_CERT_FILE`.
    pub ca_file: Option<PathBuf>,
}

impl GitlabEnv {
    /// Read the environment of the current merge-request pipeline job.
    pub fn from_env() -> Result<Self, GitlabError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the variables through `lookup` (a map in tests, the process environment in [`Self::from_env`]).
    ///
    /// Empty values count as unset: GitLab defines some variables as empty strings, for example
    /// `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` outside merged-results pipelines.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, GitlabError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let require = |name: &'static str| {
            get(name).ok_or_else(|| GitlabError::MissingVar {
                name,
                hint: if name.starts_with("CI_MERGE_REQUEST") {
                    "run the job in a merge-request pipeline (rules: if: $CI_PIPELINE_SOURCE == \"merge_request_event\")"
                } else {
                    "this must run in a GitLab CI/CD job"
                },
            })
        };

        let api_url = require("CI_API_V4_URL")?;
        let api_url = api_url.trim_end_matches('/').to_string();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://"))
            || reqwest::Url::parse(&api_url).is_err()
        {
            return Err(GitlabError::BadVar {
                name: "CI_API_V4_URL",
                value: api_url,
                reason: "expected an http(s) URL such as https://gitlab.example.com/api/v4",
            });
        }

        // In a pipeline for a merge request from a fork, CI_PROJECT_ID is the fork; the merge request
        // and its discussions live in the target project, CI_MERGE_REQUEST_PROJECT_ID.
        let project_id = match get("CI_MERGE_REQUEST_PROJECT_ID") {
            Some(id) => id,
            None => require("CI_PROJECT_ID")?,
        };

        let iid_text = require("CI_MERGE_REQUEST_IID")?;
        let mr_iid = iid_text.parse::<u64>().map_err(|_| GitlabError::BadVar {
            name: "CI_MERGE_REQUEST_IID",
            value: iid_text.clone(),
            reason: "expected a positive integer",
        })?;

        let base_sha = require("CI_MERGE_REQUEST_DIFF_BASE_SHA")?;
        check_sha("CI_MERGE_REQUEST_DIFF_BASE_SHA", &base_sha)?;
        let head_sha = match get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") {
            Some(sha) => {
                check_sha("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", &sha)?;
                sha
            }
            None => {
                let sha = require("CI_COMMIT_SHA")?;
                check_sha("CI_COMMIT_SHA", &sha)?;
                sha
            }
        };

        let token = TOKEN_VARS
            .iter()
            .find_map(|name| get(name).map(|secret| GitlabToken::private(secret, name)))
            .or_else(|| get("CI_JOB_TOKEN").map(GitlabToken::job));

        let ca_file = get("CI_SERVER_TLS_CA_FILE")
            .or_else(|| get("SSL_CERT_FILE"))
            .map(PathBuf::from);

        Ok(Self {
            api_url,
            project_id,
            mr_iid,
            base_sha,
            head_sha,
            token,
            ca_file,
        })
    }

    /// The merge request's API path prefix: `/projects/:id/merge_requests/:iid` (id URL-encoded).
    pub fn mr_path(&self) -> String {
        format!(
            "/projects/{}/merge_requests/{}",
            encode_path_segment(&self.project_id),
            self.mr_iid
        )
    }
}

fn check_sha(name: &'static str, value: &str) -> Result<(), GitlabError> {
    if (7..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitlabError::BadVar {
            name,
            value: value.to_string(),
            reason: "expected a commit sha",
        })
    }
}

/// Percent-encode one path segment (a `group/project` path becomes `group%2Fproject`, as GitLab wants).
pub(crate) fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4/"),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", "7"),
        (
            "CI_MERGE_REQUEST_DIFF_BASE_SHA",
            "1111111111111111111111111111111111111111",
        ),
        ("CI_COMMIT_SHA", "2222222222222222222222222222222222222222"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all: Vec<_> = BASE.to_vec();
        all.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        all.extend_from_slice(extra);
        all
    }

    #[test]
    fn reads_a_merge_request_pipeline() {
        let env = GitlabEnv::from_lookup(vars(&with(&[("GITLAB_TOKEN", "glpat-secret")]))).unwrap();
        assert_eq!(env.api_url, "https://gitlab.example.com/api/v4");
        assert_eq!(env.project_id, "42");
        assert_eq!(env.mr_iid, 7);
        assert_eq!(env.head_sha, "2".repeat(40));
        let token = env.token.as_ref().unwrap();
        assert_eq!(token.header_name(), "PRIVATE-TOKEN");
        assert_eq!(token.source(), "GITLAB_TOKEN");
        assert_eq!(env.mr_path(), "/projects/42/merge_requests/7");
    }

    #[test]
    fn prefers_the_merge_request_project_and_the_source_branch_head() {
        let env = GitlabEnv::from_lookup(vars(&with(&[
            ("CI_MERGE_REQUEST_PROJECT_ID", "group/sub project"),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
                "3333333333333333333333333333333333333333",
            ),
        ])))
        .unwrap();
        assert_eq!(
            env.mr_path(),
            "/projects/group%2Fsub%20project/merge_requests/7"
        );
        assert_eq!(env.head_sha, "3".repeat(40));
    }

    #[test]
    fn hunkguard_token_wins_and_job_token_is_last() {
        let env = GitlabEnv::from_lookup(vars(&with(&[
            ("CI_JOB_TOKEN", "job"),
            ("GITLAB_TOKEN", "second"),
            ("HUNKGUARD_GITLAB_TOKEN", "first"),
        ])))
        .unwrap();
        assert_eq!(env.token.as_ref().unwrap().secret(), "first");
        let env = GitlabEnv::from_lookup(vars(&with(&[("CI_JOB_TOKEN", "job")]))).unwrap();
        let token = env.token.unwrap();
        assert_eq!(token.kind(), TokenKind::Job);
        assert_eq!(token.header_name(), "JOB-TOKEN");
        assert!(!token.can_post());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let env =
            GitlabEnv::from_lookup(vars(&with(&[("HUNKGUARD_GITLAB_TOKEN", "glpat-SECRET")])))
                .unwrap();
        let shown = format!("{env:?} {}", env.token.as_ref().unwrap());
        assert!(!shown.contains("glpat-SECRET"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn missing_and_bad_variables_are_named() {
        let mut only = BASE.to_vec();
        only.retain(|(k, _)| *k != "CI_MERGE_REQUEST_IID");
        let err = GitlabEnv::from_lookup(vars(&only)).unwrap_err().to_string();
        assert!(err.contains("CI_MERGE_REQUEST_IID"), "{err}");
        assert!(err.contains("merge_request_event"), "{err}");

        let err = GitlabEnv::from_lookup(vars(&with(&[("CI_MERGE_REQUEST_IID", "seven")])))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CI_MERGE_REQUEST_IID") && err.contains("seven"),
            "{err}"
        );

        let err = GitlabEnv::from_lookup(vars(&with(&[("CI_API_V4_URL", "gitlab.example.com")])))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CI_API_V4_URL"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = GitlabEnv::from_lookup(vars(&with(&[
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
            ("HUNKGUARD_GITLAB_TOKEN", " "),
        ])))
        .unwrap();
        assert_eq!(env.head_sha, "2".repeat(40));
        assert!(env.token.is_none());
    }
}
