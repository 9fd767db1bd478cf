//! A small GitLab REST API v4 client on reqwest: token header, timeouts, bounded retries, pagination.
//!
//! Retries follow GitLab's rate-limit advice (<https://docs.gitlab.com/security/rate_limits/>): a 429
//! carries `Retry-After`, which is honoured up to a cap; 5xx and timeouts back off exponentially.
//! Pagination follows `x-next-page`, else the `Link: rel="next"` header
//! (<https://docs.gitlab.com/api/rest/#pagination>).

use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::env::{GitlabEnv, GitlabToken};
use super::GitlabError;

/// Most pages read from one list (100 items each): a runaway `x-next-page` cannot loop forever.
const MAX_PAGES: u32 = 200;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` requests).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest exponential backoff.
    pub max_backoff: Duration,
    /// Longest wait honoured from a `Retry-After` header; longer values are cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based), before any `Retry-After`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Timeouts of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting to the server.
    pub connect: Duration,
    /// The whole request, connect to last byte.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// A response that was read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &'static str) -> Result<T, GitlabError> {
        serde_json::from_str(&self.body).map_err(|source| GitlabError::BadResponse { what, source })
    }
}

/// Talks to one GitLab instance with one token.
pub(crate) struct Client {
    http: reqwest::Client,
    api_url: String,
    token: GitlabToken,
    retry: RetryPolicy,
}

impl Client {
    pub(crate) fn new(
        env: &GitlabEnv,
        token: GitlabToken,
        retry: RetryPolicy,
        timeouts: &Timeouts,
    ) -> Result<Self, GitlabError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hunkguard/", env!("CARGO_PKG_VERSION"))),
        );
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request);
        if let Some(path) = &env.ca_file {
            for certificate in read_ca_file(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(GitlabError::Client)?;
        Ok(Self {
            http,
            api_url: env.api_url.clone(),
            token,
            retry,
        })
    }

    /// Send one request to `path` (below the API URL) and read the answer, retrying what may be retried.
    ///
    /// Any status that is not 2xx after the retries becomes an error; 401/403 become
    /// [`GitlabError::Forbidden`] so callers can degrade instead of failing.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, GitlabError> {
        let url = format!("{}{}", self.api_url, path);
        self.send_url(method, &url, path, query, body).await
    }

    async fn send_url(
        &self,
        method: Method,
        url: &str,
        shown: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, GitlabError> {
        // A POST that timed out may have been applied; repeating it could post a discussion twice.
        // It is retried only when the server said it did not process it (429, 502, 503, 504) or when
        // the connection was never made.
        let idempotent = method != Method::POST;
        let mut retry = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url)
                .header(self.token.header_name(), self.token.secret());
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let (wait, failure) = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || matches!(status.as_u16(), 502..=504)
                        || (idempotent && status.is_server_error());
                    if status.is_success() || !retryable || retry >= self.retry.max_retries {
                        let body = response.text().await.map_err(|source| GitlabError::Http {
                            method: method.to_string(),
                            path: shown.to_string(),
                            source,
                        })?;
                        return finish(
                            &method,
                            shown,
                            Reply {
                                status,
                                headers,
                                body,
                            },
                        );
                    }
                    let wait = retry_after(&headers)
                        .map(|w| w.min(self.retry.max_retry_after))
                        .unwrap_or_else(|| self.retry.backoff(retry));
                    (wait, format!("HTTP {status}"))
                }
                Err(source) => {
                    let retryable = source.is_connect() || (idempotent && source.is_timeout());
                    if !retryable || retry >= self.retry.max_retries {
                        return Err(GitlabError::Http {
                            method: method.to_string(),
                            path: shown.to_string(),
                            source,
                        });
                    }
                    (self.retry.backoff(retry), source.to_string())
                }
            };
            tracing::warn!(
                "GitLab {method} {shown} failed ({failure}); retry {} of {} in {:?}",
                retry + 1,
                self.retry.max_retries,
                wait
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// GET every page of a list endpoint (`per_page=100`).
    pub(crate) async fn get_all(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<Vec<Value>, GitlabError> {
        let mut items = Vec::new();
        let mut query = vec![("per_page", "100".to_string()), ("page", "1".to_string())];
        let mut next_url: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let reply = match &next_url {
                Some(url) => self.send_url(Method::GET, url, path, &[], None).await?,
                None => self.send(Method::GET, path, &query, None).await?,
            };
            let page: Vec<Value> = reply.json(what)?;
            let empty = page.is_empty();
            items.extend(page);
            if empty {
                break;
            }
            if let Some(next) = header_str(&reply.headers, "x-next-page").filter(|n| !n.is_empty())
            {
                query[1].1 = next.to_string();
                next_url = None;
            } else if let Some(link) = header_str(&reply.headers, "link")
                .and_then(next_link)
                .filter(|url| same_origin(&self.api_url, url))
            {
                next_url = Some(link);
            } else {
                break;
            }
        }
        Ok(items)
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

/// Only follow links to the same GitLab: the token must never be sent anywhere else.
fn same_origin(api_url: &str, url: &str) -> bool {
    match (reqwest::Url::parse(api_url), reqwest::Url::parse(url)) {
        (Ok(api), Ok(link)) => api.origin() == link.origin(),
        _ => false,
    }
}

fn finish(method: &Method, path: &str, reply: Reply) -> Result<Reply, GitlabError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(reply);
    }
    let message = error_message(&reply.body);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(GitlabError::Forbidden {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            message,
        });
    }
    Err(GitlabError::Status {
        method: method.to_string(),
        path: path.to_string(),
        status: status.as_u16(),
        message,
    })
}

/// GitLab errors come as `{"message": ...}` or `{"error": ...}`; anything else is shown shortened.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .map(|m| match m {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| body.trim().to_string());
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `Retry-After` in seconds (the form GitLab sends); an HTTP date is ignored and backoff applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, RETRY_AFTER.as_str())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        (is_next && url.starts_with('<') && url.ends_with('>'))
            .then(|| url[1..url.len() - 1].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(1),
        };
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(1), Duration::from_millis(200));
        assert_eq!(policy.backoff(2), Duration::from_millis(400));
        assert_eq!(policy.backoff(3), Duration::from_millis(500));
        assert_eq!(policy.backoff(40), Duration::from_millis(500));
    }

    #[test]
    fn link_header_next_is_found() {
        let link = "<https://gl.example/api/v4/x?page=1&per_page=100>; rel=\"prev\", \
                    <https://gl.example/api/v4/x?page=3&per_page=100>; rel=\"next\", \
                    <https://gl.example/api/v4/x?page=9>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://gl.example/api/v4/x?page=3&per_page=100")
        );
        assert_eq!(next_link("<https://gl.example/x>; rel=\"first\""), None);
    }

    #[test]
    fn pagination_links_to_another_host_are_not_followed() {
        let api = "https://gitlab.example.com/api/v4";
        assert!(same_origin(
            api,
            "https://gitlab.example.com/api/v4/projects/1?page=2"
        ));
        assert!(!same_origin(
            api,
            "https://evil.example/api/v4/projects/1?page=2"
        ));
        assert!(!same_origin(
            api,
            "http://gitlab.example.com/api/v4/projects/1?page=2"
        ));
        assert!(!same_origin(api, "not a url"));
    }

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

    #[test]
    fn error_messages_are_read_and_shortened() {
        assert_eq!(
            error_message(r#"{"message":"400 Bad request - line_code can't be blank"}"#),
            "400 Bad request - line_code can't be blank"
        );
        assert_eq!(
            error_message(r#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(error_message(&"x".repeat(1000)).chars().count(), 301);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
