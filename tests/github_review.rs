//! GitHub review posting against a local server that answers like the REST API.
//!
//! Every test drives the real octocrab client (base URI = a wiremock server on 127.0.0.1) through
//! `hunkguard::forge::github`, then asserts the exact requests GitHub would have received.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hunkguard::diff::HunkSpan;
use hunkguard::findings::{fingerprint, Finding, Severity};
use hunkguard::forge::comment::{self, Key};
use hunkguard::forge::github::{self, GithubEnv, GithubError, GithubOptions, RetryPolicy, Token};
use hunkguard::forge::http::HttpError;
use hunkguard::forge::PostOptions;
use hunkguard::report::{ModelInfo, Report, ReviewedFile, ToolInfo, JSON_SCHEMA_VERSION};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const HEAD: &str = "1111111111111111111111111111111111111111";
const BASE: &str = "2222222222222222222222222222222222222222";
const PULL: &str = "/repos/acme/app/pulls/7";

fn finding(
    path: &str,
    lines: (u32, u32),
    cwe: &str,
    title: &str,
    severity: Severity,
    code: &str,
) -> Finding {
    Finding {
        path: path.into(),
        start_line: lines.0,
        end_line: lines.1,
        cwe: cwe.into(),
        title: title.into(),
        confidence: 0.9,
        severity,
        security_severity: 9.0,
        explanation: format!("{title} explained."),
        advice: format!("Fix the {title}."),
        code: code.into(),
        fingerprint: fingerprint(cwe, path, code),
    }
}

/// Two files; a critical one-line finding, a medium two-line finding, and a high finding outside the diff.
fn report() -> Report {
    Report {
        schema_version: JSON_SCHEMA_VERSION,
        tool: ToolInfo::default(),
        model: ModelInfo {
            name: "hunkguard-cwe".into(),
            version: "test".into(),
            provider: "CPU".into(),
            ..Default::default()
        },
        head_sha: Some(HEAD.into()),
        base_sha: Some(BASE.into()),
        started_at: "2026-01-02T03:04:05Z".into(),
        finished_at: "2026-01-02T03:04:06Z".into(),
        files: vec![
            ReviewedFile {
                path: "app/db.py".into(),
                old_path: None,
                hunks: vec![HunkSpan { start: 10, end: 20 }],
                changed_lines: 4,
            },
            ReviewedFile {
                path: "app/web.py".into(),
                old_path: None,
                hunks: vec![HunkSpan { start: 1, end: 5 }],
                changed_lines: 2,
            },
        ],
        findings: vec![
            finding(
                "app/db.py",
                (12, 12),
                "CWE-89",
                "SQL injection",
                Severity::Critical,
                "cur.execute(\"SELECT %s\" % name)",
            ),
            finding(
                "app/db.py",
                (15, 16),
                "CWE-328",
                "Weak hash for security",
                Severity::Medium,
                "h = hashlib.md5(pw)\nreturn h.hexdigest()",
            ),
            finding(
                "app/web.py",
                (40, 40),
                "CWE-79",
                "Cross-site scripting",
                Severity::High,
                "return f\"<b>{name}</b>\"",
            ),
        ],
        skipped: vec![],
        shard: None,
    }
}

fn env(server: &MockServer, summary: Option<&Path>) -> GithubEnv {
    GithubEnv {
        api_url: server.uri(),
        repository: "acme/app".into(),
        pr_number: 7,
        base_sha: BASE.into(),
        head_sha: HEAD.into(),
        head_repository: Some("acme/app".into()),
        event_name: "pull_request".into(),
        token: Some(Token::new("ghs_test_token")),
        step_summary: summary.map(Path::to_path_buf),
    }
}

fn options() -> GithubOptions {
    GithubOptions {
        retry: RetryPolicy::immediate(),
        ..GithubOptions::default()
    }
}

/// Matches requests whose JSON body has (or lacks) an inline `comments` array.
struct WithInlineComments(bool);

impl Match for WithInlineComments {
    fn matches(&self, request: &Request) -> bool {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        body.get("comments").is_some() == self.0
    }
}

async fn mount_listing(server: &MockServer, comments: Value, reviews: Value) {
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/comments")))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comments))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/reviews")))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(reviews))
        .mount(server)
        .await;
}

