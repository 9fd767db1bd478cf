//! A thin, polite layer over octocrab's raw requests: retries, rate limits, pacing and pagination.
//!
//! GitHub's rules (<https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api>
//! and <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>): send mutating
//! requests one at a time with a pause between them, honour `retry-after` and `x-ratelimit-reset`, back
//! off exponentially on secondary rate limits, and follow the `Link` header for pages. octocrab's own
//! retry feature is left off on purpose: it does not know these rules, and a blind retry of a POST can
//! double a review.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::env::Token;
use super::GithubError;

/// Most pages read from one listing (100 items each).
const MAX_PAGES: usize = 100;

/// How hunkguard waits and retries when GitHub is slow, failing or rate-limiting.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 5xx answers, timeouts and rate limits.
    pub max_retries: u32,
    /// Longest single wait, whatever `retry-after` or `x-ratelimit-reset` ask for.
    pub max_wait: Duration,
    /// First back-off after a 5xx answer or a transport error; doubles on each retry.
    pub backoff: Duration,
    /// First back-off on a secondary rate limit that names no wait; doubles on each retry.
    pub rate_limit_backoff: Duration,
    /// Pause between two mutating requests (GitHub asks for at least a second).
    pub spacing: Duration,
    /// Connect and read timeout of one request.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_secs(60),
            backoff: Duration::from_secs(1),
            rate_limit_backoff: Duration::from_secs(15),
            spacing: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No pauses worth the name: for tests against a local server.
    pub fn immediate() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_millis(20),
            backoff: Duration::from_millis(1),
            rate_limit_backoff: Duration::from_millis(1),
            spacing: Duration::ZERO,
            timeout: Duration::from_secs(5),
        }
    }

    /// Set [`RetryPolicy::max_retries`].
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Set [`RetryPolicy::max_wait`].
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Set [`RetryPolicy::spacing`].
    pub fn with_spacing(mut self, spacing: Duration) -> Self {
        self.spacing = spacing;
        self
    }

    /// Set [`RetryPolicy::timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Decode the body as JSON.
    pub fn json<T: DeserializeOwned>(&self, route: &str) -> Result<T, GithubError> {
        serde_json::from_str(&self.body).map_err(|source| GithubError::Decode {
            what: format!("the answer of {route}"),
            source,
        })
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// The `message` (and `errors`) of a GitHub error body, or the raw text.
fn error_message(body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(parsed) if parsed.errors.is_empty() => parsed.message,
        Ok(parsed) => {
            let errors: Vec<String> = parsed
                .errors
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => other
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| other.to_string()),
                })
                .collect();
            format!("{} ({})", parsed.message, errors.join("; "))
        }
        Err(_) => body.chars().take(300).collect(),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether an answer is a (primary or secondary) rate limit rather than a permission problem.
fn is_rate_limited(status: StatusCode, headers: &HeaderMap, message: &str) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (headers.contains_key("retry-after")
                || header_u64(headers, "x-ratelimit-remaining") == Some(0)
                || message.to_ascii_lowercase().contains("rate limit")))
}

/// How long GitHub asks us to wait: `retry-after` seconds, else until `x-ratelimit-reset` when the
/// budget is spent, else exponential back-off.
fn rate_limit_wait(headers: &HeaderMap, attempt: u32, policy: &RetryPolicy) -> Duration {
    if let Some(seconds) = header_u64(headers, "retry-after") {
        return Duration::from_secs(seconds);
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        if let Some(reset) = header_u64(headers, "x-ratelimit-reset") {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return Duration::from_secs(reset.saturating_sub(now) + 1);
        }
    }
    policy
        .rate_limit_backoff
        .saturating_mul(1 << attempt.min(16))
}

/// The path and query of the `rel="next"` link of a `Link` header.
///
/// Only the path is kept: the request goes back through the configured API root, so a forged or odd
/// link can never send the token to another host.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::LINK)?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        if !is_next {
            return None;
        }
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        let uri: http::Uri = url.parse().ok()?;
        uri.path_and_query().map(|pq| pq.as_str().to_string())
    })
}

