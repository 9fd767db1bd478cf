//! Shared test helpers: real git repositories in temp dirs, and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A git repository in a temp dir, driven with the real `git` CLI.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// A fresh repository on branch `main` with one commit holding `files`.
    pub fn with_base(files: &[(&str, &str)]) -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "core.autocrlf", "false"]);
        for (path, content) in files {
            repo.write(path, content);
        }
        repo.commit_all("base");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run git in the repo; panics with its output on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    pub fn write(&self, path: &str, content: &str) {
        self.write_bytes(path, content.as_bytes());
    }

    pub fn write_bytes(&self, path: &str, content: &[u8]) {
        let full = self.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(full, content).expect("write");
    }

    pub fn commit_all(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Create and switch to a feature branch.
    pub fn branch(&self, name: &str) {
        self.git(&["checkout", "-q", "-b", name]);
    }
}

/// The repository root of this crate.
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped model folder.
pub fn model_dir() -> PathBuf {
    crate_root().join("models")
}

/// The real binary with a cleared environment (PATH and HOME kept), run in `cwd`.
pub fn hunkguard(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hunkguard"));
    cmd.current_dir(cwd).env_clear();
    for key in ["PATH", "HOME", "ORT_DYLIB_PATH", "LD_LIBRARY_PATH"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        let local = crate_root().join(".ort");
        if local.is_dir() {
            cmd.env("ORT_DYLIB_PATH", local);
        }
    }
    cmd.env("HUNKGUARD_MODEL_DIR", model_dir());
    cmd
}

/// Everything needed to understand a failed run.
pub fn describe(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Parse stdout as JSON.
pub fn json_stdout(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(output)))
}

/// Run `hunkguard <args> --format json --fail-on never` in `cwd`, which must exit 0: the run (for
/// messages) and its JSON report.
pub fn run_json(cwd: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let output = hunkguard(cwd)
        .args(args)
        .args(["--format", "json", "--fail-on", "never"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json = json_stdout(&output);
    (output, json)
}

/// Where the findings of a JSON report are: (path, CWE, start line), in a set.
pub fn finding_places(
    report: &serde_json::Value,
) -> std::collections::BTreeSet<(String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings in {report}"))
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["cwe"].as_str().unwrap().to_string(),
                f["start_line"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A high-severity finding at `path:line` for the forge tests, fingerprinted as the scan does.
pub fn finding(path: &str, line: u32, cwe: &str, code: &str) -> hunkguard::finding::Finding {
    hunkguard::finding::Finding {
        path: path.into(),
        start_line: line,
        end_line: line,
        cwe: cwe.into(),
        title: format!("{cwe} title"),
        confidence: 0.9,
        severity: hunkguard::finding::Severity::High,
        security_severity: 8.0,
        explanation: "Untrusted data reaches a sink.".into(),
        advice: "Do not do that.".into(),
        code: code.into(),
        fingerprint: hunkguard::finding::fingerprint(cwe, path, code),
    }
}

/// Validate `instance` against a schema in ../shared/schemas.
pub fn assert_valid(schema_file: &str, instance: &serde_json::Value) {
    let path = crate_root().join("../shared/schemas").join(schema_file);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{schema_file} violations:\n{}",
        errors.join("\n")
    );
}