async fn mount_review_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 80, "state": "COMMENTED"})),
        )
        .mount(server)
        .await;
}

/// Bodies of the requests with this method and path, in order.
async fn sent(server: &MockServer, verb: &str, route: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == route)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

async fn mutating(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

/// The fingerprints a body's trailer reports, in order.
fn fingerprints(body: &str) -> Vec<String> {
    comment::trailer(body)
        .findings
        .into_iter()
        .map(|m| m.key.fingerprint)
        .collect()
}

/// What `finding_body` renders for `finding` on its end line, but for the run marker.
fn expected_body(finding: &Finding) -> String {
    comment::without_run_marker(&comment::finding_body(
        finding,
        &Key::first(&finding.fingerprint),
        finding.end_line,
        "any",
    ))
}

/// The author of our comments: `GET /user` is not mocked (404), so the job token's bot.
fn bot() -> Value {
    json!({"login": "github-actions[bot]"})
}

fn human_comment(id: u64) -> Value {
    json!({"id": id, "body": "Looks fine to me", "path": "app/db.py", "line": 11, "user": {"login": "octocat"}})
}

#[tokio::test]
async fn a_fresh_pr_gets_one_review_with_exact_inline_comments_and_the_rest_in_the_body() {
    let server = MockServer::start().await;
    // Page 1 links to page 2 the way GitHub does (an absolute /repositories/{id}/... URL).
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/comments")))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([human_comment(1)]))
                .insert_header(
                    "link",
                    format!(
                        "<{}/repositories/99/pulls/7/comments?per_page=100&page=2>; rel=\"next\", \
                         <{}/repositories/99/pulls/7/comments?per_page=100&page=2>; rel=\"last\"",
                        server.uri(),
                        server.uri()
                    ),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/99/pulls/7/comments"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([human_comment(2)])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    mount_review_ok(&server).await;

    let report = report();
    let mut out = Vec::new();
    let outcome = github::publish_to(&env(&server, None), &report, &options(), &mut out)
        .await
        .expect("review posted");

    assert_eq!(
        (outcome.posted, outcome.in_summary, outcome.already_present),
        (2, 1, 0)
    );
    assert_eq!(outcome.degraded, None);
    assert!(out.is_empty(), "no annotations when the review is posted");
    let reviews = sent(&server, "POST", &format!("{PULL}/reviews")).await;
    assert_eq!(reviews.len(), 1, "one review per run");
    let review = &reviews[0];
    assert_eq!(review["commit_id"], HEAD);
    assert_eq!(review["event"], "COMMENT");
    let comments = review["comments"].as_array().expect("inline comments");
    assert_eq!(comments.len(), 2);
    let mut comments = comments.clone();
    for (comment, finding) in comments.iter_mut().zip(&report.findings) {
        let body = comment["body"].take();
        assert_eq!(
            comment::without_run_marker(body.as_str().unwrap()),
            expected_body(finding)
        );
    }
    assert_eq!(
        comments[0],
        json!({ "path": "app/db.py", "line": 12, "side": "RIGHT", "body": null })
    );
    assert_eq!(
        comments[1],
        json!({
            "path": "app/db.py",
            "line": 16,
            "side": "RIGHT",
            "start_line": 15,
            "start_side": "RIGHT",
            "body": null,
        })
    );
    let body = review["body"].as_str().unwrap();
    assert!(comment::trailer(body).summary);
    assert!(body.contains("3 finding(s) on changed lines: 1 critical, 1 high, 1 medium, 0 low."));
    assert!(body.contains("CWE-79 Cross-site scripting in `app/web.py` line 40"));
    assert!(body.contains("line 40 is outside the diff"));
    assert_eq!(
        fingerprints(body),
        vec![report.findings[2].fingerprint.clone()]
    );
    assert_eq!(
        mutating(&server).await,
        vec![format!("POST {PULL}/reviews")]
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r
        .headers
        .get("authorization")
        .is_some_and(|v| v.to_str().unwrap_or_default() == "Bearer ghs_test_token")));
    server.verify().await;
}

#[tokio::test]
async fn a_rerun_on_the_same_head_posts_nothing() {
    // Run 1 on an empty PR; run 2 sees exactly what run 1 posted.
    let first = MockServer::start().await;
    mount_listing(&first, json!([]), json!([])).await;
    mount_review_ok(&first).await;
    let report = report();
    github::publish_to(&env(&first, None), &report, &options(), &mut Vec::new())
        .await
        .unwrap();
    let posted = sent(&first, "POST", &format!("{PULL}/reviews"))
        .await
        .remove(0);
    let existing: Vec<Value> = posted["comments"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"id": 500 + i, "body": c["body"], "path": c["path"], "line": c["line"],
                             "in_reply_to_id": null, "user": {"login": "github-actions[bot]"}})
        })
        .collect();
    let reviews = json!([{"id": 80, "body": posted["body"], "state": "COMMENTED", "user": bot()}]);

    let second = MockServer::start().await;
    mount_listing(&second, Value::Array(existing), reviews).await;
    mount_review_ok(&second).await;
    let outcome = github::publish_to(&env(&second, None), &report, &options(), &mut Vec::new())
        .await
        .unwrap();

    assert_eq!(outcome.already_present, 3);
    assert_eq!(
        (outcome.posted, outcome.in_summary, outcome.removed),
        (0, 0, 0)
    );
    assert_eq!(
        mutating(&second).await,
        Vec::<String>::new(),
        "no review, not even an empty one"
    );
}

