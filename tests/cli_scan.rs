//! The real binary on real repositories with the shipped model: what a user sees, and the exit codes.

mod common;

use common::{assert_valid, describe, hunkguard, json_stdout, run_json, Repo};

const BASE_DB: &str = "import sqlite3\n\n\ndef legacy(conn, name):\n    return conn.execute(\"SELECT * FROM users WHERE name = '\" + name + \"'\").fetchall()\n";

const ADDED_VIEWS: &str = r#"import os
from flask import Flask, request

app = Flask(__name__)


@app.route("/ping")
def ping():
    host = request.args.get("host", "")
    os.system("ping -c 1 " + host)
    return "sent"
"#;

/// A repo whose base already holds a SQL injection, and whose branch adds a command injection.
fn vulnerable_branch() -> Repo {
    let repo = Repo::with_base(&[("shop/db.py", BASE_DB)]);
    repo.branch("feature");
    repo.write("shop/views.py", ADDED_VIEWS);
    repo.write(
        "shop/db.py",
        &format!("{BASE_DB}\n\ndef count(conn):\n    return conn.execute(\"SELECT COUNT(*) FROM users\").fetchone()\n"),
    );
    repo.commit_all("ping endpoint");
    repo
}

fn scan_json(repo: &Repo, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    run_json(repo.path(), &[&["scan", "--base", "main"], extra].concat())
}

#[test]
fn an_added_vulnerable_line_is_reported_on_its_line_and_an_unchanged_one_is_not() {
    let repo = vulnerable_branch();
    let (output, json) = scan_json(&repo, &[]);
    let findings = json["findings"].as_array().unwrap();
    let on_views: Vec<_> = findings
        .iter()
        .filter(|f| f["path"] == "shop/views.py")
        .collect();
    assert!(
        on_views
            .iter()
            .any(|f| f["start_line"].as_u64() <= Some(10) && f["end_line"].as_u64() >= Some(10)),
        "the os.system line (10) must be flagged\n{}",
        describe(&output)
    );
    assert!(
        on_views.iter().any(|f| f["cwe"] == "CWE-78"),
        "the command injection is CWE-78\n{}",
        describe(&output)
    );
    for finding in findings {
        if finding["path"] == "shop/db.py" {
            let line = finding["start_line"].as_u64().unwrap();
            assert!(
                line >= 7,
                "the base branch's SQL injection (line 5) was not changed: {finding}"
            );
        }
    }
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["files"].as_array().unwrap().len(), 2);
}

#[test]
fn a_suppression_comment_silences_the_finding() {
    let flagged_at_10 = |json: &serde_json::Value| {
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cwe"] == "CWE-78" && f["start_line"] == 10)
    };
    let repo = Repo::with_base(&[("keep.py", "x = 1\n")]);
    repo.branch("feature");
    repo.write("shop/views.py", ADDED_VIEWS);
    repo.commit_all("ping");
    let (output, json) = scan_json(&repo, &[]);
    assert!(
        flagged_at_10(&json),
        "without the comment it is reported\n{}",
        describe(&output)
    );

    for comment in ["  # hunkguard: ignore[CWE-78]", "  # hunkguard: ignore"] {
        let suppressed = ADDED_VIEWS.replace(
            "    os.system(\"ping -c 1 \" + host)",
            &format!("    os.system(\"ping -c 1 \" + host){comment}"),
        );
        repo.write("shop/views.py", &suppressed);
        repo.commit_all("suppress");
        let (output, json) = scan_json(&repo, &[]);
        assert!(
            !flagged_at_10(&json),
            "{comment} silences it\n{}",
            describe(&output)
        );
    }
    let other = ADDED_VIEWS.replace(
        "    os.system(\"ping -c 1 \" + host)",
        "    os.system(\"ping -c 1 \" + host)  # hunkguard: ignore[CWE-89]",
    );
    repo.write("shop/views.py", &other);
    repo.commit_all("suppress another CWE");
    let (output, json) = scan_json(&repo, &[]);
    assert!(
        flagged_at_10(&json),
        "suppressing another CWE keeps it\n{}",
        describe(&output)
    );
}

