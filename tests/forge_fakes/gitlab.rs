//! A fake of the GitLab REST API v4 for merge request reviews: `GET /user`, the merge request and its
//! versions, discussions (list, create with a diff position, reply, resolve) and notes (create, edit),
//! with GitLab's "line_code can't be blank" for a position off the diff.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hunkguard::forge::gitlab::{publish, GitlabEnv, GitlabOptions, RetryPolicy};
use hunkguard::forge::{PostOptions, PostOutcome};
use hunkguard::report::Report;
use serde_json::{json, Value};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::{diff_lines, faulty, lands, serve, FakeForge, Faults, Inline, Op};

pub const HEAD: &str = super::github::HEAD;
pub const BASE: &str = super::github::BASE;
const START: &str = "5555555555555555555555555555555555555555";
const TOKEN: &str = "glpat-fake-token";
const MR: &str = "/api/v4/projects/42/merge_requests/7";
const BOT_ID: u64 = 99;
const HUMAN_ID: u64 = 7;

#[derive(Default)]
struct State {
    diff: BTreeMap<String, Vec<u32>>,
    discussions: Vec<Value>,
    next_id: u64,
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn note(&mut self, body: &Value, author: u64, position: Option<&Value>) -> Value {
        let id = self.id();
        json!({
            "id": id, "body": body, "system": false, "author": { "id": author },
            "resolvable": position.is_some(), "resolved": false,
            "position": position.cloned().unwrap_or(Value::Null),
        })
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
        let token = request
            .headers
            .get("PRIVATE-TOKEN")
            .and_then(|v| v.to_str().ok());
        if token != Some(TOKEN) {
            return error(401, "401 Unauthorized");
        }
        let method = request.method.as_str().to_string();
        let route = request.url.path().to_string();
        let op = match (method.as_str(), route.as_str()) {
            ("POST", r) if r == format!("{MR}/discussions") => Some(Op::CreateInline),
            ("GET", r) if r == format!("{MR}/discussions") => Some(Op::List),
            ("PUT", r) if r.starts_with(&format!("{MR}/discussions/")) => Some(Op::Tidy),
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
        if route == "/api/v4/user" && method == "GET" {
            return ResponseTemplate::new(200)
                .set_body_json(json!({ "id": BOT_ID, "username": "project_42_bot" }));
        }
        let Some(rest) = route.strip_prefix(MR) else {
            return error(404, "404 Project Not Found");
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let query: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        match (method, segments.as_slice()) {
            ("GET", []) => ResponseTemplate::new(200).set_body_json(json!({
                "iid": 7, "diff_refs": { "base_sha": BASE, "start_sha": START, "head_sha": HEAD },
            })),
            ("GET", ["versions"]) => ResponseTemplate::new(200).set_body_json(json!([{
                "base_commit_sha": BASE, "start_commit_sha": START, "head_commit_sha": HEAD,
            }])),
            ("GET", ["discussions"]) => {
                let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let size = 2;
                let items: Vec<Value> = state
                    .discussions
                    .iter()
                    .skip((page - 1) * size)
                    .take(size)
                    .cloned()
                    .collect();
                let next = if page * size < state.discussions.len() {
                    (page + 1).to_string()
                } else {
                    String::new()
                };
                ResponseTemplate::new(200)
                    .set_body_json(items)
                    .insert_header("x-next-page", next.as_str())
            }
            ("POST", ["discussions"]) => {
                let position = &body["position"];
                let path = position["new_path"].as_str().unwrap_or_default();
                let line = position["new_line"].as_u64().unwrap_or(0) as u32;
                let placed = state.diff.get(path).is_some_and(|l| l.contains(&line))
                    && position["head_sha"] == HEAD
                    && position["old_path"].is_string();
                if !placed {
                    return error(
                        400,
                        "400 Bad request - Note {:line_code=>[\"can't be blank\"]}",
                    );
                }
                let id = state.id();
                let note = state.note(&body["body"], BOT_ID, Some(position));
                let discussion = json!({ "id": format!("{id:040x}"), "individual_note": false,
                                         "notes": [note] });
                state.discussions.push(discussion.clone());
                ResponseTemplate::new(201).set_body_json(discussion)
            }
            ("POST", ["discussions", id, "notes"]) => {
                let note = state.note(&body["body"], BOT_ID, None);
                let Some(d) = state.discussions.iter_mut().find(|d| d["id"] == *id) else {
                    return error(404, "404 Not found");
                };
                if let Some(notes) = d["notes"].as_array_mut() {
                    notes.push(note.clone());
                }
                ResponseTemplate::new(201).set_body_json(note)
            }
            ("PUT", ["discussions", id]) => {
                let resolved = query.get("resolved").map(String::as_str) == Some("true");
                let Some(d) = state.discussions.iter_mut().find(|d| d["id"] == *id) else {
                    return error(404, "404 Not found");
                };
                for note in d["notes"].as_array_mut().into_iter().flatten() {
                    if note["resolvable"] == true {
                        note["resolved"] = json!(resolved);
                    }
                }
                ResponseTemplate::new(200).set_body_json(d.clone())
            }
            ("POST", ["notes"]) => {
                let note = state.note(&body["body"], BOT_ID, None);
                let id = state.id();
                state.discussions.push(json!({ "id": format!("{id:040x}"),
                                               "individual_note": true, "notes": [note.clone()] }));
                ResponseTemplate::new(201).set_body_json(note)
            }
            ("PUT", ["notes", id]) => {
                let id: u64 = id.parse().unwrap_or(0);
                let note = state
                    .discussions
                    .iter_mut()
                    .filter_map(|d| d["notes"].as_array_mut())
                    .flatten()
                    .find(|n| n["id"] == id);
                match note {
                    Some(note) => {
                        note["body"] = body["body"].clone();
                        ResponseTemplate::new(200).set_body_json(note.clone())
                    }
                    None => error(404, "404 Not found"),
                }
            }
            _ => error(404, "404 Not Found"),
        }
    }
}

/// The fake GitLab.
pub struct FakeGitlab {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
    faults: Faults,
}

impl FakeGitlab {
    pub fn env(&self) -> GitlabEnv {
        let vars: BTreeMap<&str, String> = [
            ("CI_API_V4_URL", format!("{}/api/v4", self.server.uri())),
            ("CI_PROJECT_ID", "42".into()),
            ("CI_MERGE_REQUEST_IID", "7".into()),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", BASE.into()),
            ("CI_COMMIT_SHA", HEAD.into()),
            ("HUNKGUARD_GITLAB_TOKEN", TOKEN.into()),
        ]
        .into_iter()
        .collect();
        GitlabEnv::from_lookup(|name| vars.get(name).cloned()).expect("a complete CI environment")
    }

    /// First notes of the discussions, with whether the discussion is open.
    fn first_notes(&self) -> Vec<(Value, bool)> {
        let state = self.state.lock().expect("fake state");
        state
            .discussions
            .iter()
            .filter_map(|d| {
                let notes = d["notes"].as_array()?;
                let open = notes
                    .iter()
                    .any(|n| n["resolvable"] == true && n["resolved"] == false);
                Some((notes.first()?.clone(), open))
            })
            .collect()
    }
}

impl FakeForge for FakeGitlab {
    const NAME: &'static str = "gitlab";

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
        let server = serve("/api/v4/", api).await;
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
        let position = json!({ "new_path": path, "new_line": line });
        let note = state.note(&json!(body), HUMAN_ID, Some(&position));
        let id = state.id();
        state.discussions.push(
            json!({ "id": format!("{id:040x}"), "individual_note": false,
                                       "notes": [note] }),
        );
    }

    async fn publish(
        &self,
        report: &Report,
        timeout: Duration,
        deadline: Duration,
    ) -> Result<PostOutcome, String> {
        let options = GitlabOptions {
            post: PostOptions {
                deadline,
                ..PostOptions::default()
            },
            retry: RetryPolicy::immediate().with_timeout(timeout),
            ..GitlabOptions::default()
        };
        publish(&self.env(), report, &options)
            .await
            .map_err(|e| e.to_string())
    }

    fn ours(&self) -> Vec<Inline> {
        self.first_notes()
            .into_iter()
            .filter(|(n, open)| n["author"]["id"] == BOT_ID && *open)
            .map(|(n, _)| Inline {
                path: n["position"]["new_path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                line: n["position"]["new_line"].as_u64().unwrap_or(0) as u32,
                body: n["body"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    fn summaries(&self) -> Vec<String> {
        self.first_notes()
            .into_iter()
            .filter(|(n, _)| n["author"]["id"] == BOT_ID && n["resolvable"] == false)
            .map(|(n, _)| n["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn our_bodies(&self) -> Vec<String> {
        let state = self.state.lock().expect("fake state");
        state
            .discussions
            .iter()
            .filter_map(|d| d["notes"].as_array())
            .flatten()
            .filter(|n| n["author"]["id"] == BOT_ID)
            .map(|n| n["body"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn foreign(&self) -> Vec<String> {
        self.first_notes()
            .into_iter()
            .filter(|(n, open)| n["author"]["id"] == HUMAN_ID && *open)
            .map(|(n, _)| n["body"].as_str().unwrap_or_default().to_string())
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