/// The REST client of one run.
pub(crate) struct Api {
    octo: Octocrab,
    policy: RetryPolicy,
    last_mutation: Option<Instant>,
}

impl Api {
    /// A client for `api_url` authenticated with `token`. Must be called inside a Tokio runtime.
    pub fn new(api_url: &str, token: &Token, policy: RetryPolicy) -> Result<Self, GithubError> {
        let octo = Octocrab::builder()
            .set_connect_timeout(Some(policy.timeout))
            .set_read_timeout(Some(policy.timeout))
            .set_write_timeout(Some(policy.timeout))
            .personal_token(token.expose().to_string())
            .base_uri(api_url)
            .map_err(|e| GithubError::Client(format!("bad API URL {api_url}: {e}")))?
            .build()
            .map_err(|e| GithubError::Client(e.to_string()))?;
        Ok(Self {
            octo,
            policy,
            last_mutation: None,
        })
    }

    /// GET `route` (a path with query, relative to the API root).
    pub async fn get(&mut self, route: &str) -> Result<Answer, GithubError> {
        self.send(Method::GET, route, None).await
    }

    /// POST `body` to `route`.
    pub async fn post(
        &mut self,
        route: &str,
        body: &serde_json::Value,
    ) -> Result<Answer, GithubError> {
        self.send(Method::POST, route, Some(body)).await
    }

    /// DELETE `route`.
    pub async fn delete(&mut self, route: &str) -> Result<Answer, GithubError> {
        self.send(Method::DELETE, route, None).await
    }

    /// Every item of a paginated listing, following `Link: rel="next"`.
    pub async fn get_all<T: DeserializeOwned>(
        &mut self,
        route: &str,
    ) -> Result<Vec<T>, GithubError> {
        let mut items = Vec::new();
        let mut next = Some(route.to_string());
        let mut pages = 0;
        while let Some(page) = next.take() {
            let answer = self.get(&page).await?;
            items.extend(answer.json::<Vec<T>>(&page)?);
            pages += 1;
            if pages >= MAX_PAGES {
                tracing::warn!("stopped reading {route} after {MAX_PAGES} pages");
                break;
            }
            next = next_link(&answer.headers);
        }
        Ok(items)
    }

    async fn pace(&mut self, method: &Method) {
        if *method == Method::GET || self.policy.spacing.is_zero() {
            return;
        }
        if let Some(last) = self.last_mutation {
            let since = last.elapsed();
            if since < self.policy.spacing {
                tokio::time::sleep(self.policy.spacing - since).await;
            }
        }
    }

    async fn sleep(&self, wait: Duration) {
        tokio::time::sleep(wait.min(self.policy.max_wait)).await;
    }

    /// One request and its whole answer, without retries. A transport error, whether it happens
    /// while sending or while reading the body, comes back as its message.
    async fn exchange(
        &mut self,
        method: &Method,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, HeaderMap, String), String> {
        self.pace(method).await;
        let sent = match *method {
            Method::GET => self.octo._get(route).await,
            Method::POST => self.octo._post(route, body).await,
            Method::DELETE => self.octo._delete(route, body).await,
            _ => self.octo._patch(route, body).await,
        };
        if *method != Method::GET {
            self.last_mutation = Some(Instant::now());
        }
        let response = sent.map_err(|e| e.to_string())?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = self
            .octo
            .body_to_string(response)
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        Ok((status, headers, text))
    }

