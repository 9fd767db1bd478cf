//! Stateful fakes of the GitHub and GitLab REST APIs on 127.0.0.1 (wiremock), with scripted faults, so
//! that both forges run the same behavioural test list (`tests/forge_faults.rs`).
//!
//! Each fake keeps its comments like the forge does, validates positions against a diff, and answers a
//! scripted [`Fault`] in front of the first matching request: a request that lands and then fails, a
//! rate limit, a hanging connection, a body that is not JSON.
#![allow(dead_code)]

pub mod github;
pub mod gitlab;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hunkguard::forge::PostOutcome;
use hunkguard::report::Report;
use serde_json::Value;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// A local server on which `api` answers every request whose path starts with `prefix`: a fake's
/// whole API is one stateful responder.
pub async fn serve(prefix: &str, api: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path_regex(format!("^{prefix}")))
        .respond_with(api)
        .mount(&server)
        .await;
    server
}

/// The changed lines a fake's diff holds, by path.
pub fn diff_lines(diff: &[(&str, Vec<u32>)]) -> BTreeMap<String, Vec<u32>> {
    diff.iter()
        .map(|(p, l)| (p.to_string(), l.clone()))
        .collect()
}

/// What a fault applies to, in terms both forges share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GitHub: the review POST; GitLab: a discussion POST.
    CreateInline,
    /// GitHub: listing review comments; GitLab: listing discussions.
    List,
    /// GitHub: deleting a comment; GitLab: resolving a discussion.
    Tidy,
}

/// A scripted failure.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Apply the request, then answer 502.
    LandThen502,
    /// Apply the request, then answer only after this delay (past the client's timeout).
    LandThenHang(Duration),
    /// Answer this status, headers and JSON body without applying the request.
    Answer(u16, Vec<(&'static str, String)>, Value),
    /// Answer nothing for this long.
    Hang(Duration),
    /// A 200 whose body is not JSON.
    Malformed,
}

/// Faults waiting for their request, first in first out.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<(Op, Fault)>>>);

impl Faults {
    pub fn push(&self, op: Op, fault: Fault) {
        self.0.lock().expect("faults").push((op, fault));
    }

    /// The first fault waiting for `op`, removed.
    pub fn take(&self, op: Op) -> Option<Fault> {
        let mut faults = self.0.lock().expect("faults");
        let at = faults.iter().position(|(o, _)| *o == op)?;
        Some(faults.remove(at).1)
    }
}

/// The answer a fault gives instead of (or after) the real one.
pub fn faulty(fault: &Fault, real: ResponseTemplate) -> ResponseTemplate {
    match fault {
        Fault::LandThen502 => {
            ResponseTemplate::new(502).set_body_string("<html>502 Bad Gateway</html>")
        }
        Fault::LandThenHang(delay) => real.set_delay(*delay),
        Fault::Answer(status, headers, body) => {
            let mut reply = ResponseTemplate::new(*status).set_body_json(body.clone());
            for (name, value) in headers {
                reply = reply.insert_header(*name, value.as_str());
            }
            reply
        }
        Fault::Hang(delay) => ResponseTemplate::new(200)
            .set_body_json(Value::Array(vec![]))
            .set_delay(*delay),
        Fault::Malformed => ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_string("[{\"id\": 1, \"body\": "),
    }
}

/// Whether the fault lets the request change the fake's state.
pub fn lands(fault: &Option<Fault>) -> bool {
    matches!(
        fault,
        None | Some(Fault::LandThen502) | Some(Fault::LandThenHang(_))
    )
}

/// One inline comment (GitHub) or open discussion (GitLab) of ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Inline {
    pub path: String,
    pub line: u32,
    pub body: String,
}

/// What the behavioural tests need from a fake forge.
#[allow(async_fn_in_trait)]
pub trait FakeForge: Sized {
    /// "github" or "gitlab", for messages.
    const NAME: &'static str;
    /// A fresh fake whose diff holds `diff` (path, new-side lines).
    async fn start(diff: &[(&str, Vec<u32>)]) -> Self;
    /// Queue a fault.
    fn fault(&self, op: Op, fault: Fault);
    /// A comment by another user on `path`:`line` whose body is `body` (a thread of its own).
    fn add_foreign(&self, path: &str, line: u32, body: &str);
    /// Run the real forge code once: request timeout `timeout`, posting deadline `deadline`.
    async fn publish(
        &self,
        report: &Report,
        timeout: Duration,
        deadline: Duration,
    ) -> Result<PostOutcome, String>;
    /// Our inline comments that still stand (GitHub: not deleted; GitLab: not resolved).
    fn ours(&self) -> Vec<Inline>;
    /// Our summaries (GitHub: review bodies; GitLab: summary notes).
    fn summaries(&self) -> Vec<String>;
    /// Every body we wrote that is still there.
    fn our_bodies(&self) -> Vec<String>;
    /// The foreign comments still there, open.
    fn foreign(&self) -> Vec<String>;
    /// How many mutating requests (not GET) the fake has received.
    async fn mutations(&self) -> usize;
}
