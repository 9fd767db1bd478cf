//! `check --shard K/N` on a CI matrix: the shards are disjoint, their union is the unsharded run, each
//! SARIF has its own code-scanning category, and GitLab's `parallel:` variables pick the shard.
//! The example jobs (GitHub matrix, GitLab `parallel:`) are run as written, with the real binary.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::{assert_valid, crate_root, describe, hunkguard, json_stdout};

/// A small monorepo: command, SQL and eval injections, safe files, a non-Python file and a binary one.
fn monorepo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "api/ping.py",
            "import os\nfrom flask import request\n\n\ndef ping():\n    host = request.args.get(\"host\", \"\")\n    os.system(\"ping -c 1 \" + host)\n",
        ),
        (
            "api/users.py",
            "import sqlite3\n\n\ndef find(conn, name):\n    return conn.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\").fetchall()\n",
        ),
        (
            "tools/calc.py",
            "def calc(expression):\n    return eval(expression)\n",
        ),
        (
            "tools/shell.py",
            "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
        ),
        ("lib/math_utils.py", "def add(a, b):\n    return a + b\n"),
        ("lib/strings.py", "def shout(text):\n    return text.upper() + \"!\"\n"),
        ("lib/__init__.py", "VERSION = \"1.0\"\n"),
        ("web/app.py", "def index():\n    return \"hello\"\n"),
        ("web/forms.py", "def clean(value):\n    return value.strip()\n"),
        ("README.md", "# not Python\n"),
    ];
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    std::fs::write(dir.path().join("lib/blob.py"), b"\x00\x01binary\x00").unwrap();
    dir
}

/// What a report covers: reviewed files, findings (path, CWE, line) and skipped paths.
#[derive(Debug, Default, PartialEq, Eq)]
struct Coverage {
    files: BTreeSet<String>,
    findings: BTreeSet<(String, String, u64)>,
    skipped: BTreeSet<String>,
}

