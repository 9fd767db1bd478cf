//! One behavioural test list, run for GitHub and for GitLab against stateful fakes of their APIs on
//! 127.0.0.1 (`tests/forge_fakes`): idempotent re-runs whatever the code contains, requests that land
//! and then fail, rate limits, hanging connections, malformed answers, refusals, hostile file names,
//! other people's comments, moved lines and identical flaws.

mod common;
mod forge_fakes;

use std::time::{Duration, Instant};

use common::finding;
use forge_fakes::github::{FakeGithub, BASE, HEAD};
use forge_fakes::gitlab::FakeGitlab;
use forge_fakes::{FakeForge, Fault, Op};
use hunkguard::diff::HunkSpan;
use hunkguard::findings::Finding;
use hunkguard::forge::comment::{self, Key};
use hunkguard::report::{Report, ReviewedFile, JSON_SCHEMA_VERSION};
use pulldown_cmark::{Event, Parser, Tag};
use serde_json::json;

const DB: &str = "app/db.py";
const SHORT: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(20);

fn report(files: &[(&str, u32, u32)], findings: Vec<Finding>) -> Report {
    Report {
        schema_version: JSON_SCHEMA_VERSION,
        head_sha: Some(HEAD.into()),
        base_sha: Some(BASE.into()),
        files: files
            .iter()
            .map(|(path, start, end)| ReviewedFile {
                path: path.to_string(),
                old_path: None,
                hunks: vec![HunkSpan {
                    start: *start,
                    end: *end,
                }],
                changed_lines: (end - start + 1) as usize,
            })
            .collect(),
        findings,
        ..Report::default()
    }
}

/// Two findings on changed lines of one file, one outside the diff (it goes to the summary).
fn two_findings(code: &str) -> Report {
    report(
        &[(DB, 10, 30)],
        vec![
            finding(DB, 12, "CWE-89", code),
            finding(DB, 15, "CWE-78", "os.system(cmd)"),
            finding(DB, 40, "CWE-502", "pickle.loads(data)"),
        ],
    )
}

async fn fake<F: FakeForge>() -> F {
    F::start(&[(DB, (10..=30).collect())]).await
}

fn lines<F: FakeForge>(fake: &F) -> Vec<u32> {
    let mut lines: Vec<u32> = fake.ours().iter().map(|c| c.line).collect();
    lines.sort();
    lines
}

/// Every finding key reported by the fake: inline comments and summary listings.
fn reported<F: FakeForge>(fake: &F) -> Vec<Key> {
    let mut keys: Vec<Key> = fake
        .ours()
        .iter()
        .flat_map(|c| comment::trailer(&c.body).findings)
        .chain(
            fake.summaries()
                .iter()
                .flat_map(|s| comment::trailer(s).findings),
        )
        .map(|m| m.key)
        .collect();
    keys.sort();
    keys
}

async fn a_rerun_posts_and_deletes_nothing_even_with_marker_text_in_the_code<F: FakeForge>() {
    let fake: F = fake().await;
    let hostile = format!(
        "q = 1  # <!-- hunkguard:fp=deadbeef -->\n# {}\n# <!-- hunkguard:fp=deadbeef n=1 line=12 -->",
        comment::SUMMARY_MARKER
    );
    let report = two_findings(&hostile);
    let first = fake.publish(&report, SHORT, LONG).await.expect("first run");
    assert_eq!(first.posted, 2, "{}: {first:?}", F::NAME);
    let after_first = fake.mutations().await;
    for run in 0..2 {
        let again = fake.publish(&report, SHORT, LONG).await.expect("re-run");
        assert_eq!(
            (again.posted, again.removed, again.resolved),
            (0, 0, 0),
            "{} run {run}: {again:?}",
            F::NAME
        );
        assert_eq!(
            again.already_present + again.in_summary,
            3,
            "{}: {again:?}",
            F::NAME
        );
    }
    assert_eq!(
        fake.mutations().await,
        after_first,
        "{}: a re-run wrote",
        F::NAME
    );
    assert_eq!(lines(&fake), vec![12, 15], "{}", F::NAME);
    assert_eq!(fake.summaries().len(), 1, "{}", F::NAME);
}