#[tokio::test]
async fn a_push_that_fixes_findings_deletes_their_comments_or_answers_their_threads() {
    let server = MockServer::start().await;
    let report = report();
    let gone_alone = fingerprint("CWE-78", "app/db.py", "os.system(cmd)");
    let gone_discussed = fingerprint("CWE-22", "app/db.py", "open(base + name)");
    let old = |fp: &str| format!("old\n{}", comment::marker(&Key::first(fp), Some(11)));
    let mut comments = vec![
        json!({"id": 101, "body": old(&gone_alone), "in_reply_to_id": null, "user": bot()}),
        json!({"id": 102, "body": old(&gone_discussed), "in_reply_to_id": null, "user": bot()}),
        json!({"id": 103, "body": "This is a false positive, the name is validated", "in_reply_to_id": 102,
               "user": {"login": "octocat"}}),
    ];
    for (i, f) in report.findings.iter().enumerate().take(2) {
        let body = comment::finding_body(f, &Key::first(&f.fingerprint), f.end_line, "old");
        comments.push(json!({"id": 200 + i, "body": body, "in_reply_to_id": null, "user": bot()}));
    }
    let listed = comment::marker(&Key::first(&report.findings[2].fingerprint), None);
    let reviews = json!([{"body": format!("summary\n{listed}"), "user": bot()}]);
    mount_listing(&server, Value::Array(comments), reviews).await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/app/pulls/comments/101"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/comments/102/replies")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 104})))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = github::publish_to(&env(&server, None), &report, &options(), &mut Vec::new())
        .await
        .unwrap();

    assert_eq!(
        (outcome.removed, outcome.resolved, outcome.posted),
        (1, 1, 0)
    );
    assert_eq!(
        mutating(&server).await,
        vec![
            "DELETE /repos/acme/app/pulls/comments/101".to_string(),
            format!("POST {PULL}/comments/102/replies"),
        ]
    );
    let reply = &sent(&server, "POST", &format!("{PULL}/comments/102/replies")).await[0];
    let text = reply["body"].as_str().unwrap();
    assert!(text.contains(&format!("fixed in {HEAD}")), "{text}");
    assert_eq!(
        comment::trailer(text).answers,
        vec![Key::first(&gone_discussed)]
    );
    assert!(
        comment::trailer(text).findings.is_empty(),
        "a fixed reply never counts as the finding"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_422_on_the_review_moves_every_finding_into_the_body() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .and(WithInlineComments(true))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Unprocessable Entity",
            "errors": ["Pull request review thread line must be part of the diff"],
            "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .and(WithInlineComments(false))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 81})))
        .expect(1)
        .mount(&server)
        .await;

    let report = report();
    let outcome = github::publish_to(&env(&server, None), &report, &options(), &mut Vec::new())
        .await
        .unwrap();

    assert_eq!((outcome.posted, outcome.in_summary), (0, 3));
    let reviews = sent(&server, "POST", &format!("{PULL}/reviews")).await;
    assert_eq!(reviews.len(), 2);
    let retry = &reviews[1];
    assert_eq!(retry["commit_id"], HEAD);
    assert_eq!(retry["event"], "COMMENT");
    let body = retry["body"].as_str().unwrap();
    let mut markers = fingerprints(body);
    markers.sort();
    let mut expected: Vec<String> = report
        .findings
        .iter()
        .map(|f| f.fingerprint.clone())
        .collect();
    expected.sort();
    assert_eq!(markers, expected, "nothing is lost");
    // Highest severity first.
    let critical = body.find("CWE-89").unwrap();
    let high = body.find("CWE-79").unwrap();
    let medium = body.find("CWE-328").unwrap();
    assert!(critical < high && high < medium);
    server.verify().await;
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_then_reported_without_losing_findings()
{
    let server = MockServer::start().await;
    // The listing fails once and then works: retried transparently.
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/comments")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_listing(&server, json!([]), json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .expect(4)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");

    let report = report();
    let mut out = Vec::new();
    let error = github::publish_to(&env(&server, Some(&summary)), &report, &options(), &mut out)
        .await
        .expect_err("the 5xx is reported");

    match &error {
        GithubError::Http(HttpError::Status {
            status, attempts, ..
        }) => assert_eq!((*status, *attempts), (502, 4)),
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(
        sent(&server, "GET", &format!("{PULL}/comments"))
            .await
            .len(),
        2
    );
    let annotations = String::from_utf8(out).unwrap();
    assert!(
        annotations.contains("::error file=app/db.py,line=12,endLine=12,title=hunkguard%3A CWE-89")
    );
    assert!(annotations.contains("::error file=app/web.py,line=40,endLine=40"));
    assert!(annotations.contains("::warning file=app/db.py,line=15,endLine=16"));
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("posting failed"), "{markdown}");
    assert!(
        markdown.contains("| high | CWE-79 Cross-site scripting | `app/web.py` line 40 | 90% |")
    );
    server.verify().await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_mutations_are_spaced() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A secondary rate limit (403 + retry-after), then a primary one (429, budget spent, reset later).
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"message": "You have exceeded a secondary rate limit"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", (now + 1).to_string().as_str()),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    mount_review_ok(&server).await;

    let options = GithubOptions {
        retry: RetryPolicy::immediate().with_spacing(Duration::from_millis(50)),
        ..GithubOptions::default()
    };
    let started = Instant::now();
    let outcome = github::publish_to(&env(&server, None), &report(), &options, &mut Vec::new())
        .await
        .unwrap();
    let elapsed = started.elapsed();

    assert_eq!(outcome.posted, 2);
    assert_eq!(
        sent(&server, "POST", &format!("{PULL}/reviews"))
            .await
            .len(),
        3
    );
    // Both waits were honoured in full: 1 s, then until the reset (1-2 s away).
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
}