fn coverage(report: &serde_json::Value) -> Coverage {
    let strings = |key: &str, field: &str| -> BTreeSet<String> {
        report[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {report}"))
            .iter()
            .map(|v| v[field].as_str().unwrap().to_string())
            .collect()
    };
    Coverage {
        files: strings("files", "path"),
        skipped: strings("skipped", "path"),
        findings: common::finding_places(report),
    }
}

/// Add `part` to `union`, asserting it shares nothing with what is there already.
fn add_disjoint(union: &mut Coverage, part: Coverage, shard: &str) {
    for (into, from, what) in [
        (&mut union.files, part.files, "files"),
        (&mut union.skipped, part.skipped, "skipped"),
    ] {
        for item in from {
            assert!(
                into.insert(item.clone()),
                "{what}: {item} in two shards (again in {shard})"
            );
        }
    }
    for item in part.findings {
        assert!(
            union.findings.insert(item.clone()),
            "finding {item:?} in two shards"
        );
    }
}

fn check(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = hunkguard(dir);
    cmd.args(["check", ".", "--format", "json", "--fail-on", "never"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_shards_are_disjoint_and_add_up_to_the_whole_run() {
    let repo = monorepo();
    let whole = check(repo.path(), &[], &[]);
    assert_eq!(whole.status.code(), Some(0), "{}", describe(&whole));
    let whole_report = json_stdout(&whole);
    assert!(
        whole_report.get("shard").is_none(),
        "no shard in a whole run"
    );
    let whole = coverage(&whole_report);
    assert_eq!(whole.files.len(), 9, "{whole:?}");
    assert!(whole.skipped.contains("lib/blob.py"), "{whole:?}");
    assert!(
        whole
            .findings
            .iter()
            .any(|(p, cwe, _)| p == "api/ping.py" && cwe == "CWE-78"),
        "{whole:?}"
    );

    for total in [2u32, 3] {
        let mut union = Coverage::default();
        let mut non_empty = 0;
        for index in 1..=total {
            let spec = format!("{index}/{total}");
            let sarif = repo.path().join(format!("shard-{index}-of-{total}.sarif"));
            let output = check(
                repo.path(),
                &["--shard", &spec, "--sarif", sarif.to_str().unwrap()],
                &[],
            );
            assert_eq!(
                output.status.code(),
                Some(0),
                "{spec}: {}",
                describe(&output)
            );
            let report = json_stdout(&output);
            assert_eq!(
                report["shard"],
                serde_json::json!({"index": index, "total": total}),
                "{spec}"
            );
            let part = coverage(&report);
            if !part.files.is_empty() {
                non_empty += 1;
            }
            add_disjoint(&mut union, part, &spec);

            let log: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
            assert_valid("sarif-schema-2.1.0.json", &log);
            assert_eq!(
                log["runs"][0]["automationDetails"]["id"],
                format!("hunkguard/shard-{index}-of-{total}/"),
                "each shard is its own code-scanning category"
            );
        }
        assert_eq!(union, whole, "the {total} shards add up to the whole run");
        assert!(non_empty >= 2, "{total} shards: the files are really split");
    }
}

#[test]
fn gitlab_parallel_variables_pick_the_shard_and_the_flag_wins() {
    let repo = monorepo();
    let flag = json_stdout(&check(repo.path(), &["--shard", "2/3"], &[]));
    let gitlab = check(
        repo.path(),
        &[],
        &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")],
    );
    assert!(gitlab.status.success(), "{}", describe(&gitlab));
    let gitlab = json_stdout(&gitlab);
    assert_eq!(gitlab["shard"], serde_json::json!({"index": 2, "total": 3}));
    assert_eq!(coverage(&gitlab), coverage(&flag));

    let both = json_stdout(&check(
        repo.path(),
        &["--shard", "1/2"],
        &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")],
    ));
    assert_eq!(both["shard"], serde_json::json!({"index": 1, "total": 2}));
}

#[test]
fn bad_shards_are_usage_errors_that_say_what_is_wrong() {
    let repo = monorepo();
    for (args, env, named) in [
        (vec!["--shard", "4/3"], vec![], "--shard"),
        (vec!["--shard", "0/3"], vec![], "--shard"),
        (vec!["--shard", "two"], vec![], "K/N"),
        (vec![], vec![("CI_NODE_INDEX", "2")], "CI_NODE_TOTAL"),
        (
            vec![],
            vec![("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "3")],
            "CI_NODE_INDEX/CI_NODE_TOTAL",
        ),
    ] {
        let output = check(repo.path(), &args, &env);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} {env:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{args:?} {env:?}: {stderr}");
        assert!(output.stdout.is_empty(), "no report on a usage error");
    }
}

/// A folder that holds `hunkguard` (a link to the test build), as the release archive would.
fn hunkguard_home(tmp: &Path) -> std::path::PathBuf {
    let home = tmp.join("hunkguard-home");
    std::fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_hunkguard"), home.join("hunkguard")).unwrap();
    home
}

/// Run `lines` with bash in `dir`, in the environment the tests give the real binary, plus `env`.
fn run_job_lines(dir: &Path, lines: &[String], env: &[(&str, String)]) -> Output {
    let template = hunkguard(dir);
    let mut bash = Command::new("bash");
    bash.current_dir(dir).env_clear();
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            bash.env(key, value);
        }
    }
    bash.args(["-euo", "pipefail", "-c"]).arg(lines.join("\n"));
    for (key, value) in env {
        bash.env(key, value);
    }
    bash.output().unwrap()
}

fn yaml(path: &str) -> serde_yaml::Value {
    let path = crate_root().join(path);
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_gitlab_parallel_example_covers_the_repository_once() {
    let job = &yaml("examples/gitlab/hunkguard-audit.gitlab-ci.yml")["hunkguard-audit"];
    assert_eq!(
        job["extends"], ".hunkguard",
        "the install comes from the template"
    );
    let total = job["parallel"].as_u64().expect("parallel: N");
    assert!(total >= 2);
    let script: Vec<String> = job["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();

    let repo = monorepo();
    let whole = coverage(&json_stdout(&check(repo.path(), &[], &[])));
    let home = hunkguard_home(repo.path());
    let mut union = Coverage::default();
    for index in 1..=total {
        let reports = format!("reports-{index}");
        let output = run_job_lines(
            repo.path(),
            &script,
            &[
                ("HUNKGUARD_HOME", home.display().to_string()),
                ("HUNKGUARD_REPORTS_DIR", reports.clone()),
                ("HUNKGUARD_FAIL_ON", "never".into()),
                ("CI_NODE_INDEX", index.to_string()),
                ("CI_NODE_TOTAL", total.to_string()),
            ],
        );
        assert!(
            output.status.success(),
            "job {index}/{total}: {}",
            describe(&output)
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo.path().join(&reports).join("hunkguard.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["shard"]["index"], index);
        assert!(repo
            .path()
            .join(&reports)
            .join("gl-sast-report.json")
            .is_file());
        add_disjoint(&mut union, coverage(&report), &format!("job {index}"));
    }
    assert_eq!(union, whole);
}

#[test]
fn the_github_matrix_example_gives_each_shard_its_own_sarif_category() {
    let workflow = yaml("examples/github/hunkguard-audit.yml");
    let job = &workflow["jobs"]["audit"];
    let shards: Vec<u64> = job["strategy"]["matrix"]["shard"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let total = shards.len() as u64;
    assert_eq!(shards, (1..=total).collect::<Vec<_>>(), "shards 1..N");
    let steps = job["steps"].as_sequence().unwrap();
    let review = steps
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("--shard")))
        .expect("a step runs hunkguard check --shard");
    assert_eq!(
        review["env"]["SHARD"].as_str(),
        Some(format!("${{{{ matrix.shard }}}}/{total}").as_str()),
        "N in --shard is the matrix size"
    );
    assert!(steps.iter().any(|s| s["uses"]
        .as_str()
        .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))));
    let run_line = review["run"].as_str().unwrap().to_string();

    let repo = monorepo();
    let home = hunkguard_home(repo.path());
    let path = format!(
        "{}:{}",
        home.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ids = BTreeSet::new();
    for shard in shards {
        let output = run_job_lines(
            repo.path(),
            std::slice::from_ref(&run_line),
            &[
                ("PATH", path.clone()),
                ("SHARD", format!("{shard}/{total}")),
            ],
        );
        assert!(
            output.status.success(),
            "shard {shard}: {}",
            describe(&output)
        );
        let log: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo.path().join("hunkguard.sarif")).unwrap(),
        )
        .unwrap();
        ids.insert(
            log["runs"][0]["automationDetails"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len() as u64, total, "one category per shard: {ids:?}");
}
