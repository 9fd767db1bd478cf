//! The GitLab CI template: `scripts/gitlab-ci.sh` run with a faked merge-request pipeline environment.
//!
//! A real git "server" repository and a shallow clone of it (like GitLab's `GIT_DEPTH`) are built in a
//! temp dir. The hunkguard binary and the ONNX Runtime installer are replaced by stubs through
//! `HUNKGUARD_BIN` and `HUNKGUARD_SETUP_ORT`; the stubs record what they were given. The arguments the
//! script passes are checked against the real command-line parser. No network is used.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::Parser;
use hunkguard::cli::{Cli, Command as HunkguardCommand, ForgeKind};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/gitlab-ci.sh");
const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/gitlab/.gitlab-ci.yml"
);

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn commit(dir: &Path, file: &str, text: &str, message: &str) -> String {
    fs::write(dir.join(file), text).expect("write");
    git(dir, &["add", file]);
    git(dir, &["commit", "--quiet", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).expect("write stub");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A project on a "GitLab" (a local repository served over file://) with one merge request.
struct Pipeline {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// The job's clone (CI_PROJECT_DIR).
    clone: PathBuf,
    base: String,
    head: String,
    target_tip: String,
}

impl Pipeline {
    fn new(depth: u32) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        let server = root.join("server");
        fs::create_dir(&server).expect("mkdir");
        git(&server, &["init", "--quiet", "--initial-branch=main"]);
        // Gitaly serves any reachable commit by sha; so does this "server".
        git(
            &server,
            &["config", "uploadpack.allowAnySHA1InWant", "true"],
        );
        commit(&server, "app.py", "import os\n", "initial");
        for i in 0..5 {
            commit(&server, "README", &format!("v{i}\n"), "docs");
        }
        let base = git(&server, &["rev-parse", "HEAD"]);
        git(&server, &["checkout", "--quiet", "-b", "feature"]);
        let mut head = String::new();
        for i in 0..6 {
            head = commit(
                &server,
                "app.py",
                &format!("import os\n\ndef run(cmd):\n    os.system(cmd)  # {i}\n"),
                "feature work",
            );
        }
        git(&server, &["checkout", "--quiet", "main"]);
        let target_tip = commit(&server, "other.py", "x = 1\n", "target moves on");

        let clone = root.join("project");
        let url = format!("file://{}", server.display());
        git(
            &root,
            &[
                "clone",
                "--quiet",
                &format!("--depth={depth}"),
                "--branch",
                "feature",
                "--single-branch",
                &url,
                "project",
            ],
        );
        Self {
            _tmp: tmp,
            root,
            clone,
            base,
            head,
            target_tip,
        }
    }

    fn has_commit(&self, sha: &str) -> bool {
        Command::new("git")
            .args(["cat-file", "-e", &format!("{sha}^{{commit}}")])
            .current_dir(&self.clone)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn stubs(&self, exit_code: u8) -> (PathBuf, PathBuf) {
        let stub_dir = self.root.join("stubs");
        fs::create_dir_all(&stub_dir).expect("mkdir");
        let bin = stub_dir.join("hunkguard");
        // Records its arguments and environment, checks the history it needs, writes the reports.
        write_executable(
            &bin,
            &format!(
                r#"#!/usr/bin/env bash
set -eu
log="{log}"
printf '%s\n' "$@" > "$log/args"
env > "$log/env"
git merge-base --is-ancestor "$CI_MERGE_REQUEST_DIFF_BASE_SHA" "${{CI_MERGE_REQUEST_SOURCE_BRANCH_SHA:-$CI_COMMIT_SHA}}" || exit 97
reports=hunkguard-reports
while [ $# -gt 0 ]; do
  if [ "$1" = --reports-dir ]; then reports="$2"; fi
  shift
done
mkdir -p "$reports"
echo '{{"version": "15.2.1", "vulnerabilities": []}}' > "$reports/gl-sast-report.json"
echo '[]' > "$reports/gl-code-quality-report.json"
exit {exit_code}
"#,
                log = stub_dir.display()
            ),
        );
        let setup_ort = stub_dir.join("setup-ort.sh");
        write_executable(
            &setup_ort,
            &format!(
                r#"#!/usr/bin/env bash
printf '%s\n' "$@" > "{log}/setup-ort-args"
echo "downloading (stub)" >&2
echo "/opt/fake-ort/libonnxruntime.so.1.31.1"
"#,
                log = stub_dir.display()
            ),
        );
        (bin, setup_ort)
    }

    /// Run the template's script with a merge-request pipeline environment (and nothing else).
    fn run(&self, extra: &[(&str, &str)], exit_code: u8) -> Output {
        let (bin, setup_ort) = self.stubs(exit_code);
        let mut env: BTreeMap<&str, String> = BTreeMap::from([
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", self.root.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
            ("GITLAB_CI", "true".into()),
            ("CI", "true".into()),
            ("CI_PIPELINE_SOURCE", "merge_request_event".into()),
            ("CI_PROJECT_DIR", self.clone.display().to_string()),
            ("CI_API_V4_URL", "http://127.0.0.1:9/api/v4".into()),
            ("CI_PROJECT_ID", "42".into()),
            ("CI_MERGE_REQUEST_IID", "7".into()),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", self.base.clone()),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main".into()),
            ("CI_COMMIT_SHA", self.head.clone()),
            ("GIT_DEPTH", "1".into()),
            ("HUNKGUARD_BIN", bin.display().to_string()),
            ("HUNKGUARD_SETUP_ORT", setup_ort.display().to_string()),
        ]);
        for (k, v) in extra {
            env.insert(k, v.to_string());
        }
        Command::new("bash")
            .arg(SCRIPT)
            .current_dir(&self.clone)
            .env_clear()
            .envs(&env)
            .output()
            .expect("bash runs")
    }

    fn recorded(&self, name: &str) -> String {
        fs::read_to_string(self.root.join("stubs").join(name)).unwrap_or_default()
    }
}

fn show(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_shallow_clone_gets_its_merge_base_and_hunkguard_reviews_it() {
    let pipeline = Pipeline::new(1);
    assert!(
        !pipeline.has_commit(&pipeline.base),
        "the clone starts without the base"
    );

    let output = pipeline.run(&[("HUNKGUARD_FAIL_ON", "high")], 0);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(pipeline.has_commit(&pipeline.base), "{}", show(&output));
    assert!(
        !pipeline.has_commit(&pipeline.target_tip),
        "only what is needed is fetched"
    );

    // The arguments are valid for the real command line.
    let args: Vec<String> = pipeline
        .recorded("args")
        .lines()
        .map(String::from)
        .collect();
    let cli = Cli::try_parse_from(std::iter::once("hunkguard".to_string()).chain(args.clone()))
        .unwrap_or_else(|e| panic!("the script's arguments {args:?} do not parse: {e}"));
    let HunkguardCommand::Review(review) = cli.command else {
        panic!("not a review: {args:?}");
    };
    assert_eq!(review.forge, ForgeKind::Gitlab);
    assert_eq!(review.repo, pipeline.clone);
    assert_eq!(review.reports_dir, PathBuf::from("hunkguard-reports"));
    assert_eq!(review.scan.fail_on.as_deref(), Some("high"));

    // ONNX Runtime was installed (CPU) and handed to hunkguard.
    assert_eq!(pipeline.recorded("setup-ort-args").trim(), ".ort");
    let env = pipeline.recorded("env");
    assert!(
        env.lines()
            .any(|l| l == "ORT_DYLIB_PATH=/opt/fake-ort/libonnxruntime.so.1.31.1"),
        "{env}"
    );
    // The reports the template publishes exist.
    for report in ["gl-sast-report.json", "gl-code-quality-report.json"] {
        assert!(pipeline
            .clone
            .join("hunkguard-reports")
            .join(report)
            .is_file());
    }
}

#[test]
fn findings_fail_the_job_and_a_gpu_runner_installs_the_gpu_runtime() {
    let pipeline = Pipeline::new(3);
    let output = pipeline.run(
        &[
            ("HUNKGUARD_DEVICE", "cuda"),
            ("HUNKGUARD_REPORTS_DIR", "out/reports"),
        ],
        1,
    );
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let setup_args: Vec<String> = pipeline
        .recorded("setup-ort-args")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(setup_args, ["--gpu", ".ort"]);
    assert!(pipeline
        .clone
        .join("out/reports/gl-sast-report.json")
        .is_file());
}

#[test]
fn a_given_onnx_runtime_and_a_merged_results_pipeline_are_respected() {
    let pipeline = Pipeline::new(2);
    // Merged-results pipelines: CI_COMMIT_SHA is a merge commit the clone may not even hold; the
    // source branch head is what counts.
    let output = pipeline.run(
        &[
            ("ORT_DYLIB_PATH", "/usr/lib/libonnxruntime.so"),
            ("CI_COMMIT_SHA", "abcdefabcdefabcdefabcdefabcdefabcdefabcd"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", pipeline.head.as_str()),
        ],
        0,
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_eq!(pipeline.recorded("setup-ort-args"), "", "installer not run");
    assert!(pipeline
        .recorded("env")
        .lines()
        .any(|l| l == "ORT_DYLIB_PATH=/usr/lib/libonnxruntime.so"));
}

#[test]
fn outside_a_merge_request_pipeline_the_script_says_how_to_fix_it() {
    let pipeline = Pipeline::new(1);
    let output = pipeline.run(&[("CI_MERGE_REQUEST_IID", "")], 0);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("merge_request_event"), "{stderr}");
    assert_eq!(pipeline.recorded("args"), "", "hunkguard must not run");
}

#[test]
fn the_template_runs_the_script_on_merge_requests_and_publishes_both_reports() {
    let text = fs::read_to_string(TEMPLATE).expect("template");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let job = &yaml[".hunkguard"];
    assert_eq!(yaml["hunkguard"]["extends"], ".hunkguard");
    assert_eq!(
        job["rules"][0]["if"],
        "$CI_PIPELINE_SOURCE == \"merge_request_event\""
    );
    let script = job["script"][0].as_str().unwrap_or_default();
    assert!(script.contains("scripts/gitlab-ci.sh"), "{script}");
    let reports_dir = job["variables"]["HUNKGUARD_REPORTS_DIR"]
        .as_str()
        .unwrap_or_default();
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"], "always");
    assert_eq!(
        artifacts["reports"]["sast"],
        format!("{reports_dir}/gl-sast-report.json").as_str()
    );
    assert_eq!(
        artifacts["reports"]["codequality"],
        format!("{reports_dir}/gl-code-quality-report.json").as_str()
    );
    // The names the CLI writes are the names the template publishes.
    assert_eq!(hunkguard::cli::gitlab::SAST_REPORT, "gl-sast-report.json");
    assert_eq!(
        hunkguard::cli::gitlab::CODEQUALITY_REPORT,
        "gl-code-quality-report.json"
    );
    // No token in the template: it belongs in a masked CI/CD variable.
    assert!(!text.contains("glpat-"));
}

#[test]
fn review_outside_a_merge_request_pipeline_names_the_missing_variable() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let output = assert_cmd::Command::cargo_bin("hunkguard")
        .expect("the binary")
        .args(["review", "--forge", "gitlab"])
        .current_dir(tmp.path())
        .env_clear()
        .env("GITLAB_CI", "true")
        .env("CI_API_V4_URL", "http://127.0.0.1:9/api/v4")
        .env("CI_PROJECT_ID", "42")
        .env("HUNKGUARD_GITLAB_TOKEN", "glpat-never-shown")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CI_MERGE_REQUEST_IID"), "{stderr}");
    assert!(stderr.contains("merge_request_event"), "{stderr}");
    assert!(!stderr.contains("glpat-never-shown"), "{stderr}");
}

/// A release folder made by scripts/package.sh around a stub binary (records its arguments and
/// environment into `log`, exits `exit_code`) and a stand-in ONNX Runtime folder: the real archive
/// layout, in seconds. Returns the folder to serve as HUNKGUARD_RELEASES.
fn packaged_release(root: &Path, log: &Path, exit_code: u8) -> PathBuf {
    let version = env!("CARGO_PKG_VERSION");
    let stub = root.join("stub-hunkguard");
    write_executable(
        &stub,
        &format!(
            r#"#!/usr/bin/env bash
if [ "$1" = --version ]; then echo "hunkguard {version}"; exit 0; fi
printf '%s\n' "$@" > "{log}/args"
env > "{log}/env"
mkdir -p hunkguard-reports
echo '{{"version": "15.2.1", "vulnerabilities": []}}' > hunkguard-reports/gl-sast-report.json
echo '[]' > hunkguard-reports/gl-code-quality-report.json
exit {exit_code}
"#,
            log = log.display()
        ),
    );
    let ort = root.join("ort");
    fs::create_dir_all(ort.join("licenses")).expect("mkdir");
    for file in [
        "libonnxruntime.so.1.31.1",
        "licenses/LICENSE",
        "licenses/ThirdPartyNotices.txt",
    ] {
        fs::write(ort.join(file), "stand-in\n").expect("write");
    }
    fs::write(ort.join(".package"), "onnxruntime==1.31.1\n").expect("write");
    let release = root.join("release");
    let output = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/package.sh"))
        .arg(release.join(format!("v{version}")))
        .env("HUNKGUARD_BINARY", &stub)
        .env("HUNKGUARD_ORT_DIR", &ort)
        .output()
        .expect("package.sh runs");
    assert!(output.status.success(), "{}", show(&output));
    release
}

/// Run the template's before_script and script lines, as a GitLab runner would, in a merge-request
/// pipeline whose variables are the template's own (with $CI_PROJECT_DIR expanded).
fn run_template(pipeline: &Pipeline, releases: &Path) -> Output {
    let text = fs::read_to_string(TEMPLATE).expect("template");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let job = &yaml[".hunkguard"];
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_sequence()
            .unwrap_or_else(|| panic!("no {key}"))
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let mut script = lines("before_script");
    script.extend(lines("script"));
    let project_dir = pipeline.clone.display().to_string();
    let version = job["variables"]["HUNKGUARD_VERSION"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cmd = Command::new("bash");
    cmd.args(["-eo", "pipefail", "-c", &script.join("\n")])
        .current_dir(&pipeline.clone)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &pipeline.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GITLAB_CI", "true")
        .env("CI_PIPELINE_SOURCE", "merge_request_event")
        .env("CI_PROJECT_DIR", &project_dir)
        .env("CI_API_V4_URL", "http://127.0.0.1:9/api/v4")
        .env("CI_PROJECT_ID", "42")
        .env("CI_MERGE_REQUEST_IID", "7")
        .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", &pipeline.base)
        .env("CI_COMMIT_SHA", &pipeline.head);
    for (key, value) in job["variables"].as_mapping().unwrap() {
        let value = value
            .as_str()
            .unwrap()
            .replace("$CI_PROJECT_DIR", &project_dir)
            .replace("$HUNKGUARD_VERSION", &version);
        cmd.env(key.as_str().unwrap(), value);
    }
    cmd.env(
        "HUNKGUARD_RELEASES",
        format!("file://{}", releases.display()),
    );
    cmd.output().expect("bash runs")
}

#[test]
fn the_template_installs_the_checked_release_archive_and_runs_it_with_no_rust_or_python() {
    let text = fs::read_to_string(TEMPLATE).expect("template");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let image = yaml[".hunkguard"]["image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("debian:"),
        "a plain image, not a Rust one: {image}"
    );
    assert_eq!(
        yaml[".hunkguard"]["variables"]["HUNKGUARD_VERSION"].as_str(),
        Some(format!("v{}", env!("CARGO_PKG_VERSION")).as_str()),
        "the template pins this release"
    );
    assert!(!text.contains("cargo"), "nothing is compiled");

    let pipeline = Pipeline::new(3);
    let log = pipeline.root.join("log");
    fs::create_dir_all(&log).expect("mkdir");
    let releases = packaged_release(&pipeline.root, &log, 1);
    let output = run_template(&pipeline, &releases);
    // The stub's exit code (1: findings) is the job's.
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(": OK"),
        "sha256sum checked the archive: {stdout}"
    );
    let home = pipeline
        .clone
        .join(format!(".hunkguard/v{}", env!("CARGO_PKG_VERSION")));
    assert!(home.join("hunkguard").is_file() && home.join("models/manifest.json").is_file());

    let args: Vec<String> = fs::read_to_string(log.join("args"))
        .expect("the archive's binary ran")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(args[..3], ["review", "--forge", "gitlab"]);
    let env = fs::read_to_string(log.join("env")).unwrap();
    assert!(
        !env.lines().any(|l| l.starts_with("ORT_DYLIB_PATH=")),
        "the bundled ONNX Runtime is used, nothing is installed: {env}"
    );
    assert!(
        env.lines()
            .any(|l| l == format!("HUNKGUARD_MODEL_DIR={}", home.join("models").display())),
        "{env}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("(next to the binary)"), "{stderr}");

    // The cache holds the install: a second job downloads nothing (the release is gone).
    fs::remove_dir_all(&releases).unwrap();
    let again = run_template(&pipeline, &releases);
    assert_eq!(again.status.code(), Some(1), "{}", show(&again));
}

#[test]
fn the_template_refuses_an_archive_whose_checksum_does_not_match() {
    let pipeline = Pipeline::new(3);
    let log = pipeline.root.join("log");
    fs::create_dir_all(&log).expect("mkdir");
    let releases = packaged_release(&pipeline.root, &log, 0);
    let version = env!("CARGO_PKG_VERSION");
    let archive = releases.join(format!(
        "v{version}/hunkguard-{version}-x86_64-unknown-linux-gnu.tar.gz"
    ));
    let mut bytes = fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"tampered");
    fs::write(&archive, bytes).unwrap();
    let output = run_template(&pipeline, &releases);
    assert_ne!(output.status.code(), Some(0), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("FAILED"),
        "{}",
        show(&output)
    );
    assert!(!log.join("args").exists(), "hunkguard never ran");
}