#[tokio::test]
async fn a_wait_past_the_posting_deadline_is_not_started() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let options = GithubOptions {
        post: PostOptions {
            deadline: Duration::from_secs(5),
            ..PostOptions::default()
        },
        ..options()
    };
    let started = Instant::now();
    let mut out = Vec::new();
    let error = github::publish_to(&env(&server, Some(&summary)), &report(), &options, &mut out)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, GithubError::Http(HttpError::Deadline { .. })),
        "{error}"
    );
    // The fallback still shows every finding.
    let annotations = String::from_utf8(out).unwrap();
    let shown = annotations
        .lines()
        .filter(|l| l.starts_with("::error ") || l.starts_with("::warning "))
        .count();
    assert_eq!(shown, 3, "{annotations}");
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.contains("posting deadline"), "{markdown}");
    server.verify().await;
}

#[tokio::test]
async fn still_rate_limited_after_every_retry_is_an_error() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .expect(3)
        .mount(&server)
        .await;
    let options = GithubOptions {
        retry: RetryPolicy::immediate().with_max_retries(2),
        ..GithubOptions::default()
    };
    let error = github::publish_to(&env(&server, None), &report(), &options, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            GithubError::Http(HttpError::RateLimited { attempts: 3, .. })
        ),
        "{error}"
    );
    server.verify().await;
}

