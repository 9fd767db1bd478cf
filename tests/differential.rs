//! The differential rule on real repositories with the real binary and the shipped model: a finding
//! is reported only where the change made the code less safe (README, "Which findings are reported").

mod common;

use common::{describe, run_json, Repo};

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
    let (output, json) = run_json(repo.path(), &["scan", "--base", "main"]);
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

/// The change is the line that feeds the sink: a constant query becomes one built from the caller's
/// `name`, above an `execute(query)` that does not change. The model reads a sink by its shape as much
/// as by its source (an outbound request or `shell=True` fires with a constant too), so the case is
/// one where the base is quiet: a constant query is not an injection. That the message names the
/// unchanged sink when the scope's evidence sits on it is a unit test in `src/findings.rs`.
#[test]
fn a_new_taint_source_above_an_unchanged_sink_is_reported_on_the_changed_line() {
    let base = r#"import sqlite3


def count_users(conn, name):
    query = "SELECT COUNT(*) FROM users"
    rows = conn.execute(query).fetchall()
    return rows[0][0]
"#;
    let head = base.replace(
        "    query = \"SELECT COUNT(*) FROM users\"\n",
        "    query = \"SELECT COUNT(*) FROM users WHERE name = '\" + name + \"'\"\n",
    );
    assert_ne!(head, base);
    let repo = change(base, &head);
    let (found, run) = findings(&repo);
    let on_source: Vec<_> = found
        .iter()
        .filter(|(line, cwe, _)| *line == 5 && cwe == "CWE-89")
        .collect();
    assert_eq!(
        on_source.len(),
        1,
        "the new source (line 5) is the finding\n{run}"
    );
    assert!(
        found.iter().all(|(line, _, _)| *line == 5),
        "only the changed line carries findings, never the unchanged execute\n{run}"
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
