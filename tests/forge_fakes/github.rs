//! A fake of the GitHub REST API for pull request reviews: `GET /user`, review comments (list, reply,
//! delete) and reviews (list, create), with GitHub's all-or-nothing 422 for a comment off the diff.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hunkguard::forge::github::{self, GithubEnv, GithubOptions, RetryPolicy, Token};
use hunkguard::forge::{PostOptions, PostOutcome};
use hunkguard::report::Report;
use serde_json::{json, Value};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::{diff_lines, faulty, lands, serve, FakeForge, Faults, Inline, Op};

pub const HEAD: &str = "1111111111111111111111111111111111111111";
pub const BASE: &str = "2222222222222222222222222222222222222222";
const PULL: &str = "/repos/acme/app/pulls/7";
pub const BOT: &str = "hunkguard-bot";
pub const HUMAN: &str = "octocat";

#[derive(Default)]
struct State {
    diff: BTreeMap<String, Vec<u32>>,
    comments: Vec<Value>,
    reviews: Vec<Value>,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Clone)]
struct Api {
    state: Arc<Mutex<State>>,
    faults: Faults,
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "message": message }))
}

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some("Bearer ghs_fake_token") {
            return error(401, "Bad credentials");
        }
        let route = request.url.path().to_string();
        let method = request.method.as_str().to_string();
        let op = match (method.as_str(), route.as_str()) {
            ("POST", r) if r == format!("{PULL}/reviews") => Some(Op::CreateInline),
            ("GET", r) if r == format!("{PULL}/comments") => Some(Op::List),
            ("DELETE", _) => Some(Op::Tidy),
            _ => None,
        };
        let fault = op.and_then(|op| self.faults.take(op));
        if !lands(&fault) {
            return faulty(fault.as_ref().expect("a fault"), ResponseTemplate::new(200));
        }
        let real = self.apply(&method, &route, request);
        match &fault {
            Some(fault) => faulty(fault, real),
            None => real,
        }
    }
}

impl Api {
    fn apply(&self, method: &str, route: &str, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().expect("fake state");
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let user = json!({ "login": BOT, "type": "User" });
        let replies = route
            .strip_prefix(&format!("{PULL}/comments/"))
            .and_then(|r| r.strip_suffix("/replies"))
            .and_then(|id| id.parse::<u64>().ok());
        match (method, route) {
            ("GET", "/user") => ResponseTemplate::new(200).set_body_json(json!({ "login": BOT })),
            ("GET", r) if r == format!("{PULL}/comments") => {
                ResponseTemplate::new(200).set_body_json(state.comments.clone())
            }
            ("GET", r) if r == format!("{PULL}/reviews") => {
                ResponseTemplate::new(200).set_body_json(state.reviews.clone())
            }
            ("POST", r) if r == format!("{PULL}/reviews") => {
                let comments = body["comments"].as_array().cloned().unwrap_or_default();
                let off_diff = comments.iter().any(|c| {
                    let path = c["path"].as_str().unwrap_or_default();
                    let line = c["line"].as_u64().unwrap_or(0) as u32;
                    !state.diff.get(path).is_some_and(|l| l.contains(&line))
                });
                if off_diff || body["commit_id"] != HEAD {
                    return ResponseTemplate::new(422).set_body_json(json!({
                        "message": "Unprocessable Entity",
                        "errors": ["Line could not be resolved"],
                    }));
                }
                let review_id = state.id();
                for c in comments {
                    let id = state.id();
                    state.comments.push(json!({
                        "id": id, "pull_request_review_id": review_id, "body": c["body"],
                        "path": c["path"], "line": c["line"], "in_reply_to_id": null, "user": user,
                    }));
                }
                let review = json!({ "id": review_id, "body": body["body"], "user": user,
                                     "state": "COMMENTED", "commit_id": HEAD });
                state.reviews.push(review.clone());
                ResponseTemplate::new(200).set_body_json(review)
            }
            ("POST", _) if replies.is_some() => {
                let to = replies.unwrap_or_default();
                if !state.comments.iter().any(|c| c["id"] == to) {
                    return error(404, "Not Found");
                }
                let id = state.id();
                let reply =
                    json!({ "id": id, "body": body["body"], "in_reply_to_id": to, "user": user });
                state.comments.push(reply.clone());
                ResponseTemplate::new(201).set_body_json(reply)
            }
            ("DELETE", r) => {
                let id = r
                    .strip_prefix("/repos/acme/app/pulls/comments/")
                    .and_then(|id| id.parse::<u64>().ok());
                let before = state.comments.len();
                state
                    .comments
                    .retain(|c| Some(c["id"].as_u64().unwrap_or(0)) != id);
                if state.comments.len() == before {
                    return error(404, "Not Found");
                }
                ResponseTemplate::new(204)
            }
            _ => error(404, "Not Found"),
        }
    }
}

