//! The GitLab forge against a local fake of GitLab's REST API v4 (wiremock on 127.0.0.1).
//!
//! The fake keeps state like GitLab does: discussions created by one run are listed (paginated) by the
//! next, resolving and note edits change them, and a position on a line outside the diff is refused
//! with GitLab's "line_code can't be blank". Scripted failures (429 with `Retry-After`, 5xx, slow
//! answers, 401/403) are mounted in front of it. Reports are built by hand: no model is needed.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::finding;
use hunkguard::diff::HunkSpan;
use hunkguard::forge::comment::Key;
use hunkguard::forge::comment::{self, SUMMARY_MARKER};
use hunkguard::forge::gitlab::{
    publish, GitlabEnv, GitlabError, GitlabOptions, RetryPolicy, TOKEN_HELP,
};
use hunkguard::forge::http::HttpError;
use hunkguard::forge::PostOptions;
use hunkguard::report::{Report, ReviewedFile, JSON_SCHEMA_VERSION};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "glpat-test-secret";
const MR: &str = "/api/v4/projects/42/merge_requests/7";
const BASE: &str = "1111111111111111111111111111111111111111";
const START: &str = "5555555555555555555555555555555555555555";
const HEAD: &str = "2222222222222222222222222222222222222222";
const HEAD2: &str = "3333333333333333333333333333333333333333";
/// The user id of the token's user (`GET /user`): notes by it are ours.
const BOT_ID: u64 = 99;

// ---------------------------------------------------------------------------------------------
// The fake GitLab
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct State {
    /// `diff_refs` of the merge request (None: not computed yet).
    diff_refs: Option<(String, String, String)>,
    /// Versions, newest first: (base, start, head).
    versions: Vec<(String, String, String)>,
    /// Per path, the new-side lines of the latest diff a position may name.
    diff_lines: BTreeMap<String, Vec<u32>>,
    discussions: Vec<Value>,
    next_id: u64,
    /// Discussions per page, whatever `per_page` asks (so that pagination is exercised).
    page_size: usize,
    /// Paginate with `Link` instead of `x-next-page`.
    link_pagination: bool,
    /// Answer 403 to every write (a token with `read_api` only).
    read_only: bool,
    /// Answer 403 to resolving (a Reporter may comment but not resolve).
    reporter_role: bool,
    /// `http://127.0.0.1:port`, for absolute `Link` URLs (wiremock's request URL has no port).
    origin: String,
}

#[derive(Clone)]
struct FakeGitlab(Arc<Mutex<State>>);

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "message": message }))
}