    /// One request with retries. Mutating requests are paced; nothing runs concurrently.
    async fn send(
        &mut self,
        method: Method,
        route: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GithubError> {
        let mut attempt: u32 = 0;
        loop {
            let retries_left = attempt < self.policy.max_retries;
            let (status, headers, text) = match self.exchange(&method, route, body).await {
                Ok(answer) => answer,
                Err(message) if retries_left => {
                    tracing::warn!("{method} {route}: {message}; retrying");
                    self.sleep(self.policy.backoff.saturating_mul(1 << attempt.min(16)))
                        .await;
                    attempt += 1;
                    continue;
                }
                Err(message) => {
                    return Err(GithubError::Transport {
                        method: method.to_string(),
                        route: route.to_string(),
                        attempts: attempt + 1,
                        message,
                    })
                }
            };
            if status.is_success() {
                return Ok(Answer {
                    headers,
                    body: text,
                });
            }
            let message = error_message(&text);
            if is_rate_limited(status, &headers, &message) {
                if !retries_left {
                    return Err(GithubError::RateLimited {
                        method: method.to_string(),
                        route: route.to_string(),
                        attempts: attempt + 1,
                        message,
                    });
                }
                let wait = rate_limit_wait(&headers, attempt, &self.policy);
                tracing::warn!(
                    "{method} {route}: rate-limited ({message}); waiting {:?}",
                    wait.min(self.policy.max_wait)
                );
                self.sleep(wait).await;
                attempt += 1;
                continue;
            }
            if status.is_server_error() && retries_left {
                tracing::warn!("{method} {route}: HTTP {status}; retrying");
                self.sleep(self.policy.backoff.saturating_mul(1 << attempt.min(16)))
                    .await;
                attempt += 1;
                continue;
            }
            if status == StatusCode::FORBIDDEN {
                return Err(GithubError::Forbidden {
                    method: method.to_string(),
                    route: route.to_string(),
                    message,
                });
            }
            return Err(GithubError::Api {
                method: method.to_string(),
                route: route.to_string(),
                status: status.as_u16(),
                attempts: attempt + 1,
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn next_link_keeps_only_the_path_of_rel_next() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::LINK,
            HeaderValue::from_static(
                "<https://evil.example/repositories/1/pulls/2/comments?per_page=100&page=3>; rel=\"next\", \
                 <https://api.github.com/x?page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("/repositories/1/pulls/2/comments?per_page=100&page=3")
        );
        headers.insert(
            http::header::LINK,
            HeaderValue::from_static("<https://api.github.com/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn rate_limits_are_told_apart_from_permission_errors() {
        let mut headers = HeaderMap::new();
        assert!(!is_rate_limited(
            StatusCode::FORBIDDEN,
            &headers,
            "Resource not accessible by integration"
        ));
        assert!(is_rate_limited(
            StatusCode::FORBIDDEN,
            &headers,
            "You have exceeded a secondary rate limit"
        ));
        assert!(is_rate_limited(StatusCode::TOO_MANY_REQUESTS, &headers, ""));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        assert!(is_rate_limited(
            StatusCode::FORBIDDEN,
            &headers,
            "API rate exceeded"
        ));
    }

    #[test]
    fn waits_follow_retry_after_then_reset_then_back_off() {
        let policy = RetryPolicy::default();
        let mut headers = HeaderMap::new();
        assert_eq!(
            rate_limit_wait(&headers, 0, &policy),
            Duration::from_secs(15)
        );
        assert_eq!(
            rate_limit_wait(&headers, 2, &policy),
            Duration::from_secs(60)
        );
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            rate_limit_wait(&headers, 0, &policy),
            Duration::from_secs(7)
        );
        let mut headers = HeaderMap::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now + 30).to_string()).unwrap(),
        );
        let wait = rate_limit_wait(&headers, 0, &policy);
        assert!(wait >= Duration::from_secs(29) && wait <= Duration::from_secs(31));
    }

    #[test]
    fn error_messages_include_the_errors_list() {
        let body = r#"{"message":"Unprocessable Entity","errors":["Line could not be resolved"]}"#;
        assert_eq!(
            error_message(body),
            "Unprocessable Entity (Line could not be resolved)"
        );
        assert_eq!(error_message("plain"), "plain");
    }
}