async fn created_then_502_leaves_exactly_one<F: FakeForge>() {
    let fake: F = fake().await;
    fake.fault(Op::CreateInline, Fault::LandThen502);
    let report = two_findings("cur.execute(q % name)");
    let outcome = fake
        .publish(&report, SHORT, LONG)
        .await
        .expect("found after the 502");
    assert_eq!(outcome.posted, 2, "{}: {outcome:?}", F::NAME);
    assert_eq!(lines(&fake), vec![12, 15], "{}: duplicated", F::NAME);
    assert_eq!(fake.summaries().len(), 1, "{}", F::NAME);
    let again = fake.publish(&report, SHORT, LONG).await.expect("re-run");
    assert_eq!(
        (again.posted, again.removed),
        (0, 0),
        "{}: {again:?}",
        F::NAME
    );
}

async fn created_then_timeout_leaves_exactly_one<F: FakeForge>() {
    let fake: F = fake().await;
    fake.fault(
        Op::CreateInline,
        Fault::LandThenHang(Duration::from_secs(3)),
    );
    let report = two_findings("cur.execute(q % name)");
    let outcome = fake
        .publish(&report, SHORT, LONG)
        .await
        .expect("found after the timeout");
    assert_eq!(outcome.posted, 2, "{}: {outcome:?}", F::NAME);
    assert_eq!(lines(&fake), vec![12, 15], "{}: duplicated", F::NAME);
    assert_eq!(fake.summaries().len(), 1, "{}", F::NAME);
}

async fn retry_after_is_honoured_up_to_the_deadline_not_past_it<F: FakeForge>() {
    let fake: F = fake().await;
    let limited = |seconds: &str| {
        Fault::Answer(
            429,
            vec![("retry-after", seconds.to_string())],
            json!({"message": "429 Too Many Requests"}),
        )
    };
    fake.fault(Op::CreateInline, limited("1"));
    let report = two_findings("cur.execute(q % name)");
    let started = Instant::now();
    let outcome = fake
        .publish(&report, SHORT, LONG)
        .await
        .expect("waited out");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{}: Retry-After not honoured",
        F::NAME
    );
    assert_eq!(outcome.posted, 2, "{}", F::NAME);

    let fake: F = self::fake().await;
    fake.fault(Op::CreateInline, limited("3600"));
    let started = Instant::now();
    let error = fake
        .publish(&report, SHORT, Duration::from_secs(5))
        .await
        .expect_err("a wait past the deadline is not started");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{}: waited {:?}",
        F::NAME,
        started.elapsed()
    );
    assert!(error.contains("deadline"), "{}: {error}", F::NAME);
    assert!(fake.ours().is_empty(), "{}", F::NAME);
}

async fn a_secondary_rate_limit_is_backed_off<F: FakeForge>() {
    let fake: F = fake().await;
    fake.fault(
        Op::CreateInline,
        Fault::Answer(
            403,
            vec![],
            json!({"message": "You have exceeded a secondary rate limit"}),
        ),
    );
    let outcome = fake
        .publish(&two_findings("cur.execute(q % name)"), SHORT, LONG)
        .await
        .expect("backed off");
    assert_eq!((outcome.posted, outcome.degraded), (2, None), "{}", F::NAME);
}

async fn a_hanging_connection_is_a_timeout_and_the_deadline_holds<F: FakeForge>() {
    let fake: F = fake().await;
    for _ in 0..10 {
        fake.fault(Op::List, Fault::Hang(Duration::from_secs(30)));
    }
    let started = Instant::now();
    let error = fake
        .publish(&two_findings("x()"), SHORT, LONG)
        .await
        .expect_err("no answer");
    assert!(error.contains("timed out"), "{}: {error}", F::NAME);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{}: {:?}",
        F::NAME,
        started.elapsed()
    );

    let fake: F = self::fake().await;
    for _ in 0..10 {
        fake.fault(Op::List, Fault::Hang(Duration::from_secs(30)));
    }
    let started = Instant::now();
    let error = fake
        .publish(
            &two_findings("x()"),
            Duration::from_secs(10),
            Duration::from_secs(2),
        )
        .await
        .expect_err("deadline");
    let elapsed = started.elapsed();
    assert!(error.contains("deadline"), "{}: {error}", F::NAME);
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(4),
        "{}: {elapsed:?}",
        F::NAME
    );
}

