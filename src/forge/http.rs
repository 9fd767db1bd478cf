//! The HTTP layer both forges share: retries, rate limits, pacing, pagination, error messages and the
//! deadline of the posting phase. Each forge only supplies a [`Transport`] (octocrab for GitHub, reqwest
//! for GitLab) that sends one request and reads its whole answer.
//!
//! The rules come from GitHub (<https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api>,
//! <https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api>) and GitLab
//! (<https://docs.gitlab.com/security/rate_limits/>, <https://docs.gitlab.com/api/rest/#pagination>):
//! mutating requests one at a time with a pause between them; `Retry-After` and `x-ratelimit-reset`
//! honoured up to the deadline and never past it; exponential back-off on 5xx, timeouts and rate limits
//! that name no wait; pages followed by `x-next-page` or `Link: rel="next"`, only on the same API root.
//!
//! A request that creates something is never repeated blindly: when its answer is a 5xx or never comes,
//! it may have landed, so [`Http::create`] first asks the caller to look for it (by the marker of this
//! run) and repeats the request only when it is not there.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Most pages read from one listing (100 items each): a runaway `next` link cannot loop forever.
const MAX_PAGES: usize = 200;

/// Default deadline of the whole posting phase.
pub const DEFAULT_POST_DEADLINE: Duration = Duration::from_secs(300);

/// How requests are retried, paced and timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 5xx answers, timeouts and rate limits.
    pub max_retries: u32,
    /// First back-off after a 5xx answer or a transport error; doubles on each retry.
    pub backoff: Duration,
    /// Longest exponential back-off (a server's `Retry-After` is not cut by it, only by the deadline).
    pub max_backoff: Duration,
    /// First back-off on a rate limit that names no wait; doubles on each retry.
    pub rate_limit_backoff: Duration,
    /// Pause between two mutating requests (GitHub asks for at least a second).
    pub spacing: Duration,
    /// One request, connect to last byte.
    pub timeout: Duration,
    /// Connecting to the server.
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            rate_limit_backoff: Duration::from_secs(15),
            spacing: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No pauses worth the name: for tests against a local server.
    pub fn immediate() -> Self {
        Self {
            max_retries: 3,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            rate_limit_backoff: Duration::from_millis(1),
            spacing: Duration::ZERO,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }

    /// Set [`RetryPolicy::max_retries`].
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
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

    /// The back-off before retry number `retry` (0-based) after a 5xx or a transport error.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_backoff)
    }
}

/// The moment the posting phase must be over.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }

    /// Time left (zero once passed).
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The whole budget, for messages.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// Errors of the HTTP layer. None of them contains a token.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A non-2xx answer after the retries.
    #[error("{method} {route} failed with HTTP {status} after {attempts} attempt(s): {message}")]
    Status {
        method: String,
        route: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    /// 401, or a 403 that is not a rate limit: the token may not do this (fork, read-only token).
    #[error("{method} {route} was refused (HTTP {status}): {message}")]
    Forbidden {
        method: String,
        route: String,
        status: u16,
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
    /// No answer within the request timeout, on every attempt.
    #[error("{method} {route} timed out after {timeout:?} ({attempts} attempt(s))")]
    Timeout {
        method: String,
        route: String,
        attempts: u32,
        timeout: Duration,
    },
    /// The connection failed, on every attempt.
    #[error("{method} {route} got no answer after {attempts} attempt(s): {message}")]
    Transport {
        method: String,
        route: String,
        attempts: u32,
        message: String,
        /// The request may have reached the server (false: the connection was never made).
        maybe_sent: bool,
    },
    /// The posting phase ran out of time.
    #[error("{method} {route} stopped: the posting deadline of {budget:?} has passed ({why})")]
    Deadline {
        method: String,
        route: String,
        budget: Duration,
        why: String,
    },
    /// A 2xx answer that is not the JSON we expected.
    #[error("cannot understand the answer of {route}: {source}")]
    Decode {
        route: String,
        source: serde_json::Error,
    },
}

impl HttpError {
    /// Whether a request that failed this way may still have been applied by the server.
    pub fn may_have_landed(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status >= 500,
            HttpError::Timeout { .. } => true,
            HttpError::Transport { maybe_sent, .. } => *maybe_sent,
            _ => false,
        }
    }

    /// The error, counting `attempts` in all.
    fn after_attempts(mut self, total: u32) -> Self {
        match &mut self {
            HttpError::Status { attempts, .. }
            | HttpError::RateLimited { attempts, .. }
            | HttpError::Timeout { attempts, .. }
            | HttpError::Transport { attempts, .. } => *attempts = total,
            _ => {}
        }
        self
    }

    /// The HTTP status, for errors that have one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } | HttpError::Forbidden { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// Decode the body as JSON.
    pub fn json<T: DeserializeOwned>(&self, route: &str) -> Result<T, HttpError> {
        serde_json::from_str(&self.body).map_err(|source| HttpError::Decode {
            route: route.to_string(),
            source,
        })
    }
}