#[tokio::test]
async fn a_403_from_a_read_only_token_degrades_to_annotations_and_the_job_summary() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    Mock::given(method("POST"))
        .and(path(format!("{PULL}/reviews")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();

    let mut out = Vec::new();
    let outcome = github::publish_to(
        &env(&server, Some(&summary)),
        &report(),
        &options(),
        &mut out,
    )
    .await
    .expect("a read-only token is no failure");

    let reason = outcome.degraded.expect("degraded");
    assert!(
        reason.contains("Resource not accessible by integration"),
        "{reason}"
    );
    assert_eq!(outcome.in_summary, 3);
    let annotations = String::from_utf8(out).unwrap();
    assert_eq!(
        annotations
            .lines()
            .filter(|l| l.starts_with("::error "))
            .count(),
        2
    );
    assert_eq!(
        annotations
            .lines()
            .filter(|l| l.starts_with("::warning "))
            .count(),
        1
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.starts_with("earlier step\n## hunkguard security review"),
        "appended: {markdown}"
    );
    assert!(markdown.contains("Review comments were not posted"));
    server.verify().await;
}

#[tokio::test]
async fn a_fork_or_a_missing_token_calls_no_api_at_all() {
    let server = MockServer::start().await;
    let mut fork = env(&server, None);
    fork.head_repository = Some("mallory/app".into());
    let mut out = Vec::new();
    let outcome = github::publish_to(&fork, &report(), &options(), &mut out)
        .await
        .unwrap();
    assert!(outcome.degraded.unwrap().contains("mallory/app"));
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("::error file=app/db.py,line=12"));

    let mut tokenless = env(&server, None);
    tokenless.token = None;
    let outcome = github::publish_to(&tokenless, &report(), &options(), &mut Vec::new())
        .await
        .unwrap();
    assert!(outcome.degraded.unwrap().contains("no token"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_sarif_upload_sends_gzipped_base64_for_the_pr_head() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/code-scanning/sarifs"))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(json!({"id": "47177e22", "url": "x"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("hunkguard.sarif");
    let text = r#"{"version":"2.1.0","runs":[]}"#;
    std::fs::write(&sarif, text).unwrap();
    let options = GithubOptions {
        upload_sarif: Some(sarif),
        post: PostOptions {
            max_comments: 30,
            ..PostOptions::default()
        },
        ..options()
    };

    github::publish_to(&env(&server, None), &report(), &options, &mut Vec::new())
        .await
        .unwrap();

    let upload = &sent(&server, "POST", "/repos/acme/app/code-scanning/sarifs").await[0];
    assert_eq!(upload["commit_sha"], HEAD);
    assert_eq!(upload["ref"], "refs/pull/7/head");
    let gz = base64::engine::general_purpose::STANDARD
        .decode(upload["sarif"].as_str().unwrap())
        .unwrap();
    let mut round_trip = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut round_trip)
        .unwrap();
    assert_eq!(round_trip, text);
    server.verify().await;
}

#[tokio::test]
async fn a_refused_sarif_upload_is_an_error_that_names_the_permission() {
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/app/code-scanning/sarifs"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("hunkguard.sarif");
    std::fs::write(&sarif, "{}").unwrap();
    let options = GithubOptions {
        upload_sarif: Some(sarif),
        ..options()
    };
    let error = github::publish_to(&env(&server, None), &report(), &options, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("security-events: write"),
        "{error}"
    );
    assert_eq!(
        sent(&server, "POST", &format!("{PULL}/reviews"))
            .await
            .len(),
        1,
        "the review went out first"
    );
}

fn pull_json(head: &str, state: &str) -> Value {
    json!({"number": 7, "state": state, "head": {"sha": head, "repo": {"full_name": "mallory/app"}},
           "base": {"sha": BASE, "repo": {"full_name": "acme/app"}}})
}

fn post_env(server: &MockServer) -> GithubEnv {
    GithubEnv {
        event_name: "workflow_run".into(),
        head_repository: Some("mallory/app".into()),
        ..env(server, None)
    }
}

#[tokio::test]
async fn post_skips_a_pull_request_whose_head_moved() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PULL))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull_json(&"9".repeat(40), "open")))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = github::post_report(&post_env(&server), &report(), &options(), &mut Vec::new())
        .await
        .unwrap();
    assert!(outcome.degraded.unwrap().contains("nothing posted"));
    assert_eq!(mutating(&server).await, Vec::<String>::new());
    server.verify().await;
}