impl Respond for FakeGitlab {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("fake state");
        if request.headers.get("JOB-TOKEN").is_some() {
            return error(401, "401 Unauthorized");
        }
        let token = request
            .headers
            .get("PRIVATE-TOKEN")
            .and_then(|v| v.to_str().ok());
        if token != Some(TOKEN) {
            return error(401, "401 Unauthorized");
        }
        if request.url.path() == "/api/v4/user" && request.method.as_str() == "GET" {
            return ResponseTemplate::new(200)
                .set_body_json(json!({ "id": BOT_ID, "username": "project_42_bot" }));
        }
        let Some(rest) = request.url.path().strip_prefix(MR) else {
            return error(404, "404 Project Not Found");
        };
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        let method = request.method.as_str();
        if method != "GET" && state.read_only {
            return error(403, "403 Forbidden - insufficient_scope");
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match (method, segments.as_slice()) {
            ("GET", []) => {
                let refs = state
                    .diff_refs
                    .as_ref()
                    .map(|(b, s, h)| json!({ "base_sha": b, "start_sha": s, "head_sha": h }));
                ResponseTemplate::new(200).set_body_json(json!({
                    "id": 1007, "iid": 7, "project_id": 42, "state": "opened", "diff_refs": refs,
                }))
            }
            ("GET", ["versions"]) => {
                let versions: Vec<Value> = state
                    .versions
                    .iter()
                    .enumerate()
                    .map(|(i, (b, s, h))| {
                        json!({ "id": 900 - i, "base_commit_sha": b, "start_commit_sha": s,
                                "head_commit_sha": h, "state": "collected" })
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(versions)
            }
            ("GET", ["discussions"]) => {
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let size = state.page_size.max(1);
                let items: Vec<Value> = state
                    .discussions
                    .iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .cloned()
                    .collect();
                let more = page * size < state.discussions.len();
                let mut reply = ResponseTemplate::new(200).set_body_json(items);
                if state.link_pagination {
                    if more {
                        let next = format!(
                            "<{}{MR}/discussions?page={}&per_page=100>; rel=\"next\"",
                            state.origin,
                            page + 1
                        );
                        reply = reply.insert_header("link", next.as_str());
                    }
                } else {
                    let next = if more {
                        (page + 1).to_string()
                    } else {
                        String::new()
                    };
                    reply = reply.insert_header("x-next-page", next.as_str());
                }
                reply
            }
            ("POST", ["discussions"]) => {
                let Ok(body) = request.body_json::<Value>() else {
                    return error(400, "400 Bad request - body is not JSON");
                };
                let position = &body["position"];
                let refs = state
                    .diff_refs
                    .clone()
                    .or_else(|| state.versions.first().cloned());
                let Some((b, s, h)) = refs else {
                    return error(400, "400 Bad request - no diff");
                };
                let known_version =
                    [(b, s, h)]
                        .iter()
                        .chain(state.versions.iter())
                        .any(|(b, s, h)| {
                            position["base_sha"] == *b
                                && position["start_sha"] == *s
                                && position["head_sha"] == *h
                        });
                let new_path = position["new_path"].as_str().unwrap_or_default();
                let line = position["new_line"].as_u64().unwrap_or(0) as u32;
                let on_diff = state
                    .diff_lines
                    .get(new_path)
                    .is_some_and(|lines| lines.contains(&line));
                if position["position_type"] != "text"
                    || position["old_path"].as_str().is_none()
                    || !known_version
                    || !on_diff
                {
                    return error(
                        400,
                        "400 Bad request - Note {:line_code=>[\"can't be blank\"]}",
                    );
                }
                state.next_id += 1;
                let id = state.next_id;
                let discussion = json!({
                    "id": format!("{id:040x}"),
                    "individual_note": false,
                    "notes": [{
                        "id": id, "type": "DiffNote", "body": body["body"], "system": false,
                        "resolvable": true, "resolved": false, "position": position,
                        "author": { "id": BOT_ID, "username": "project_42_bot" },
                    }],
                });
                state.discussions.push(discussion.clone());
                ResponseTemplate::new(201).set_body_json(discussion)
            }
            ("PUT", ["discussions", _]) if state.reporter_role => error(403, "403 Forbidden"),
            ("PUT", ["discussions", id]) => {
                let resolved = query.get("resolved").map(String::as_str) == Some("true");
                let Some(discussion) = state.discussions.iter_mut().find(|d| d["id"] == *id) else {
                    return error(404, "404 Not found");
                };
                if let Some(notes) = discussion["notes"].as_array_mut() {
                    for note in notes.iter_mut().filter(|n| n["resolvable"] == true) {
                        note["resolved"] = json!(resolved);
                    }
                }
                ResponseTemplate::new(200).set_body_json(discussion.clone())
            }
            ("POST", ["notes"]) => {
                let Ok(body) = request.body_json::<Value>() else {
                    return error(400, "400 Bad request - body is not JSON");
                };
                state.next_id += 1;
                let id = state.next_id;
                let note = json!({ "id": id, "body": body["body"], "system": false,
                                   "resolvable": false, "type": null, "author": { "id": BOT_ID } });
                state.discussions.push(json!({
                    "id": format!("{id:040x}"), "individual_note": true, "notes": [note.clone()],
                }));
                ResponseTemplate::new(201).set_body_json(note)
            }
            ("PUT", ["notes", id]) => {
                let Ok(body) = request.body_json::<Value>() else {
                    return error(400, "400 Bad request - body is not JSON");
                };
                let id: u64 = id.parse().unwrap_or(0);
                let note = state
                    .discussions
                    .iter_mut()
                    .filter_map(|d| d["notes"].as_array_mut())
                    .flat_map(|notes| notes.iter_mut())
                    .find(|n| n["id"] == id);
                if let Some(note) = note {
                    note["body"] = body["body"].clone();
                    return ResponseTemplate::new(200).set_body_json(note.clone());
                }
                error(404, "404 Not found")
            }
            _ => error(404, "404 Not Found"),
        }
    }
}

struct Fake {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl Fake {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            diff_refs: Some((BASE.into(), START.into(), HEAD.into())),
            versions: vec![(BASE.into(), START.into(), HEAD.into())],
            diff_lines: BTreeMap::from([
                ("app/db.py".to_string(), (10..=20).collect()),
                ("app/views.py".to_string(), (1..=8).collect()),
                ("app/new_handler.py".to_string(), (1..=30).collect()),
            ]),
            page_size: 100,
            origin: server.uri(),
            ..State::default()
        }));
        Mock::given(path_regex("^/api/v4/"))
            .respond_with(FakeGitlab(state.clone()))
            .with_priority(10)
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn env(&self, token_vars: &[(&str, &str)]) -> GitlabEnv {
        let mut vars: BTreeMap<String, String> = [
            ("CI_API_V4_URL", format!("{}/api/v4", self.server.uri())),
            ("CI_PROJECT_ID", "42".into()),
            ("CI_MERGE_REQUEST_IID", "7".into()),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE.into()),
            ("CI_COMMIT_SHA", HEAD.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in token_vars {
            vars.insert(k.to_string(), v.to_string());
        }
        GitlabEnv::from_lookup(|name| vars.get(name).cloned()).expect("a complete CI environment")
    }

    fn token_env(&self) -> GitlabEnv {
        self.env(&[("HUNKGUARD_GITLAB_TOKEN", TOKEN)])
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    async fn count(&self, verb: &str, suffix: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == format!("{MR}{suffix}"))
            .count()
    }

    fn discussions(&self) -> Vec<Value> {
        self.state.lock().expect("fake state").discussions.clone()
    }

    fn summary_notes(&self) -> Vec<Value> {
        self.discussions()
            .iter()
            .flat_map(|d| d["notes"].as_array().cloned().unwrap_or_default())
            .filter(|n| {
                n["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(SUMMARY_MARKER))
            })
            .collect()
    }
}

fn options() -> GitlabOptions {
    GitlabOptions {
        post: PostOptions::default(),
        retry: RetryPolicy {
            max_retries: 3,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            rate_limit_backoff: Duration::from_millis(10),
            spacing: Duration::ZERO,
            timeout: Duration::from_millis(800),
            connect_timeout: Duration::from_secs(2),
        },
        dry_run: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Reports built by hand
// ---------------------------------------------------------------------------------------------

fn file(path: &str, old_path: Option<&str>, start: u32, end: u32) -> ReviewedFile {
    ReviewedFile {
        path: path.into(),
        old_path: old_path.map(Into::into),
        hunks: vec![HunkSpan { start, end }],
        changed_lines: (end - start + 1) as usize,
    }
}

/// A modified file, a renamed file and a new file, with one finding each, plus one finding outside
/// every hunk (it must go to the summary).
fn report(head: &str) -> Report {
    Report {
        schema_version: JSON_SCHEMA_VERSION,
        head_sha: Some(head.into()),
        base_sha: Some(BASE.into()),
        started_at: "2026-01-02T03:04:05Z".into(),
        finished_at: "2026-01-02T03:04:06Z".into(),
        files: vec![
            file("app/db.py", None, 10, 20),
            file("app/views.py", Some("app/old_views.py"), 1, 8),
            file("app/new_handler.py", None, 1, 30),
        ],
        findings: vec![
            finding("app/db.py", 12, "CWE-89", "cur.execute(q % name)"),
            finding("app/db.py", 40, "CWE-78", "os.system(cmd)"),
            finding("app/new_handler.py", 5, "CWE-502", "pickle.loads(data)"),
            finding("app/views.py", 3, "CWE-79", "return Markup(user)"),
        ],
        ..Report::default()
    }
}

fn posted_positions(fake_discussions: &[Value]) -> Vec<Value> {
    fake_discussions
        .iter()
        .filter(|d| d["individual_note"] == false)
        .map(|d| d["notes"][0]["position"].clone())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn discussions_sit_on_exact_positions_and_the_rest_goes_to_one_summary() {
    let fake = Fake::start().await;
    let report = report(HEAD);
    let outcome = publish(&fake.token_env(), &report, &options())
        .await
        .expect("publish");

    assert_eq!(outcome.posted, 3, "{outcome:?}");
    assert_eq!(outcome.in_summary, 1, "{outcome:?}");
    assert_eq!(outcome.degraded, None);

    let requests = fake.requests().await;
    let posts: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == format!("{MR}/discussions"))
        .map(|r| r.body_json::<Value>().expect("JSON body"))
        .collect();
    let positions: Vec<&Value> = posts.iter().map(|b| &b["position"]).collect();
    let expected = |old: &str, new: &str, line: u32| {
        json!({
            "position_type": "text", "base_sha": BASE, "start_sha": START, "head_sha": HEAD,
            "old_path": old, "new_path": new, "new_line": line,
        })
    };
    assert_eq!(
        positions,
        vec![
            &expected("app/db.py", "app/db.py", 12),
            &expected("app/new_handler.py", "app/new_handler.py", 5),
            &expected("app/old_views.py", "app/views.py", 3),
        ]
    );
    // Each body is the shared rendering, with the fingerprint marker.
    let first = &report.findings[0];
    assert_eq!(
        comment::without_run_marker(posts[0]["body"].as_str().unwrap_or_default()),
        comment::without_run_marker(&comment::finding_body(
            first,
            &Key::first(&first.fingerprint),
            12,
            "any"
        ))
    );
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("PRIVATE-TOKEN")
                .and_then(|v| v.to_str().ok()),
            Some(TOKEN)
        );
    }

    let summaries = fake.summary_notes();
    assert_eq!(summaries.len(), 1);
    let summary = summaries[0]["body"].as_str().unwrap_or_default();
    assert!(summary.contains("CWE-78"), "{summary}");
    assert!(summary.contains("outside the diff"), "{summary}");
    assert!(
        !summary.contains("CWE-502"),
        "inline findings are not repeated: {summary}"
    );
}

#[tokio::test]
async fn a_second_run_on_the_same_head_posts_nothing() {
    let fake = Fake::start().await;
    let report = report(HEAD);
    publish(&fake.token_env(), &report, &options())
        .await
        .expect("first run");
    let writes_before = fake
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .count();

    let outcome = publish(&fake.token_env(), &report, &options())
        .await
        .expect("second run");
    assert_eq!(outcome.posted, 0, "{outcome:?}");
    assert_eq!(outcome.already_present, 3, "{outcome:?}");
    assert_eq!(outcome.resolved, 0);
    assert_eq!(outcome.in_summary, 1);
    let writes_after = fake
        .requests()
        .await
        .iter()
        .filter(|r| r.method.as_str() != "GET")
        .count();
    assert_eq!(
        writes_before, writes_after,
        "the second run wrote something"
    );
    assert_eq!(fake.discussions().len(), 4);
}

#[tokio::test]
async fn a_fixed_finding_is_resolved_and_the_summary_is_edited_in_place() {
    let fake = Fake::start().await;
    publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("first run");
    let summary_id = fake.summary_notes()[0]["id"].clone();

    // A new push fixes the SQL injection.
    {
        let mut state = fake.state.lock().expect("fake state");
        state.diff_refs = Some((BASE.into(), START.into(), HEAD2.into()));
        state
            .versions
            .insert(0, (BASE.into(), START.into(), HEAD2.into()));
    }
    let mut fixed = report(HEAD2);
    fixed.findings.remove(0);
    let outcome = publish(&fake.token_env(), &fixed, &options())
        .await
        .expect("second run");

    assert_eq!(outcome.resolved, 1, "{outcome:?}");
    assert_eq!(outcome.posted, 0, "{outcome:?}");
    assert_eq!(outcome.already_present, 2, "{outcome:?}");
    let db_thread = fake
        .discussions()
        .into_iter()
        .find(|d| d["notes"][0]["position"]["new_path"] == "app/db.py")
        .expect("the db.py thread");
    assert_eq!(db_thread["notes"][0]["resolved"], true);
    let resolve_path = format!(
        "{MR}/discussions/{}",
        db_thread["id"].as_str().unwrap_or_default()
    );
    assert!(fake
        .requests()
        .await
        .iter()
        .any(|r| r.method.as_str() == "PUT"
            && r.url.path() == resolve_path
            && r.url.query() == Some("resolved=true")));

    // One summary note, the same one, now naming the new head.
    let summaries = fake.summary_notes();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["id"], summary_id);
    assert!(summaries[0]["body"]
        .as_str()
        .unwrap_or_default()
        .contains(&HEAD2[..12]));
    assert_eq!(fake.count("POST", "/notes").await, 1);
    assert_eq!(fake.count("PUT", &format!("/notes/{summary_id}")).await, 1);

    // A third run on the same head resolves nothing twice.
    let outcome = publish(&fake.token_env(), &fixed, &options())
        .await
        .expect("third run");
    assert_eq!((outcome.posted, outcome.resolved), (0, 0), "{outcome:?}");
}

#[tokio::test]
async fn a_reporter_token_that_cannot_resolve_still_updates_the_summary() {
    let fake = Fake::start().await;
    publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("first run");
    fake.state.lock().expect("fake state").reporter_role = true;
    let mut fixed = report(HEAD);
    fixed.findings.remove(0);
    let outcome = publish(&fake.token_env(), &fixed, &options())
        .await
        .expect("Ok");
    assert_eq!(outcome.resolved, 0, "{outcome:?}");
    let why = outcome.degraded.expect("degraded");
    assert!(why.contains("Developer"), "{why}");
    assert_eq!(fake.summary_notes().len(), 1);
    assert_eq!(fake.count("POST", "/notes").await, 1);
    assert!(fake
        .requests()
        .await
        .iter()
        .any(|r| r.method.as_str() == "PUT" && r.url.path().starts_with(&format!("{MR}/notes/"))));
}

#[tokio::test]
async fn existing_discussions_are_read_across_pages_either_pagination_style() {
    for link_pagination in [false, true] {
        let fake = Fake::start().await;
        publish(&fake.token_env(), &report(HEAD), &options())
            .await
            .expect("first run");
        {
            // Bury our threads behind other people's comments, two discussions per page.
            let mut state = fake.state.lock().expect("fake state");
            let ours = std::mem::take(&mut state.discussions);
            for i in 0..5 {
                state.discussions.push(json!({
                    "id": format!("human{i}"), "individual_note": true,
                    "notes": [{ "id": 5000 + i, "body": format!("LGTM {i}"),
                                "system": false, "resolvable": false }],
                }));
            }
            state.discussions.push(json!({
                "id": "sys", "individual_note": true,
                "notes": [{ "id": 6000, "body": "added 1 commit", "system": true }],
            }));
            state.discussions.extend(ours);
            state.page_size = 2;
            state.link_pagination = link_pagination;
        }
        let outcome = publish(&fake.token_env(), &report(HEAD), &options())
            .await
            .expect("re-run");
        assert_eq!(outcome.posted, 0, "link={link_pagination} {outcome:?}");
        assert_eq!(
            outcome.already_present, 3,
            "link={link_pagination} {outcome:?}"
        );
        assert_eq!(outcome.resolved, 0, "link={link_pagination} {outcome:?}");
        assert_eq!(
            fake.summary_notes().len(),
            1,
            "summary found on the last page"
        );

        let lists: Vec<Request> = fake
            .requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == "GET" && r.url.path() == format!("{MR}/discussions"))
            .collect();
        // First run: one page. Re-run: 10 discussions, 2 per page.
        assert_eq!(lists.len(), 1 + 5, "link={link_pagination}");
        assert!(lists
            .iter()
            .all(|r| r.url.query().is_some_and(|q| q.contains("per_page=100"))));
    }
}