/// Why a [`Transport`] got no answer.
#[derive(Debug)]
pub enum TransportError {
    /// The connection was never made: the request did not reach the server.
    Connect(String),
    /// Anything else: the request may have reached the server.
    Other(String),
}

/// Sends one request to a route below the API root and reads the whole answer. No retries.
pub(crate) trait Transport {
    /// The API root, `scheme://host[:port]/path`, without a trailing slash.
    fn api_root(&self) -> &str;

    /// Send `method` to `route` (path and query below [`Transport::api_root`]) with an optional JSON body.
    fn exchange(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> impl Future<Output = Result<Answer, TransportError>>;
}

/// What [`Http::create`] achieved.
#[derive(Debug)]
pub enum Created {
    /// The server answered the request.
    Answered(Answer),
    /// The answer was lost, but the created object was found on a re-read: nothing was repeated.
    FoundAfterFailure,
}

/// The retrying client of one posting phase.
pub(crate) struct Http<T> {
    transport: T,
    policy: RetryPolicy,
    deadline: Deadline,
    last_mutation: Mutex<Option<Instant>>,
}

impl<T: Transport> Http<T> {
    /// A client that sends through `transport` and stops at `deadline`.
    pub fn new(transport: T, policy: RetryPolicy, deadline: Deadline) -> Self {
        Self {
            transport,
            policy,
            deadline,
            last_mutation: Mutex::new(None),
        }
    }

    /// GET `route`.
    pub async fn get(&self, route: &str) -> Result<Answer, HttpError> {
        self.send(Method::GET, route, None).await
    }

