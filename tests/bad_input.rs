//! Edges found by trying bad input on the real binary: each is a clear error or a skip with a
//! stated reason, never a panic or a hang.

mod common;

use std::time::{Duration, Instant};

use common::{describe, hunkguard, json_stdout, run_json, Repo};

const VULNERABLE: &str = "import os\nfrom flask import request\n\n\ndef ping():\n    host = request.args.get(\"host\", \"\")\n    os.system(\"ping -c 1 \" + host)\n    return \"sent\"\n";

/// Run `child` to its end, failing the test (and killing it) after `limit`: a hang must not hang CI.
fn run_within(mut command: std::process::Command, limit: Duration) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &id.to_string()])
                .status();
            panic!("still running after {:?}", started.elapsed());
        }
    }
}

#[test]
fn check_skips_a_fifo_and_dev_zero_with_a_reason_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.py");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(dir.path().join("ok.py"), "x = 1\n").unwrap();
    let mut command = hunkguard(dir.path());
    command.args([
        "check",
        "pipe.py",
        "/dev/zero",
        ".",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]);
    let output = run_within(command, Duration::from_secs(120));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_stdout(&output);
    let skipped = json["skipped"].as_array().unwrap();
    let reason_of = |path: &str| {
        skipped
            .iter()
            .find(|s| s["path"] == path)
            .and_then(|s| s["reason"].as_str())
            .map(str::to_string)
    };
    for path in ["pipe.py", "/dev/zero"] {
        let reason =
            reason_of(path).unwrap_or_else(|| panic!("{path} skipped\n{}", describe(&output)));
        assert!(reason.contains("not a regular file"), "{reason}");
    }
    // the walk of `.` meets the FIFO too and skips it the same way; the regular file is reviewed
    assert_eq!(
        skipped.iter().filter(|s| s["path"] == "pipe.py").count(),
        2,
        "{}",
        describe(&output)
    );
    assert!(json["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "ok.py"));
}

#[test]
fn check_skips_a_file_over_the_size_cap() {
    let dir = tempfile::tempdir().unwrap();
    let line = "VALUE = 'x' * 80\n";
    let big = line.repeat((2 * 1024 * 1024) / line.len() + 10);
    std::fs::write(dir.path().join("generated.py"), big).unwrap();
    let (output, json) = run_json(dir.path(), &["check", "generated.py"]);
    let reason = json["skipped"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("larger than 2 MiB"),
        "{}",
        describe(&output)
    );
    assert!(json["files"].as_array().unwrap().is_empty());
}

#[test]
fn config_values_that_would_silence_the_review_are_errors() {
    for (config, key) in [
        ("max_findings: 0\n", "max_findings"),
        ("include: [42]\n", "include"),
    ] {
        let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
        repo.write(".hunkguard.yml", config);
        let output = hunkguard(repo.path())
            .args(["scan", "--base", "main"])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{config}{}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(key),
            "{}",
            describe(&output)
        );
    }
}

#[test]
fn a_newline_in_a_path_does_not_split_a_text_finding() {
    let repo = Repo::with_base(&[("keep.py", "x = 1\n")]);
    repo.branch("feature");
    repo.write("evil\nsrc/app.py:1: CWE-0 fake.py", VULNERABLE);
    repo.commit_all("odd name");
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main", "--fail-on", "never"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("evil\\nsrc/app.py:1: CWE-0 fake.py:7: CWE-78"),
        "{}",
        describe(&output)
    );
    assert!(
        !text.lines().any(|l| l.starts_with("src/app.py:1")),
        "no line of output starts with the forged location\n{}",
        describe(&output)
    );
}

#[test]
fn bidi_controls_in_flagged_code_are_escaped_and_named() {
    let repo = Repo::with_base(&[("keep.py", "x = 1\n")]);
    repo.branch("feature");
    let trojan = VULNERABLE.replace(
        "    os.system(\"ping -c 1 \" + host)\n",
        "    os.system(\"ping -c 1 \" + host)  # \u{202e} safe \u{2066}\n",
    );
    repo.write("app.py", &trojan);
    repo.commit_all("trojan");
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main", "--fail-on", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("app.py:7: CWE-78"), "{}", describe(&output));
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{2066}'),
        "{}",
        describe(&output)
    );
    assert!(text.contains("\\u{202e}"), "{}", describe(&output));
    assert!(
        text.contains("bidirectional control characters"),
        "{}",
        describe(&output)
    );
}

#[test]
fn an_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path())
        .args(["check", "missing.py"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn an_unwritable_report_does_not_stop_the_others_and_is_named() {
    let repo = Repo::with_base(&[("keep.py", "x = 1\n")]);
    repo.branch("feature");
    repo.write("app.py", VULNERABLE);
    repo.commit_all("ping");
    let out = tempfile::tempdir().unwrap();
    // a folder where the file should be: it cannot be written
    let blocked = out.path().join("r.sarif");
    std::fs::create_dir(&blocked).unwrap();
    let json = out.path().join("r.json");
    let codequality = out.path().join("cq.json");
    let output = hunkguard(repo.path())
        .args(["scan", "--base", "main", "--fail-on", "never", "--sarif"])
        .arg(&blocked)
        .arg("--json")
        .arg(&json)
        .arg("--codequality")
        .arg(&codequality)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("r.sarif"),
        "the failure is named\n{}",
        describe(&output)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(!report["findings"].as_array().unwrap().is_empty());
    assert!(codequality.is_file(), "written after the failing one");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("app.py:7"),
        "stdout is written too\n{}",
        describe(&output)
    );
}

#[test]
fn the_model_command_prints_a_readable_summary() {
    let dir = tempfile::tempdir().unwrap();
    let output = hunkguard(dir.path()).args(["model"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(longest <= 160, "a line of {longest} characters\n{text}");
    assert!(text.contains("CWE-89"), "{text}");
    assert!(text.contains("precision"), "{text}");
    assert!(!text.contains('{'), "no JSON in the summary\n{text}");
}