#[tokio::test]
async fn the_inline_cap_sends_the_rest_to_the_summary() {
    let fake = Fake::start().await;
    let mut opts = options();
    opts.post.max_comments = 1;
    let outcome = publish(&fake.token_env(), &report(HEAD), &opts)
        .await
        .expect("publish");
    assert_eq!(outcome.posted, 1, "{outcome:?}");
    assert_eq!(outcome.in_summary, 3, "{outcome:?}");
    let summary = fake.summary_notes()[0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(summary.contains("over the cap of 1"), "{summary}");
    assert!(
        summary.contains("CWE-502") && summary.contains("CWE-79"),
        "{summary}"
    );
}

#[tokio::test]
async fn a_refused_position_goes_to_the_summary_and_the_others_are_posted() {
    let fake = Fake::start().await;
    // GitLab's own diff lacks line 12 of db.py (say, a whitespace-only change it hides).
    fake.state
        .lock()
        .expect("fake state")
        .diff_lines
        .insert("app/db.py".into(), vec![10, 11]);
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("publish");
    assert_eq!(outcome.posted, 2, "{outcome:?}");
    assert_eq!(outcome.in_summary, 2, "{outcome:?}");
    let summary = fake.summary_notes()[0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(summary.contains("CWE-89"), "{summary}");
    assert!(summary.contains("refused the diff position"), "{summary}");
    assert!(
        summary.contains("line\\_code") && summary.contains("can't be blank"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_job_token_degrades_with_the_fix_and_sends_nothing() {
    let fake = Fake::start().await;
    let env = fake.env(&[("CI_JOB_TOKEN", "job-token-value")]);
    assert!(!format!("{env:?}").contains("job-token-value"));
    let outcome = publish(&env, &report(HEAD), &options())
        .await
        .expect("a degraded run is Ok");
    let why = outcome.degraded.clone().expect("degraded");
    assert!(why.contains("CI_JOB_TOKEN"), "{why}");
    assert!(why.contains(TOKEN_HELP), "{why}");
    assert!(TOKEN_HELP.contains("`api` scope in HUNKGUARD_GITLAB_TOKEN"));
    assert_eq!(outcome.posted, 0);
    assert!(
        fake.requests().await.is_empty(),
        "a job token cannot post; nothing is tried"
    );

    let outcome = publish(&fake.env(&[]), &report(HEAD), &options())
        .await
        .expect("no token");
    assert!(outcome.degraded.expect("degraded").contains(TOKEN_HELP));
}

#[tokio::test]
async fn a_401_or_403_degrades_instead_of_failing() {
    // A token with read_api only: reading works, the first write gets 403.
    let fake = Fake::start().await;
    fake.state.lock().expect("fake state").read_only = true;
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("Ok");
    let why = outcome.degraded.clone().expect("degraded");
    assert!(why.contains("403") && why.contains(TOKEN_HELP), "{why}");
    assert_eq!(outcome.posted, 0);
    assert_eq!(
        fake.count("POST", "/discussions").await,
        1,
        "stops at the first 403"
    );

    // A revoked token: 401 on the first read.
    let fake = Fake::start().await;
    let env = fake.env(&[("GITLAB_TOKEN", "glpat-revoked")]);
    let outcome = publish(&env, &report(HEAD), &options()).await.expect("Ok");
    let why = outcome.degraded.expect("degraded");
    assert!(why.contains("401") && why.contains(TOKEN_HELP), "{why}");
    assert!(!why.contains("glpat-revoked"), "{why}");
}

#[tokio::test]
async fn rate_limits_server_errors_and_timeouts_are_retried() {
    let fake = Fake::start().await;
    // 429 with Retry-After on the merge request: honoured in full (it is within the deadline).
    Mock::given(method("GET"))
        .and(path(MR))
        .respond_with(error(429, "429 Too Many Requests").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    // A slow answer (past the 800 ms request timeout) on the discussion list.
    Mock::given(method("GET"))
        .and(path(format!("{MR}/discussions")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    // 503 on the first discussion create, 500 on the summary create: neither was applied, which a
    // re-read shows, so each is sent again (once).
    Mock::given(method("POST"))
        .and(path(format!("{MR}/discussions")))
        .respond_with(error(503, "503 Service Unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{MR}/notes")))
        .respond_with(error(500, "500 Internal Server Error"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&fake.server)
        .await;

    let started = Instant::now();
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("every failure was retried");
    let elapsed = started.elapsed();
    assert_eq!(outcome.posted, 3, "{outcome:?}");
    assert!(
        elapsed >= Duration::from_secs(1),
        "Retry-After not honoured: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(fake.count("GET", "").await, 2);
    // The timed-out read, its retry, and one re-read before each repeated POST.
    assert_eq!(fake.count("GET", "/discussions").await, 4);
    assert_eq!(
        fake.count("POST", "/discussions").await,
        4,
        "3 findings + 1 repeated after the 503"
    );
    assert_eq!(fake.count("POST", "/notes").await, 2);
    assert_eq!(posted_positions(&fake.discussions()).len(), 3);
    assert_eq!(fake.summary_notes().len(), 1);

    // The next run posts nothing twice.
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("re-run");
    assert_eq!(
        (outcome.posted, outcome.already_present),
        (0, 3),
        "{outcome:?}"
    );
    assert_eq!(fake.summary_notes().len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_retries() {
    let fake = Fake::start().await;
    Mock::given(method("GET"))
        .and(path(MR))
        .respond_with(error(502, "502 Bad Gateway"))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    let err = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect_err("gives up");
    assert!(
        matches!(
            err,
            GitlabError::Http(HttpError::Status { status: 502, .. })
        ),
        "{err}"
    );
    assert_eq!(fake.count("GET", "").await, 4, "1 try + 3 retries");
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn missing_diff_refs_fall_back_to_the_versions() {
    let fake = Fake::start().await;
    fake.state.lock().expect("fake state").diff_refs = None;
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("publish");
    assert_eq!(outcome.posted, 3, "{outcome:?}");
    assert_eq!(fake.count("GET", "/versions").await, 1);
    for position in posted_positions(&fake.discussions()) {
        assert_eq!(
            (
                &position["base_sha"],
                &position["start_sha"],
                &position["head_sha"]
            ),
            (&json!(BASE), &json!(START), &json!(HEAD))
        );
    }
}

#[tokio::test]
async fn a_merge_request_that_moved_on_is_left_to_the_newer_pipeline() {
    let fake = Fake::start().await;
    {
        let mut state = fake.state.lock().expect("fake state");
        state.diff_refs = Some((BASE.into(), START.into(), HEAD2.into()));
        state.versions = vec![(BASE.into(), START.into(), HEAD2.into())];
    }
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("Ok");
    let why = outcome.degraded.expect("degraded");
    assert!(why.contains("moved on"), "{why}");
    assert!(fake
        .requests()
        .await
        .iter()
        .all(|r| r.method.as_str() == "GET"));

    // An older version that is still listed is commented on with that version's commits.
    let fake = Fake::start().await;
    {
        let mut state = fake.state.lock().expect("fake state");
        state.diff_refs = Some((BASE.into(), START.into(), HEAD2.into()));
        state
            .versions
            .insert(0, (BASE.into(), START.into(), HEAD2.into()));
    }
    let outcome = publish(&fake.token_env(), &report(HEAD), &options())
        .await
        .expect("Ok");
    assert_eq!(outcome.posted, 3, "{outcome:?}");
    assert!(posted_positions(&fake.discussions())
        .iter()
        .all(|p| p["head_sha"] == HEAD));
}
