//! The differential rule on real repositories with the real binary and the shipped model: a finding
//! is reported only where the change made the code less safe (README, "Which findings are reported").

mod common;

use common::{describe, hunkguard, json_stdout, Repo};

/// An unchanged SQL injection on the base branch (line 6 builds the query, line 7 runs it).
const INJECTION: &str = r#"import sqlite3


def find_user(conn, name):
    # look a user up by name
    query = "SELECT * FROM users WHERE name = '" + name + "'"
    rows = conn.execute(query).fetchall()
    return rows
"#;

/// A repo whose `main` holds `base` as `shop/db.py` and whose branch `feature` changes it to `head`.
fn change(base: &str, head: &str) -> Repo {
    let repo = Repo::with_base(&[("shop/db.py", base)]);
    repo.branch("feature");
    repo.write("shop/db.py", head);
    repo.commit_all("the change");
    repo
}

/// The findings of `scan --base main` as (start line, CWE, explanation), with the run for messages.
fn findings(repo: &Repo) -> (Vec<(u64, String, String)>, String) {
    let output = hunkguard(repo.path())
        .args([
            "scan",
            "--base",
            "main",
            "--format",
            "json",
            "--fail-on",
            "never",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_stdout(&output);
    let found = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["start_line"].as_u64().unwrap(),
                f["cwe"].as_str().unwrap().to_string(),
                f["explanation"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (found, describe(&output))
}

#[test]
fn the_unchanged_injection_is_never_blamed_on_a_neighbouring_change() {
    // appending a constant below it
    let repo = change(INJECTION, &format!("{INJECTION}\n\nVERSION = \"1.2.3\"\n"));
    let (found, run) = findings(&repo);
    assert!(
        found.is_empty(),
        "a new constant is not an injection\n{run}"
    );

    // editing the harmless return next to it
    let repo = change(
        INJECTION,
        &INJECTION.replace("    return rows\n", "    return list(rows)\n"),
    );
    let (found, run) = findings(&repo);
    assert!(
        found.is_empty(),
        "`return list(rows)` is not an injection\n{run}"
    );
}

/// The model reads a sink's shape, not where its data comes from: string-built SQL or a `shell=True`
/// command fires with a constant as much as with request data, so for those the base already fires and
/// a new source above them is not the change's (they were reported when the sink came in). An
/// outbound request is the case it does read by its source: a fixed URL is quiet, a URL from the
/// request is SSRF. That is the case this rule is tested on.
#[test]
fn a_new_taint_source_above_an_unchanged_sink_is_reported_on_the_changed_line() {
    let base = r#"import requests
from flask import request


@app.route("/status")
def status():
    url = "https://status.example.com/api"
    resp = requests.get(url, timeout=5)
    return resp.text
"#;
    let head = base.replace(
        "    url = \"https://status.example.com/api\"\n",
        "    url = request.args.get(\"url\")\n",
    );
    assert_ne!(head, base);
    let repo = change(base, &head);
    let (found, run) = findings(&repo);
    let on_source: Vec<_> = found
        .iter()
        .filter(|(line, cwe, _)| *line == 7 && cwe == "CWE-918")
        .collect();
    assert_eq!(
        on_source.len(),
        1,
        "the new source (line 7) is the finding\n{run}"
    );
    assert!(
        found.iter().all(|(line, _, _)| *line == 7),
        "only the changed line carries findings\n{run}"
    );
    let explanation = &on_source[0].2;
    assert!(
        explanation.contains("unchanged line 8"),
        "the message names the unchanged sink: {explanation}\n{run}"
    );
}

#[test]
fn a_fixing_change_is_silent() {
    let fixed = INJECTION
        .replace(
            "    query = \"SELECT * FROM users WHERE name = '\" + name + \"'\"\n    rows = conn.execute(query).fetchall()\n",
            "    rows = conn.execute(\"SELECT * FROM users WHERE name = ?\", (name,)).fetchall()\n",
        );
    assert_ne!(fixed, INJECTION);
    let repo = change(INJECTION, &fixed);
    let (found, run) = findings(&repo);
    assert!(found.is_empty(), "a fix gets no finding\n{run}");
}

#[test]
fn an_added_injection_is_found_on_its_own_line() {
    let safe = INJECTION.replace(
        "    query = \"SELECT * FROM users WHERE name = '\" + name + \"'\"\n    rows = conn.execute(query).fetchall()\n",
        "    rows = conn.execute(\"SELECT * FROM users WHERE name = ?\", (name,)).fetchall()\n",
    );
    let head = format!(
        "{safe}\n\ndef delete_user(conn, name):\n    conn.execute(\"DELETE FROM users WHERE name = '\" + name + \"'\")\n    conn.commit()\n"
    );
    let line = head
        .lines()
        .position(|l| l.contains("DELETE FROM"))
        .unwrap() as u64
        + 1;
    let repo = change(&safe, &head);
    let (found, run) = findings(&repo);
    assert!(
        found
            .iter()
            .any(|(l, cwe, _)| *l == line && cwe == "CWE-89"),
        "the added injection (line {line}) is found\n{run}"
    );
    assert!(
        found.iter().all(|(l, _, _)| *l >= line - 1),
        "nothing on the unchanged function above\n{run}"
    );
}