#[tokio::test]
async fn post_publishes_a_fork_report_with_texts_from_the_catalogue() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PULL))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull_json(HEAD, "open")))
        .mount(&server)
        .await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;
    let mut forged = report();
    forged.findings[0].title = "[click me](https://evil.example) @everyone".into();
    forged.findings[0].advice = "<img src=x onerror=alert(1)>".into();

    let outcome = github::post_report(&post_env(&server), &forged, &options(), &mut Vec::new())
        .await
        .unwrap();

    assert_eq!(
        outcome.degraded, None,
        "a workflow_run token may write even for a fork"
    );
    assert_eq!(outcome.posted, 2);
    let review = &sent(&server, "POST", &format!("{PULL}/reviews")).await[0];
    let first = review["comments"][0]["body"].as_str().unwrap();
    assert!(first.contains("SQL injection"));
    assert!(!first.contains("evil.example") && !first.contains("<img"));
}

#[tokio::test]
async fn a_timed_out_request_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/comments")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;
    let options = GithubOptions {
        retry: RetryPolicy::immediate().with_timeout(Duration::from_millis(300)),
        ..GithubOptions::default()
    };
    let outcome = github::publish_to(&env(&server, None), &report(), &options, &mut Vec::new())
        .await
        .expect("the second attempt answers in time");
    assert_eq!(outcome.posted, 2);
    assert_eq!(
        sent(&server, "GET", &format!("{PULL}/comments"))
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn the_post_command_posts_a_report_artifact_from_a_workflow_run_job() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(PULL))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull_json(HEAD, "open")))
        .expect(1)
        .mount(&server)
        .await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("artifact");
    std::fs::create_dir(&artifact).unwrap();
    std::fs::write(
        artifact.join("hunkguard.json"),
        serde_json::to_string(&report()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        artifact.join("pr.json"),
        json!({"number": 7, "head_sha": HEAD, "repository": "acme/app"}).to_string(),
    )
    .unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        json!({"action": "completed", "workflow_run": {"head_sha": HEAD, "pull_requests": [],
               "head_repository": {"full_name": "mallory/app"}}})
        .to_string(),
    )
    .unwrap();
    let summary = dir.path().join("summary.md");

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hunkguard"));
    command
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", server.uri())
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_TOKEN", "ghs_test_token")
        .env("GITHUB_EVENT_NAME", "workflow_run")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "post",
            "--findings",
            "artifact/hunkguard.json",
            "--fail-on",
            "high",
        ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(
        output.status.code(),
        Some(1),
        "findings at --fail-on decide: {stderr}"
    );
    assert!(
        stderr.contains("pull request #7: 2 new inline comment(s), 1 in the review body"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ghs_test_token")
            && !String::from_utf8_lossy(&output.stdout).contains("ghs_test_token")
    );
    let review = &sent(&server, "POST", &format!("{PULL}/reviews")).await[0];
    assert_eq!(review["commit_id"], HEAD);
    assert_eq!(review["comments"].as_array().unwrap().len(), 2);
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("2 new inline comment(s)"));
    server.verify().await;
}

const ADDED_VIEWS: &str = r#"import os
from flask import Flask, request

app = Flask(__name__)


@app.route("/ping")
def ping():
    host = request.args.get("host", "")
    os.system("ping -c 1 " + host)
    return "sent"
"#;

/// A repository with a pull request adding a command injection, and the event file of its job.
fn pull_request_job(dir: &Path) -> (common::Repo, String, String, std::path::PathBuf) {
    let repo = common::Repo::with_base(&[("shop/keep.py", "x = 1\n")]);
    let base = repo.git(&["rev-parse", "HEAD"]);
    repo.branch("feature");
    repo.write("shop/views.py", ADDED_VIEWS);
    let head = repo.commit_all("ping endpoint");
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        json!({"number": 7, "pull_request": {"number": 7,
            "base": {"sha": base, "repo": {"full_name": "acme/app"}},
            "head": {"sha": head, "repo": {"full_name": "acme/app"}}}})
        .to_string(),
    )
    .unwrap();
    (repo, base, head, event)
}