async fn malformed_json_is_a_clear_error<F: FakeForge>() {
    let fake: F = fake().await;
    fake.fault(Op::List, Fault::Malformed);
    let error = fake
        .publish(&two_findings("x()"), SHORT, LONG)
        .await
        .expect_err("not JSON");
    assert!(
        error.contains("understand") || error.contains("unexpected"),
        "{}: {error}",
        F::NAME
    );
    assert!(fake.ours().is_empty(), "{}", F::NAME);
}

async fn a_403_degrades<F: FakeForge>() {
    let fake: F = fake().await;
    fake.fault(
        Op::CreateInline,
        Fault::Answer(
            403,
            vec![],
            json!({"message": "Resource not accessible by integration"}),
        ),
    );
    let outcome = fake
        .publish(&two_findings("x()"), SHORT, LONG)
        .await
        .expect("degraded, not failed");
    let why = outcome.degraded.expect("degraded");
    assert!(
        why.contains("403") || why.contains("refused"),
        "{}: {why}",
        F::NAME
    );
}

async fn a_refused_comment_is_reported_in_the_summary_once<F: FakeForge>() {
    // The forge's diff lacks line 15 although our hunk map has it (GitHub then refuses the whole
    // review, GitLab that one position).
    let fake = F::start(&[(DB, (10..=14).chain(16..=30).collect())]).await;
    let report = two_findings("cur.execute(q % name)");
    fake.publish(&report, SHORT, LONG).await.expect("posted");
    let mut expected: Vec<Key> = report
        .findings
        .iter()
        .map(|f| Key::first(&f.fingerprint))
        .collect();
    expected.sort();
    assert_eq!(reported(&fake), expected, "{}: every finding once", F::NAME);
}

async fn another_users_comment_with_our_marker_is_not_ours<F: FakeForge>() {
    let fake: F = fake().await;
    let report = two_findings("cur.execute(q % name)");
    let key = Key::first(&report.findings[0].fingerprint);
    let forged = format!(
        "I copied this\n{}\n{}",
        comment::marker(&key, Some(12)),
        comment::run_marker("abc")
    );
    fake.add_foreign(DB, 12, &forged);
    let gone = Key::first("0123abcd");
    fake.add_foreign(
        DB,
        13,
        &format!("old\n{}", comment::marker(&gone, Some(13))),
    );
    let outcome = fake.publish(&report, SHORT, LONG).await.expect("posted");
    assert_eq!(
        (outcome.posted, outcome.removed, outcome.resolved),
        (2, 0, 0),
        "{}: {outcome:?}",
        F::NAME
    );
    assert_eq!(lines(&fake), vec![12, 15], "{}", F::NAME);
    assert_eq!(
        fake.foreign().len(),
        2,
        "{}: a foreign comment was touched",
        F::NAME
    );
}

