//! reqwest as the [`Transport`] of the shared HTTP layer for GitLab REST API v4: the token header, a
//! self-managed instance's CA, one request and its whole answer. Retries, pagination and the deadline
//! are [`crate::forge::http`]'s.

use std::path::Path;

use http::Method;
use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use serde_json::Value;

use super::env::{GitlabEnv, GitlabToken};
use super::GitlabError;
use crate::forge::http::{Answer, RetryPolicy, Transport, TransportError};

/// Talks to one GitLab instance with one token.
pub(crate) struct Rest {
    http: reqwest::Client,
    api_url: String,
    token: GitlabToken,
}

impl Rest {
    pub(crate) fn new(
        env: &GitlabEnv,
        token: GitlabToken,
        policy: &RetryPolicy,
    ) -> Result<Self, GitlabError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hunkguard/", env!("CARGO_PKG_VERSION"))),
        );
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            // The whole-request timeout is the shared layer's, so that it is reported as a timeout.
            .connect_timeout(policy.connect_timeout);
        if let Some(path) = &env.ca_file {
            for certificate in read_ca_file(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(GitlabError::Client)?;
        Ok(Self {
            http,
            api_url: env.api_url.trim_end_matches('/').to_string(),
            token,
        })
    }
}

impl Transport for Rest {
    fn api_root(&self) -> &str {
        &self.api_url
    }

    async fn exchange(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, TransportError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{route}", self.api_url))
            .header(self.token.header_name(), self.token.secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        // reqwest's messages name the URL, never the token header.
        let failure = |e: reqwest::Error| {
            if e.is_connect() {
                TransportError::Connect(e.to_string())
            } else {
                TransportError::Other(e.to_string())
            }
        };
        let response = request.send().await.map_err(failure)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(failure)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// The certificates of a PEM bundle (a self-managed GitLab's private CA), added to the built-in roots.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, GitlabError> {
    let ca_error = |reason: String| GitlabError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(ca_error("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let err = read_ca_file(&path).expect_err("no certificate").to_string();
        assert!(err.contains("ca.pem"), "{err}");
        let err = read_ca_file(&dir.path().join("missing.pem"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }
}