    /// Send an idempotent request (GET, PUT, DELETE), retrying failures that may be retried.
    pub async fn send(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Answer, HttpError> {
        self.send_with(method, route, body, true).await
    }

    /// POST `body` to `route` to create something, without ever creating it twice.
    ///
    /// When an attempt fails in a way that may have created it anyway (5xx, timeout, lost connection),
    /// `landed` is asked to look for it (it re-reads the pull request for the marker of this run);
    /// only when it is not there is the request sent again.
    pub async fn create<F, Fut>(
        &self,
        route: &str,
        body: &Value,
        landed: F,
    ) -> Result<Created, HttpError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<bool, HttpError>>,
    {
        let mut attempt = 0;
        loop {
            match self.send_with(Method::POST, route, Some(body), false).await {
                Ok(answer) => return Ok(Created::Answered(answer)),
                Err(error) if error.may_have_landed() => {
                    tracing::warn!("{error}; looking whether it landed before sending it again");
                    if landed().await? {
                        return Ok(Created::FoundAfterFailure);
                    }
                    if attempt >= self.policy.max_retries {
                        return Err(error.after_attempts(attempt + 1));
                    }
                    self.sleep(self.policy.backoff(attempt), &Method::POST, route)
                        .await?;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Every item of a paginated listing that starts at `route`.
    pub async fn get_all<I: DeserializeOwned>(&self, route: &str) -> Result<Vec<I>, HttpError> {
        let mut items = Vec::new();
        let mut next = Some(route.to_string());
        let mut pages = 0;
        while let Some(page) = next.take() {
            let answer = self.get(&page).await?;
            let batch: Vec<I> = answer.json(&page)?;
            let empty = batch.is_empty();
            items.extend(batch);
            pages += 1;
            if empty {
                break;
            }
            if pages >= MAX_PAGES {
                tracing::warn!("stopped reading {route} after {MAX_PAGES} pages");
                break;
            }
            next = next_page(self.transport.api_root(), &page, &answer.headers);
        }
        Ok(items)
    }

    async fn pace(&self, method: &Method) {
        if *method == Method::GET || self.policy.spacing.is_zero() {
            return;
        }
        let last = *self
            .last_mutation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = last {
            let since = last.elapsed();
            if since < self.policy.spacing {
                tokio::time::sleep((self.policy.spacing - since).min(self.deadline.remaining()))
                    .await;
            }
        }
    }

    /// Wait `wait`, or fail at once when that would end past the deadline.
    async fn sleep(&self, wait: Duration, method: &Method, route: &str) -> Result<(), HttpError> {
        if wait >= self.deadline.remaining() {
            return Err(self.deadline_error(
                method,
                route,
                format!("the next attempt would have to wait {wait:?}"),
            ));
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn deadline_error(&self, method: &Method, route: &str, why: String) -> HttpError {
        HttpError::Deadline {
            method: method.to_string(),
            route: route.to_string(),
            budget: self.deadline.budget(),
            why,
        }
    }

    /// One attempt, bounded by the request timeout and the deadline.
    async fn attempt(
        &self,
        method: &Method,
        route: &str,
        body: Option<&Value>,
    ) -> Result<Result<Answer, TransportError>, Duration> {
        let limit = self.policy.timeout.min(self.deadline.remaining());
        let answer =
            tokio::time::timeout(limit, self.transport.exchange(method, route, body)).await;
        if *method != Method::GET {
            *self
                .last_mutation
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        }
        answer.map_err(|_| limit)
    }

    async fn send_with(
        &self,
        method: Method,
        route: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Answer, HttpError> {
        let mut attempt: u32 = 0;
        loop {
            if self.deadline.remaining().is_zero() {
                return Err(self.deadline_error(&method, route, "before sending".into()));
            }
            self.pace(&method).await;
            let retries_left = attempt < self.policy.max_retries;
            let answer = match self.attempt(&method, route, body).await {
                Ok(Ok(answer)) => answer,
                Err(limit) => {
                    if self.deadline.remaining().is_zero() {
                        return Err(self.deadline_error(
                            &method,
                            route,
                            format!("no answer within the {limit:?} left"),
                        ));
                    }
                    let error = HttpError::Timeout {
                        method: method.to_string(),
                        route: route.to_string(),
                        attempts: attempt + 1,
                        timeout: limit,
                    };
                    if !(idempotent && retries_left) {
                        return Err(error);
                    }
                    tracing::warn!("{error}; retrying");
                    self.sleep(self.policy.backoff(attempt), &method, route)
                        .await?;
                    attempt += 1;
                    continue;
                }
                Ok(Err(failure)) => {
                    let (message, maybe_sent) = match failure {
                        TransportError::Connect(m) => (m, false),
                        TransportError::Other(m) => (m, true),
                    };
                    if retries_left && (idempotent || !maybe_sent) {
                        tracing::warn!("{method} {route}: {message}; retrying");
                        self.sleep(self.policy.backoff(attempt), &method, route)
                            .await?;
                        attempt += 1;
                        continue;
                    }
                    return Err(HttpError::Transport {
                        method: method.to_string(),
                        route: route.to_string(),
                        attempts: attempt + 1,
                        message,
                        maybe_sent,
                    });
                }
            };
            let status = answer.status;
            if status.is_success() {
                return Ok(answer);
            }
            let message = error_message(&answer.body);
            if is_rate_limited(status, &answer.headers, &message) {
                // A rate-limited request was not processed: it may be repeated whatever it does.
                if !retries_left {
                    return Err(HttpError::RateLimited {
                        method: method.to_string(),
                        route: route.to_string(),
                        attempts: attempt + 1,
                        message,
                    });
                }
                let wait = rate_limit_wait(&answer.headers, attempt, &self.policy);
                tracing::warn!("{method} {route}: rate-limited ({message}); waiting {wait:?}");
                self.sleep(wait, &method, route).await?;
                attempt += 1;
                continue;
            }
            if status.is_server_error() && idempotent && retries_left {
                tracing::warn!("{method} {route}: HTTP {status}; retrying");
                self.sleep(self.policy.backoff(attempt), &method, route)
                    .await?;
                attempt += 1;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(HttpError::Forbidden {
                    method: method.to_string(),
                    route: route.to_string(),
                    status: status.as_u16(),
                    message,
                });
            }
            return Err(HttpError::Status {
                method: method.to_string(),
                route: route.to_string(),
                status: status.as_u16(),
                attempts: attempt + 1,
                message,
            });
        }
    }
}

/// The message of an error body: GitHub's `message` (+ `errors`), GitLab's `message` or `error`, or
/// the raw text, shortened.
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = match &parsed {
        Some(value) => {
            let field = value.get("message").or_else(|| value.get("error"));
            let main = match field {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => body.trim().to_string(),
            };
            let errors: Vec<String> = value
                .get("errors")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|e| match e {
                            Value::String(s) => s.clone(),
                            other => other
                                .get("message")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| other.to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            if errors.is_empty() {
                main
            } else {
                format!("{main} ({})", errors.join("; "))
            }
        }
        None => body.trim().to_string(),
    };
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

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.parse().ok())
}

/// Whether an answer is a (primary or secondary) rate limit rather than a permission problem.
fn is_rate_limited(status: StatusCode, headers: &HeaderMap, message: &str) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (headers.contains_key(http::header::RETRY_AFTER)
                || header_u64(headers, "x-ratelimit-remaining") == Some(0)
                || message.to_ascii_lowercase().contains("rate limit")))
}

/// How long the server asks us to wait: `retry-after` seconds, else until `x-ratelimit-reset` when the
/// budget is spent, else exponential back-off.
fn rate_limit_wait(headers: &HeaderMap, attempt: u32, policy: &RetryPolicy) -> Duration {
    if let Some(seconds) = header_str(headers, "retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
    {
        return Duration::from_secs_f64(seconds.min(1e9));
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
        .saturating_mul(1u32 << attempt.min(16))
}

/// The route of the next page: `x-next-page` (GitLab) on the same route, else the `rel="next"` link
/// of a `Link` header when it points below the same API root (the token is never sent elsewhere).
fn next_page(api_root: &str, route: &str, headers: &HeaderMap) -> Option<String> {
    if let Some(page) = header_str(headers, "x-next-page").filter(|p| !p.is_empty()) {
        let page: u64 = page.parse().ok()?;
        return Some(with_query(route, "page", &page.to_string()));
    }
    let link = next_link(header_str(headers, "link")?)?;
    route_below(api_root, &link)
}

/// `route` with query parameter `name` set to `value`.
fn with_query(route: &str, name: &str, value: &str) -> String {
    let (path, query) = route.split_once('?').unwrap_or((route, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_string)
        .collect();
    pairs.push(format!("{name}={value}"));
    format!("{path}?{}", pairs.join("&"))
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
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

/// The route of `url` below `api_root`, when `url` has the same origin and lies below its path.
fn route_below(api_root: &str, url: &str) -> Option<String> {
    let root: http::Uri = api_root.parse().ok()?;
    let link: http::Uri = url.parse().ok()?;
    let origin = |u: &http::Uri| {
        (
            u.scheme_str().map(str::to_ascii_lowercase),
            u.host().map(str::to_ascii_lowercase),
            u.port_u16(),
        )
    };
    if origin(&root) != origin(&link) {
        return None;
    }
    let prefix = root.path().trim_end_matches('/');
    let path_and_query = link.path_and_query()?.as_str();
    let rest = path_and_query.strip_prefix(prefix)?;
    rest.starts_with('/').then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn pages_follow_x_next_page_then_same_root_links_only() {
        let mut headers = HeaderMap::new();
        headers.insert("x-next-page", HeaderValue::from_static("3"));
        assert_eq!(
            next_page("http://h/api/v4", "/p/d?per_page=100&page=2", &headers).as_deref(),
            Some("/p/d?per_page=100&page=3")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::LINK,
            HeaderValue::from_static(
                "<https://h.example/api/v4/p/d?page=1>; rel=\"prev\", \
                 <https://h.example/api/v4/p/d?page=3>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_page("https://h.example/api/v4", "/p/d", &headers).as_deref(),
            Some("/p/d?page=3")
        );
        assert_eq!(
            next_page("https://other.example/api/v4", "/p/d", &headers),
            None
        );
        assert_eq!(next_page("http://h.example/api/v4", "/p/d", &headers), None);
        assert_eq!(
            next_page("https://h.example/api/v5", "/p/d", &headers),
            None
        );
        assert_eq!(
            route_below(
                "https://api.github.com",
                "https://api.github.com/repositories/1/pulls?page=2"
            )
            .as_deref(),
            Some("/repositories/1/pulls?page=2")
        );
    }

    #[test]
    fn rate_limits_are_told_apart_from_permission_errors() {
        let mut headers = HeaderMap::new();
        let forbidden = StatusCode::FORBIDDEN;
        assert!(!is_rate_limited(
            forbidden,
            &headers,
            "Resource not accessible by integration"
        ));
        assert!(is_rate_limited(
            forbidden,
            &headers,
            "You have exceeded a secondary rate limit"
        ));
        assert!(is_rate_limited(StatusCode::TOO_MANY_REQUESTS, &headers, ""));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        assert!(is_rate_limited(forbidden, &headers, "API rate exceeded"));
    }

    #[test]
    fn waits_follow_retry_after_then_reset_then_back_off_uncapped() {
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
        headers.insert("retry-after", HeaderValue::from_static("3600"));
        assert_eq!(
            rate_limit_wait(&headers, 0, &policy),
            Duration::from_secs(3600)
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
    fn error_messages_of_both_forges_are_read_and_shortened() {
        let github =
            r#"{"message":"Unprocessable Entity","errors":["Line could not be resolved"]}"#;
        assert_eq!(
            error_message(github),
            "Unprocessable Entity (Line could not be resolved)"
        );
        assert_eq!(
            error_message(r#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(error_message("plain"), "plain");
        assert_eq!(error_message(&"x".repeat(1000)).chars().count(), 301);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff(0), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(400));
        assert_eq!(policy.backoff(40), Duration::from_millis(500));
    }
}