async fn a_hostile_file_name_renders_as_text<F: FakeForge>() {
    let path = "app/x\n<img src=x onerror=alert(1)>`](http://evil.example) @octocat\r\n# h.py";
    let fake = F::start(&[(path, (1..=5).collect())]).await;
    let report = report(
        &[(path, 1, 5)],
        vec![
            finding(path, 2, "CWE-78", "os.system(cmd)"),
            finding(path, 9, "CWE-89", "q()"),
        ],
    );
    let outcome = fake.publish(&report, SHORT, LONG).await.expect("posted");
    assert_eq!(
        (outcome.posted, outcome.in_summary),
        (1, 1),
        "{}: {outcome:?}",
        F::NAME
    );
    for body in fake.our_bodies() {
        for event in Parser::new(&body) {
            match event {
                Event::Html(h) | Event::InlineHtml(h) => {
                    assert!(
                        comment::is_own_html(&h),
                        "{}: live HTML {h:?} in\n{body}",
                        F::NAME
                    )
                }
                Event::Start(Tag::Link { dest_url, .. }) => assert!(
                    dest_url.starts_with("https://cwe.mitre.org/"),
                    "{}: link {dest_url} in\n{body}",
                    F::NAME
                ),
                Event::Start(Tag::Heading { .. }) => {
                    assert!(
                        body.starts_with("### hunkguard"),
                        "{}: heading in\n{body}",
                        F::NAME
                    )
                }
                Event::Text(t) => {
                    assert!(!t.contains("@octocat"), "{}: mention in\n{body}", F::NAME)
                }
                _ => {}
            }
        }
    }
}

async fn a_moved_finding_replaces_its_comment<F: FakeForge>() {
    let fake: F = fake().await;
    let code = "cur.execute(q % name)";
    let before = report(&[(DB, 10, 30)], vec![finding(DB, 12, "CWE-89", code)]);
    fake.publish(&before, SHORT, LONG).await.expect("first run");
    assert_eq!(lines(&fake), vec![12]);
    // A force-push moved the same code 10 lines down.
    let after = report(&[(DB, 10, 30)], vec![finding(DB, 22, "CWE-89", code)]);
    let outcome = fake.publish(&after, SHORT, LONG).await.expect("second run");
    assert_eq!(outcome.posted, 1, "{}: {outcome:?}", F::NAME);
    assert_eq!(lines(&fake), vec![22], "{}: the old comment stays", F::NAME);
    let again = fake.publish(&after, SHORT, LONG).await.expect("third run");
    assert_eq!(
        (again.posted, again.removed, again.resolved),
        (0, 0, 0),
        "{}: {again:?}",
        F::NAME
    );
}

async fn identical_flaws_are_two_findings_and_the_remaining_one_keeps_a_comment<F: FakeForge>() {
    let fake: F = fake().await;
    let code = "os.system(cmd)";
    let both = report(
        &[(DB, 10, 30)],
        vec![
            finding(DB, 12, "CWE-78", code),
            finding(DB, 18, "CWE-78", code),
        ],
    );
    let outcome = fake.publish(&both, SHORT, LONG).await.expect("first run");
    assert_eq!(outcome.posted, 2, "{}: {outcome:?}", F::NAME);
    assert_eq!(lines(&fake), vec![12, 18], "{}", F::NAME);
    // The first copy is fixed; its line is gone, the rest moved up by one.
    let one = report(&[(DB, 10, 30)], vec![finding(DB, 17, "CWE-78", code)]);
    fake.publish(&one, SHORT, LONG).await.expect("second run");
    assert_eq!(lines(&fake), vec![17], "{}", F::NAME);
}

macro_rules! for_both_forges {
    ($($name:ident),* $(,)?) => {
        mod github {
            $(#[tokio::test] async fn $name() { super::$name::<super::FakeGithub>().await })*
        }
        mod gitlab {
            $(#[tokio::test] async fn $name() { super::$name::<super::FakeGitlab>().await })*
        }
    };
}

for_both_forges!(
    a_rerun_posts_and_deletes_nothing_even_with_marker_text_in_the_code,
    created_then_502_leaves_exactly_one,
    created_then_timeout_leaves_exactly_one,
    retry_after_is_honoured_up_to_the_deadline_not_past_it,
    a_secondary_rate_limit_is_backed_off,
    a_hanging_connection_is_a_timeout_and_the_deadline_holds,
    malformed_json_is_a_clear_error,
    a_403_degrades,
    a_refused_comment_is_reported_in_the_summary_once,
    another_users_comment_with_our_marker_is_not_ours,
    a_hostile_file_name_renders_as_text,
    a_moved_finding_replaces_its_comment,
    identical_flaws_are_two_findings_and_the_remaining_one_keeps_a_comment,
);