/// The fake GitHub.
pub struct FakeGithub {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
    faults: Faults,
}

impl FakeGithub {
    pub fn env(&self) -> GithubEnv {
        GithubEnv {
            api_url: self.server.uri(),
            repository: "acme/app".into(),
            pr_number: 7,
            base_sha: BASE.into(),
            head_sha: HEAD.into(),
            head_repository: Some("acme/app".into()),
            event_name: "pull_request".into(),
            token: Some(Token::new("ghs_fake_token")),
            step_summary: None,
        }
    }

    fn by(&self, ours: bool) -> Vec<Value> {
        let state = self.state.lock().expect("fake state");
        state
            .comments
            .iter()
            .filter(|c| (c["user"]["login"] == BOT) == ours)
            .cloned()
            .collect()
    }
}

impl FakeForge for FakeGithub {
    const NAME: &'static str = "github";

    async fn start(diff: &[(&str, Vec<u32>)]) -> Self {
        let state = Arc::new(Mutex::new(State {
            diff: diff_lines(diff),
            ..State::default()
        }));
        let faults = Faults::default();
        let api = Api {
            state: state.clone(),
            faults: faults.clone(),
        };
        let server = serve("/", api).await;
        Self {
            server,
            state,
            faults,
        }
    }

    fn fault(&self, op: Op, fault: super::Fault) {
        self.faults.push(op, fault);
    }

    fn add_foreign(&self, path: &str, line: u32, body: &str) {
        let mut state = self.state.lock().expect("fake state");
        let id = state.id();
        state.comments.push(json!({
            "id": id, "body": body, "path": path, "line": line, "in_reply_to_id": null,
            "user": { "login": HUMAN, "type": "User" },
        }));
    }

    async fn publish(
        &self,
        report: &Report,
        timeout: Duration,
        deadline: Duration,
    ) -> Result<PostOutcome, String> {
        let options = GithubOptions {
            post: PostOptions {
                deadline,
                ..PostOptions::default()
            },
            retry: RetryPolicy::immediate().with_timeout(timeout),
            ..GithubOptions::default()
        };
        github::publish_to(&self.env(), report, &options, &mut Vec::new())
            .await
            .map_err(|e| e.to_string())
    }

    fn ours(&self) -> Vec<Inline> {
        self.by(true)
            .iter()
            .filter(|c| c["in_reply_to_id"].is_null())
            .map(|c| Inline {
                path: c["path"].as_str().unwrap_or_default().to_string(),
                line: c["line"].as_u64().unwrap_or(0) as u32,
                body: c["body"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    fn summaries(&self) -> Vec<String> {
        let state = self.state.lock().expect("fake state");
        state
            .reviews
            .iter()
            .map(|r| r["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn our_bodies(&self) -> Vec<String> {
        let mut bodies: Vec<String> = self
            .by(true)
            .iter()
            .map(|c| c["body"].as_str().unwrap_or_default().to_string())
            .collect();
        bodies.extend(self.summaries());
        bodies
    }

    fn foreign(&self) -> Vec<String> {
        self.by(false)
            .iter()
            .map(|c| c["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn mutations(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() != "GET")
            .count()
    }
}