fn review_command(
    repo: &common::Repo,
    server: &MockServer,
    event: &Path,
    dir: &Path,
) -> std::process::Command {
    let mut command = common::hunkguard(repo.path());
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_API_URL", server.uri())
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_TOKEN", "ghs_test_token")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event)
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .args(["review", "--reports-dir"])
        .arg(dir.join("reports"))
        .args(["--fail-on", "high", "--no-progress"]);
    command
}

/// The exit code `--fail-on high` gives for `report`.
fn expected_exit(report: &Report) -> i32 {
    i32::from(report.findings.iter().any(|f| f.severity >= Severity::High))
}

// The two tests below run the real binary with the shipped model. What the model finds is not theirs to
// check (tests/cli_scan.rs does that), so they assert the wiring for whatever the report holds.

#[tokio::test]
async fn the_review_command_writes_reports_first_then_posts_one_review() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _base, head, event) = pull_request_job(dir.path());
    let server = MockServer::start().await;
    mount_listing(&server, json!([]), json!([])).await;
    mount_review_ok(&server).await;

    let mut command = review_command(&repo, &server, &event, dir.path());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    let reports = dir.path().join("reports");
    let report = Report::read_json(&reports.join("hunkguard.json"))
        .unwrap_or_else(|e| panic!("JSON report written ({e}): {}", common::describe(&output)));
    assert_eq!(report.head_sha.as_deref(), Some(head.as_str()));
    assert_eq!(
        output.status.code(),
        Some(expected_exit(&report)),
        "findings decide the exit code: {}",
        common::describe(&output)
    );
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("hunkguard.sarif")).unwrap())
            .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let pr: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("pr.json")).unwrap()).unwrap();
    assert_eq!(
        pr,
        json!({"number": 7, "head_sha": head, "repository": "acme/app"})
    );
    let outputs = std::fs::read_to_string(dir.path().join("output")).unwrap();
    assert!(
        outputs.contains(&format!("findings={}\n", report.findings.len())),
        "{outputs}"
    );
    assert!(outputs.contains(&format!(
        "sarif-file={}\n",
        reports.join("hunkguard.sarif").display()
    )));
    assert_eq!(
        sent(&server, "GET", &format!("{PULL}/comments"))
            .await
            .len(),
        1
    );

    let reviews = sent(&server, "POST", &format!("{PULL}/reviews")).await;
    if report.findings.is_empty() {
        assert!(reviews.is_empty(), "no empty review");
    } else {
        assert_eq!(reviews.len(), 1, "{}", common::describe(&output));
        assert_eq!(reviews[0]["commit_id"], head.as_str());
        assert_eq!(reviews[0]["event"], "COMMENT");
        for comment in reviews[0]["comments"].as_array().into_iter().flatten() {
            assert_eq!(comment["path"], "shop/views.py");
            assert_eq!(comment["side"], "RIGHT");
        }
    }
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("## hunkguard security review"));
}

#[tokio::test]
async fn when_posting_fails_the_findings_still_decide_and_the_reports_stay_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _base, _head, event) = pull_request_job(dir.path());
    let server = MockServer::start().await;
    // The first call of every run fails, whatever the model found.
    Mock::given(method("GET"))
        .and(path(format!("{PULL}/comments")))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;

    let mut command = review_command(&repo, &server, &event, dir.path());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = Report::read_json(&dir.path().join("reports/hunkguard.json"))
        .unwrap_or_else(|e| panic!("report on disk ({e}): {}", common::describe(&output)));
    assert_eq!(
        output.status.code(),
        Some(expected_exit(&report)),
        "{}",
        common::describe(&output)
    );
    assert!(
        stderr.contains("warning: review not posted to pull request #7"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 500 after 4 attempt(s)"), "{stderr}");
    assert!(dir.path().join("reports/hunkguard.sarif").is_file());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for finding in &report.findings {
        assert!(
            stdout.contains(&format!(
                "file={},line={}",
                finding.path, finding.start_line
            )),
            "annotated: {stdout}"
        );
    }
    assert!(std::fs::read_to_string(dir.path().join("summary.md"))
        .unwrap()
        .contains("posting failed"));

    let mut strict = review_command(&repo, &server, &event, dir.path());
    strict.arg("--strict");
    let output = tokio::task::spawn_blocking(move || strict.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "--strict turns a posting failure into a failure: {}",
        common::describe(&output)
    );
}