#[test]
fn exit_code_is_1_for_findings_at_fail_on_and_0_below() {
    let repo = vulnerable_branch();
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main", "--fail-on", "high"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("shop/views.py:10"), "{}", describe(&output));
    assert!(text.contains("CWE-78"), "{}", describe(&output));

    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main", "--fail-on", "never"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn one_run_writes_every_report_and_they_validate_against_the_official_schemas() {
    let repo = vulnerable_branch();
    let out = tempfile::tempdir().unwrap();
    let path = |name: &str| out.path().join(name).to_string_lossy().into_owned();
    let output = hunkguard(repo.path())
        .args([
            "scan",
            "--base",
            "main",
            "--fail-on",
            "never",
            "--format",
            "github",
        ])
        .args(["--sarif", &path("r.sarif"), "--json", &path("r.json")])
        .args([
            "--gitlab-sast",
            &path("sast.json"),
            "--codequality",
            &path("cq.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join(name)).unwrap()).unwrap()
    };
    let sarif = read("r.sarif");
    assert_valid("sarif-schema-2.1.0.json", &sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results[0]["partialFingerprints"]["primaryLocationLineHash"].is_string());
    assert_valid("gitlab-sast-report-format-15.2.1.json", &read("sast.json"));
    let cq = read("cq.json");
    assert!(cq.as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(
        read("r.json")["findings"],
        sarif_free_findings(&read("r.json"))
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("::error file=shop/views.py,line=10"),
        "{}",
        describe(&output)
    );
}

fn sarif_free_findings(report: &serde_json::Value) -> serde_json::Value {
    report["findings"].clone()
}

#[test]
fn check_reviews_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("views.py"), ADDED_VIEWS).unwrap();
    let output = hunkguard(dir.path())
        .args([
            "check",
            "views.py",
            "--format",
            "json",
            "--fail-on",
            "never",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_stdout(&output);
    assert!(json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["cwe"] == "CWE-78" && f["start_line"] == 10));
}

#[test]
fn an_empty_diff_exits_clean_without_findings() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    let (_, json) = scan_json(&repo, &[]);
    assert!(json["findings"].as_array().unwrap().is_empty());
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let repo = vulnerable_branch();
    repo.write(".hunkguard.yml", "min_confidence: 0.5\nfail_onn: high\n");
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("fail_onn"),
        "{}",
        describe(&output)
    );

    repo.write(".hunkguard.yml", "disabled: [CWE-78]\n");
    let (output, json) = scan_json(&repo, &[]);
    assert!(
        !json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cwe"] == "CWE-78"),
        "a disabled CWE is never reported\n{}",
        describe(&output)
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path())
        .args(["scan", "--format", "pdf"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let output = hunkguard(dir.path())
        .args(["scan", "--fail-on", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--fail-on"),
        "{}",
        describe(&output)
    );
    let output = hunkguard(dir.path())
        .args(["scan", "--min-confidence", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn runtime_problems_exit_3_with_a_clear_message() {
    let repo = vulnerable_branch();
    // Not a repository.
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path())
        .args(["scan", "--base", "main"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not inside a git repository"));

    // Unknown revision.
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown revision `nope`"));

    // ONNX Runtime missing: the message says how to install it.
    let output = hunkguard(repo.path())
        .args([
            "scan",
            "--base",
            "main",
            "--ort-lib",
            "/nonexistent/libonnxruntime.so",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("setup-ort.sh"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_corrupt_or_missing_model_exits_3_naming_the_file() {
    let repo = vulnerable_branch();
    let broken = tempfile::tempdir().unwrap();
    for name in ["manifest.json", "tokenizer.json"] {
        std::fs::copy(common::model_dir().join(name), broken.path().join(name)).unwrap();
    }
    let run = |dir: &std::path::Path| {
        hunkguard(repo.path())
            .args(["scan", "--base", "main", "--model-dir"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let output = run(broken.path());
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("model.onnx"),
        "{}",
        describe(&output)
    );

    std::fs::write(broken.path().join("model.onnx"), b"this is not a model").unwrap();
    let output = run(broken.path());
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot load model"),
        "{}",
        describe(&output)
    );

    std::fs::write(broken.path().join("manifest.json"), b"{\"labels\": 3}").unwrap();
    let output = run(broken.path());
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("manifest"),
        "{}",
        describe(&output)
    );
}

#[test]
fn model_command_shows_version_labels_and_provider() {
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path())
        .args(["model", "--json", "--device", "auto"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_stdout(&output);
    assert_eq!(
        json["provider"], "CPU",
        "no GPU here: auto falls back to CPU"
    );
    assert!(json["labels"].as_array().unwrap().len() >= 29);
    assert!(json["version"].is_string());
}

#[test]
fn cuda_on_a_machine_without_it_is_a_clear_error() {
    if std::path::Path::new("/dev/nvidia0").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path())
        .args(["model", "--device", "cuda"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("CUDA"),
        "{}",
        describe(&output)
    );
}

#[test]
fn a_safe_change_next_to_a_vulnerable_one_is_not_flagged() {
    let repo = Repo::with_base(&[("keep.py", "x = 1\n")]);
    repo.branch("feature");
    let views = format!(
        "{ADDED_VIEWS}\n\n@app.route(\"/report\")\ndef report():\n    import subprocess\n    out = subprocess.run([\"uptime\"], capture_output=True, text=True)\n    return out.stdout\n"
    );
    let safe_line = views
        .lines()
        .position(|l| l.contains("subprocess.run"))
        .unwrap() as u64
        + 1;
    repo.write("shop/views.py", &views);
    repo.commit_all("ping and report");
    let (output, json) = scan_json(&repo, &[]);
    let lines: Vec<u64> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["start_line"].as_u64())
        .collect();
    assert!(
        lines.contains(&10),
        "the command injection is reported\n{}",
        describe(&output)
    );
    assert!(
        !lines.contains(&safe_line),
        "the constant-argv subprocess call (line {safe_line}) is safe, whatever its neighbour holds\n{}",
        describe(&output)
    );
}

#[test]
fn a_function_added_after_a_neighbours_decorator_is_still_read_on_its_own() {
    // The hunk opens on the tail of the unchanged `health` route; read from there, the model once
    // scored the new `os.system` call 0.07. Each added definition is also read alone.
    let base = "from flask import Flask, request\n\napp = Flask(__name__)\n\n\n@app.route(\"/health\")\ndef health():\n    return \"ok\"\n";
    let repo = Repo::with_base(&[("shop/views.py", base)]);
    repo.branch("feature");
    repo.write(
        "shop/views.py",
        &format!(
            "{base}\n\n@app.route(\"/ping\")\ndef ping():\n    host = request.args.get(\"host\", \"\")\n    import os\n    os.system(\"ping -c 1 \" + host)\n    return \"sent\"\n\n\n@app.route(\"/report\")\ndef report():\n    import subprocess\n    out = subprocess.run([\"uptime\"], capture_output=True, text=True)\n    return out.stdout\n"
        ),
    );
    repo.commit_all("ping endpoint");
    let (output, json) = scan_json(&repo, &[]);
    let findings = json["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["cwe"] == "CWE-78" && f["start_line"] == 15),
        "{}",
        describe(&output)
    );
    assert!(
        findings.iter().all(|f| f["start_line"].as_u64() < Some(19)),
        "the constant-argv subprocess.run in `report` is not a finding\n{}",
        describe(&output)
    );
}
