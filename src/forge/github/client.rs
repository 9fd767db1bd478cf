//! octocrab as the [`Transport`] of the shared HTTP layer: one raw request, its whole answer.
//!
//! octocrab's own retry feature is left off on purpose: it does not know GitHub's rate-limit rules,
//! and a blind retry of a POST can double a review. [`crate::forge::http`] decides every retry.

use http::Method;
use octocrab::Octocrab;
use serde_json::Value;

use super::env::Token;
use super::GithubError;
use crate::forge::http::{Answer, RetryPolicy, Transport, TransportError};

/// The GitHub REST API through octocrab.
pub(crate) struct Octo {
    octo: Octocrab,
    /// Scheme, host and port of the API: `Link` headers are only followed there.
    origin: String,
}

impl Octo {
    /// A client for `api_url` authenticated with `token`. Must be called inside a Tokio runtime.
    pub fn new(api_url: &str, token: &Token, policy: &RetryPolicy) -> Result<Self, GithubError> {
        let uri: http::Uri = api_url
            .parse()
            .map_err(|e| GithubError::Client(format!("bad API URL {api_url}: {e}")))?;
        let origin = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => return Err(GithubError::Client(format!("bad API URL {api_url}"))),
        };
        let octo = Octocrab::builder()
            .set_connect_timeout(Some(policy.connect_timeout))
            .set_read_timeout(Some(policy.timeout))
            .set_write_timeout(Some(policy.timeout))
            .personal_token(token.expose().to_string())
            .base_uri(api_url)
            .map_err(|e| GithubError::Client(format!("bad API URL {api_url}: {e}")))?
            .build()
            .map_err(|e| GithubError::Client(e.to_string()))?;
        Ok(Self { octo, origin })
    }
}

impl Transport for Octo {
    fn api_root(&self) -> &str {
        &self.origin
    }

    async fn exchange(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, TransportError> {
        let sent = match *method {
            Method::GET => self.octo._get(route).await,
            Method::POST => self.octo._post(route, body).await,
            Method::PUT => self.octo._put(route, body).await,
            Method::DELETE => self.octo._delete(route, body).await,
            _ => self.octo._patch(route, body).await,
        };
        // octocrab does not say whether the connection was made, so any failure may have been sent.
        let response = sent.map_err(|e| TransportError::Other(e.to_string()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self
            .octo
            .body_to_string(response)
            .await
            .map_err(|e| TransportError::Other(format!("reading the answer failed: {e}")))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
