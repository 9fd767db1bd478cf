//! The GitHub Action's shell steps (scripts/action/*.sh) run with a faked `GITHUB_*` environment.
//!
//! Everything is local: real git repositories in temp dirs (a shallow `file://` clone stands in for
//! actions/checkout), and small stub programs for cargo, curl, the ONNX Runtime installer and hunkguard.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/action")
        .join(name)
}

/// A command with a cleared environment: only PATH (optionally with stubs first) and HOME.
fn clean(program: &Path, home: &Path, stub_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(program).env_clear().env("HOME", home);
    let path = std::env::var("PATH").unwrap_or_default();
    match stub_dir {
        Some(dir) => cmd.env("PATH", format!("{}:{path}", dir.display())),
        None => cmd.env("PATH", path),
    };
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    cmd
}

fn describe(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", file]);
    git(dir, &["rev-parse", "HEAD"])
}

fn write_exe(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An "origin" where main moved on after the feature branch forked, and a depth-1 clone of main's
/// tip, as actions/checkout leaves it. Returns (temp, clone, base = main tip, head = feature tip, merge-base).
fn shallow_pr_checkout() -> (tempfile::TempDir, PathBuf, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let origin = tmp.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    // GitHub serves any reachable commit by sha; a local upload-pack needs to be told.
    git(
        &origin,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
    );
    for i in 0..5 {
        commit(&origin, "base.py", &format!("x = {i}\n"));
    }
    let fork_point = git(&origin, &["rev-parse", "HEAD"]);
    git(&origin, &["checkout", "-q", "-b", "feature"]);
    commit(&origin, "app.py", "import os\n");
    let head = commit(&origin, "app.py", "import os\nos.system(input())\n");
    git(&origin, &["checkout", "-q", "main"]);
    for i in 5..9 {
        commit(&origin, "base.py", &format!("x = {i}\n"));
    }
    let base = git(&origin, &["rev-parse", "HEAD"]);
    let clone = tmp.path().join("checkout");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--depth=1",
            "--no-tags",
            &format!("file://{}", origin.display()),
            "checkout",
        ],
    );
    (tmp, clone, base, head, fork_point)
}

#[test]
fn fetch_base_deepens_a_shallow_checkout_until_the_merge_base_is_there() {
    let (tmp, clone, base, head, fork_point) = shallow_pr_checkout();
    assert_eq!(
        git(&clone, &["rev-parse", "--is-shallow-repository"]),
        "true"
    );
    let output = clean(&script("fetch-base.sh"), tmp.path(), None)
        .current_dir(&clone)
        .env("HUNKGUARD_BASE_SHA", &base)
        .env("HUNKGUARD_HEAD_SHA", &head)
        .env("HUNKGUARD_FETCH_DEPTH", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(git(&clone, &["merge-base", &base, &head]), fork_point);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("--depth=1") && log.contains("--depth=200"),
        "deepened: {log}"
    );

    // A second run finds everything and fetches nothing.
    let again = clean(&script("fetch-base.sh"), tmp.path(), None)
        .current_dir(&clone)
        .args([&base, &head])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", describe(&again));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("fetching"));
}

#[test]
fn fetch_base_fails_loudly_with_the_fetch_depth_advice() {
    let (tmp, clone, _base, head, _) = shallow_pr_checkout();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let output = clean(&script("fetch-base.sh"), tmp.path(), None)
        .current_dir(&clone)
        .env("HUNKGUARD_BASE_SHA", missing)
        .env("HUNKGUARD_HEAD_SHA", &head)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("::error title=hunkguard::"), "{stdout}");
    assert!(stdout.contains("fetch-depth: 0"), "{stdout}");

    let no_event = clean(&script("fetch-base.sh"), tmp.path(), None)
        .current_dir(&clone)
        .output()
        .unwrap();
    assert_eq!(no_event.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_event.stdout).contains("pull_request events"));

    let injected = clean(&script("fetch-base.sh"), tmp.path(), None)
        .current_dir(&clone)
        .arg("--upload-pack=touch /tmp/x")
        .arg(&head)
        .output()
        .unwrap();
    assert_eq!(injected.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&injected.stdout).contains("not a commit sha"));
}

/// A stub hunkguard that records its arguments, one per line.
fn recording_stub(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("argv");
    let stub = dir.join("bin/hunkguard");
    write_exe(
        &stub,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nprintf 'model=%s\\n' \"${{HUNKGUARD_MODEL_DIR-unset}}\" >> '{}'\n",
            log.display(),
            log.display()
        ),
    );
    (stub, log)
}

#[test]
fn review_maps_the_action_inputs_to_hunkguard_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let (stub, log) = recording_stub(tmp.path());
    let config = tmp.path().join(".hunkguard.yml");
    std::fs::write(&config, "fail_on: high\n").unwrap();
    let output = clean(&script("review.sh"), tmp.path(), None)
        .env("HUNKGUARD", &stub)
        .env("GITHUB_TOKEN", "ghs_x")
        .env("HUNKGUARD_FAIL_ON", "high")
        .env("HUNKGUARD_MIN_CONFIDENCE", "0.7")
        .env("HUNKGUARD_CONFIG", &config)
        .env("HUNKGUARD_DEVICE", "cpu")
        .env("HUNKGUARD_MAX_COMMENTS", "12")
        .env("HUNKGUARD_UPLOAD_SARIF", "true")
        .env("HUNKGUARD_SARIF_FILE", "out/x.sarif")
        .env("HUNKGUARD_POST", "false")
        .env("HUNKGUARD_STRICT", "false")
        .env("HUNKGUARD_MODEL_DIR", "")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let argv = std::fs::read_to_string(&log).unwrap();
    let expected = [
        "review",
        "--forge",
        "github",
        "--fail-on",
        "high",
        "--min-confidence",
        "0.7",
        "--config",
        config.to_str().unwrap(),
        "--device",
        "cpu",
        "--max-comments",
        "12",
        "--upload-sarif",
        "--dry-run",
        "--sarif",
        "out/x.sarif",
        "--no-progress",
        "model=unset",
    ];
    assert_eq!(argv.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn review_refuses_bad_inputs_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (stub, log) = recording_stub(tmp.path());
    for (key, value, named) in [
        ("HUNKGUARD_DEVICE", "gpu", "input device"),
        ("HUNKGUARD_FAIL_ON", "severe", "input fail-on"),
        (
            "HUNKGUARD_MAX_COMMENTS",
            "10; rm -rf /",
            "input max-comments",
        ),
        ("HUNKGUARD_MIN_CONFIDENCE", "2", "input min-confidence"),
        ("HUNKGUARD_UPLOAD_SARIF", "yes", "input upload-sarif"),
    ] {
        let output = clean(&script("review.sh"), tmp.path(), None)
            .env("HUNKGUARD", &stub)
            .env(key, value)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{key}={value}: {}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains(named),
            "{}",
            describe(&output)
        );
    }
    assert!(!log.exists(), "hunkguard never ran");
}

#[test]
fn setup_ort_exports_the_library_path_and_asks_for_the_gpu_wheel_on_cuda() {
    let tmp = tempfile::tempdir().unwrap();
    let args_log = tmp.path().join("installer-args");
    let installer = tmp.path().join("setup-ort.sh");
    // A stand-in for scripts/setup-ort.sh: same interface, no download.
    write_exe(
        &installer,
        &format!(
            "#!/usr/bin/env bash\nset -e\necho \"$@\" > '{}'\ndir=\"${{@: -1}}\"\nmkdir -p \"$dir\"\n\
             touch \"$dir/libonnxruntime.so.1.31.1\"\necho '/cuda/lib:' > \"$dir/cuda-library-path\"\n\
             echo 'progress on stdout'\necho \"$dir/libonnxruntime.so.1.31.1\"\n",
            args_log.display()
        ),
    );
    let github_env = tmp.path().join("github_env");
    let ort_dir = tmp.path().join("ort");
    let output = clean(&script("setup-ort.sh"), tmp.path(), None)
        .env("HUNKGUARD_SETUP_ORT", &installer)
        .env("HUNKGUARD_DEVICE", "cuda")
        .env("HUNKGUARD_ORT_DIR", &ort_dir)
        .env("GITHUB_ENV", &github_env)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(&args_log).unwrap().trim(),
        format!("--gpu {}", ort_dir.display())
    );
    let exported = std::fs::read_to_string(&github_env).unwrap();
    assert_eq!(
        exported,
        format!(
            "ORT_DYLIB_PATH={}/libonnxruntime.so.1.31.1\nLD_LIBRARY_PATH=/cuda/lib:\n",
            ort_dir.display()
        )
    );

    std::fs::remove_file(&github_env).unwrap();
    let cpu = clean(&script("setup-ort.sh"), tmp.path(), None)
        .env("HUNKGUARD_SETUP_ORT", &installer)
        .env("HUNKGUARD_DEVICE", "cpu")
        .env("HUNKGUARD_ORT_DIR", &ort_dir)
        .env("GITHUB_ENV", &github_env)
        .output()
        .unwrap();
    assert!(cpu.status.success(), "{}", describe(&cpu));
    assert_eq!(
        std::fs::read_to_string(&args_log).unwrap().trim(),
        ort_dir.display().to_string()
    );
    assert!(!std::fs::read_to_string(&github_env)
        .unwrap()
        .contains("LD_LIBRARY_PATH"));
}

/// A fake action checkout: Cargo.toml, Cargo.lock, src/ and a model folder.
fn fake_sources(dir: &Path) {
    for (file, text) in [
        (
            "Cargo.toml",
            "[package]\nname = \"hunkguard\"\nversion = \"0.1.0\"\n",
        ),
        ("Cargo.lock", "# lock\n"),
        ("src/main.rs", "fn main() {}\n"),
        ("models/manifest.json", "{}\n"),
    ] {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const FAKE_BINARY: &str = "#!/bin/sh\necho 'hunkguard 0.1.0'\n";

#[test]
fn install_builds_from_source_once_and_reuses_the_cached_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("action");
    fake_sources(&source);
    let stubs = tmp.path().join("stubs");
    let calls = tmp.path().join("cargo-calls");
    let built = tmp.path().join("built-hunkguard");
    write_exe(&built, FAKE_BINARY);
    write_exe(
        &stubs.join("cargo"),
        &format!(
            "#!/usr/bin/env bash\necho \"$@\" >> '{}'\nmkdir -p \"$CARGO_TARGET_DIR/release\"\n\
             cp '{}' \"$CARGO_TARGET_DIR/release/hunkguard\"\n",
            calls.display(),
            built.display()
        ),
    );
    let install_dir = tmp.path().join("bin");
    let run = || {
        let github_path = tmp.path().join("github_path");
        let github_output = tmp.path().join("github_output");
        let _ = std::fs::remove_file(&github_path);
        let _ = std::fs::remove_file(&github_output);
        let output = clean(&script("install.sh"), tmp.path(), Some(&stubs))
            .env("HUNKGUARD_SOURCE", &source)
            .env("HUNKGUARD_INSTALL_DIR", &install_dir)
            .env("HUNKGUARD_VERSION", "source")
            .env("CARGO_TARGET_DIR", tmp.path().join("target"))
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_OUTPUT", &github_output)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        (
            std::fs::read_to_string(github_path).unwrap(),
            std::fs::read_to_string(github_output).unwrap(),
        )
    };
    let (path, outputs) = run();
    assert_eq!(path.trim(), install_dir.display().to_string());
    assert_eq!(
        outputs,
        format!(
            "bin={}/hunkguard\nbundled-ort=false\n",
            install_dir.display()
        )
    );
    assert!(
        install_dir.join("models/manifest.json").is_file(),
        "model next to the binary"
    );
    let cargo_calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(cargo_calls.lines().count(), 1);
    assert!(
        cargo_calls.contains("build --release --locked --manifest-path"),
        "{cargo_calls}"
    );

    run();
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().count(),
        1,
        "cache reused"
    );

    // Changed sources change the key: the restored binary is stale and is rebuilt.
    std::fs::write(source.join("src/main.rs"), "fn main() { println!(); }\n").unwrap();
    run();
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 2);
}

/// A release folder as GitHub serves it, on disk: `<dir>/v<version>/hunkguard-<version>-x86_64-unknown-linux-gnu.tar.gz`
/// and its `.sha256`, in the layout scripts/package.sh writes (one top folder; binary, ONNX Runtime and
/// models inside). Returns the archive path.
fn release_folder(dir: &Path, version: &str) -> PathBuf {
    let name = format!("hunkguard-{version}-x86_64-unknown-linux-gnu");
    let stage = dir.join("stage");
    write_exe(
        &stage.join(&name).join("hunkguard"),
        &format!("#!/bin/sh\necho 'hunkguard {version}'\n"),
    );
    std::fs::write(stage.join(&name).join("libonnxruntime.so.1.31.1"), "elf").unwrap();
    std::fs::create_dir_all(stage.join(&name).join("models")).unwrap();
    std::fs::write(stage.join(&name).join("models/manifest.json"), "{}").unwrap();
    let assets = dir.join(format!("v{version}"));
    std::fs::create_dir_all(&assets).unwrap();
    let archive = assets.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&stage)
        .arg(&name)
        .status()
        .unwrap();
    assert!(status.success());
    let sum = Command::new("sha256sum")
        .arg(format!("{name}.tar.gz"))
        .current_dir(&assets)
        .output()
        .unwrap();
    assert!(sum.status.success());
    std::fs::write(assets.join(format!("{name}.tar.gz.sha256")), sum.stdout).unwrap();
    archive
}

/// install.sh with only the system's tools on PATH (no cargo, no rustup), real curl reading file:// URLs.
fn install_without_cargo(
    tmp: &Path,
    source: &Path,
    install_dir: &Path,
    extra: &[(&str, &str)],
) -> Output {
    assert!(
        !Path::new("/usr/bin/cargo").exists() && !Path::new("/bin/cargo").exists(),
        "this test needs a PATH without cargo"
    );
    let mut cmd = Command::new("bash");
    cmd.arg(script("install.sh"))
        .env_clear()
        .env("HOME", tmp)
        .env("PATH", "/usr/bin:/bin")
        .env("HUNKGUARD_SOURCE", source)
        .env("HUNKGUARD_INSTALL_DIR", install_dir)
        .env(
            "HUNKGUARD_RELEASES",
            format!("file://{}", tmp.join("release").display()),
        )
        .env("GITHUB_PATH", tmp.join("github_path"))
        .env("GITHUB_OUTPUT", tmp.join("github_output"));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn install_takes_the_release_archive_of_the_actions_own_version_with_no_cargo_on_path() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("action");
    fake_sources(&source);
    release_folder(&tmp.path().join("release"), "0.1.0");
    let install_dir = tmp.path().join("bin");
    // No HUNKGUARD_VERSION: the action's own version, v0.1.0 from its Cargo.toml.
    let output = install_without_cargo(tmp.path(), &source, &install_dir, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("installed release v0.1.0"), "{log}");
    assert!(install_dir.join("hunkguard").is_file());
    assert!(
        install_dir.join("libonnxruntime.so.1.31.1").is_file(),
        "ONNX Runtime next to the binary"
    );
    assert!(
        install_dir.join("models/manifest.json").is_file(),
        "model next to the binary"
    );
    let outputs = std::fs::read_to_string(tmp.path().join("github_output")).unwrap();
    assert_eq!(
        outputs,
        format!(
            "bin={}/hunkguard\nbundled-ort=true\n",
            install_dir.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("github_path"))
            .unwrap()
            .trim(),
        install_dir.display().to_string()
    );

    // A second run (actions/cache restored the folder) downloads nothing.
    std::fs::remove_dir_all(tmp.path().join("release")).unwrap();
    let again = install_without_cargo(tmp.path(), &source, &install_dir, &[]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("installed release"));
}

#[test]
fn install_refuses_an_archive_whose_sha256_does_not_match() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("action");
    fake_sources(&source);
    let archive = release_folder(&tmp.path().join("release"), "0.1.0");
    // Tampered in transit: the checksum file no longer matches.
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&archive, bytes).unwrap();
    let install_dir = tmp.path().join("bin");
    let output = install_without_cargo(
        tmp.path(),
        &source,
        &install_dir,
        &[("HUNKGUARD_VERSION", "v0.1.0")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("::error title=hunkguard::sha256 mismatch"),
        "{stdout}"
    );
    assert!(!install_dir.join("hunkguard").exists(), "nothing installed");

    // A missing checksum file is an error too.
    std::fs::remove_file(archive.with_extension("gz.sha256")).unwrap();
    let output = install_without_cargo(
        tmp.path(),
        &source,
        &install_dir,
        &[("HUNKGUARD_VERSION", "v0.1.0")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no checksum file"));
}

#[test]
fn install_builds_from_source_only_when_the_release_has_no_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("action");
    fake_sources(&source);
    release_folder(&tmp.path().join("release"), "0.1.0");
    let install_dir = tmp.path().join("bin");
    // No archive for v0.2.0 and no cargo: the error says what to do.
    let output = install_without_cargo(
        tmp.path(),
        &source,
        &install_dir,
        &[("HUNKGUARD_VERSION", "v0.2.0")],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("release v0.2.0 has no archive"), "{log}");
    assert!(log.contains("cargo is not installed"), "{log}");

    // With cargo, the same request builds the action's sources.
    let stubs = tmp.path().join("stubs");
    let calls = tmp.path().join("cargo-calls");
    write_exe(
        &stubs.join("cargo"),
        &format!(
            "#!/usr/bin/env bash\necho \"$@\" >> '{}'\nmkdir -p \"$CARGO_TARGET_DIR/release\"\n\
             printf '#!/bin/sh\\necho hunkguard 0.2.0\\n' > \"$CARGO_TARGET_DIR/release/hunkguard\"\n\
             chmod +x \"$CARGO_TARGET_DIR/release/hunkguard\"\n",
            calls.display()
        ),
    );
    let output = clean(&script("install.sh"), tmp.path(), Some(&stubs))
        .env("HUNKGUARD_SOURCE", &source)
        .env("HUNKGUARD_INSTALL_DIR", &install_dir)
        .env("HUNKGUARD_VERSION", "v0.2.0")
        .env("CARGO_TARGET_DIR", tmp.path().join("target"))
        .env(
            "HUNKGUARD_RELEASES",
            format!("file://{}", tmp.path().join("release").display()),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1);

    let bad = clean(&script("install.sh"), tmp.path(), Some(&stubs))
        .env("HUNKGUARD_SOURCE", &source)
        .env("HUNKGUARD_VERSION", "latest; curl evil")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("release tag like v0.1.0"));
}

#[test]
fn the_action_runs_its_scripts_and_passes_inputs_through_env() {
    let action =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("action.yml"))
            .unwrap();
    let parsed: serde_yaml::Value = serde_yaml::from_str(&action).expect("action.yml is YAML");
    assert_eq!(parsed["runs"]["using"].as_str(), Some("composite"));
    for input in [
        "github-token",
        "fail-on",
        "min-confidence",
        "config",
        "device",
        "max-comments",
        "upload-sarif",
        "sarif-file",
        "version",
    ] {
        assert!(!parsed["inputs"][input].is_null(), "input {input}");
    }
    for output in ["findings", "sarif-file"] {
        assert!(!parsed["outputs"][output].is_null(), "output {output}");
    }
    let post: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("post/action.yml"))
            .unwrap(),
    )
    .expect("post/action.yml is YAML");
    assert!(!post["inputs"]["findings"].is_null());
    let install: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("install/action.yml"),
        )
        .unwrap(),
    )
    .expect("install/action.yml is YAML");
    assert!(!install["outputs"]["bin"].is_null());
    // The release archive carries the CPU ONNX Runtime: the runtime is installed only when it is not
    // there (a source build) or for CUDA.
    for step in parsed["runs"]["steps"].as_sequence().unwrap() {
        if step["name"]
            .as_str()
            .is_some_and(|n| n.contains("ONNX Runtime"))
        {
            assert_eq!(
                step["if"].as_str(),
                Some("inputs.device == 'cuda' || steps.install.outputs.bundled-ort != 'true'"),
                "{step:?}"
            );
        }
    }
    let steps = parsed["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(post["runs"]["steps"].as_sequence().unwrap())
        .chain(install["runs"]["steps"].as_sequence().unwrap());
    for step in steps {
        if let Some(run) = step["run"].as_str() {
            assert!(
                !run.contains("${{"),
                "expressions go through env, not into scripts: {run}"
            );
            let path = run.trim_matches('"').split('"').next().unwrap();
            let name = path
                .trim_start_matches("$GITHUB_ACTION_PATH/")
                .trim_start_matches("../");
            assert!(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join(name)
                    .is_file(),
                "{name} exists"
            );
        }
    }
}

#[test]
fn post_maps_its_inputs_and_needs_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (stub, log) = recording_stub(tmp.path());
    let report = tmp.path().join("hunkguard.json");
    std::fs::write(&report, "{}").unwrap();
    let output = clean(&script("post.sh"), tmp.path(), None)
        .env("HUNKGUARD", &stub)
        .env("HUNKGUARD_FINDINGS", &report)
        .env("HUNKGUARD_PR", "42")
        .env("HUNKGUARD_MAX_COMMENTS", "5")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let argv = std::fs::read_to_string(&log).unwrap();
    let report = report.display().to_string();
    assert_eq!(
        argv.lines().take(9).collect::<Vec<_>>(),
        [
            "post",
            "--findings",
            report.as_str(),
            "--pr",
            "42",
            "--max-comments",
            "5",
            "--fail-on",
            "never"
        ]
    );

    let missing = clean(&script("post.sh"), tmp.path(), None)
        .env("HUNKGUARD", &stub)
        .env("HUNKGUARD_FINDINGS", tmp.path().join("nope.json"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stdout).contains("did the artifact download work"));
}

fn workflow(name: &str) -> serde_yaml::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/github")
        .join(name);
    serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).expect("workflow is YAML")
}

fn permissions(workflow: &serde_yaml::Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = workflow["permissions"]
        .as_mapping()
        .expect("explicit permissions")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn uses(workflow: &serde_yaml::Value) -> Vec<String> {
    workflow["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .flat_map(|job| job["steps"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|step| step["uses"].as_str().map(str::to_string))
        .collect()
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn example_workflows_ask_only_for_the_permissions_they_need() {
    let review = workflow("hunkguard-review.yml");
    assert_eq!(
        permissions(&review),
        [pair("contents", "read"), pair("pull-requests", "write")]
    );

    let analyse = workflow("hunkguard-analyse.yml");
    assert_eq!(permissions(&analyse), [pair("contents", "read")]);
    assert!(!analyse["on"]["pull_request"].is_null());

    let post = workflow("hunkguard-post.yml");
    assert_eq!(
        permissions(&post),
        [pair("actions", "read"), pair("pull-requests", "write")]
    );
    assert_eq!(
        post["on"]["workflow_run"]["workflows"][0].as_str(),
        Some("hunkguard analyse")
    );
    assert_eq!(analyse["name"].as_str(), Some("hunkguard analyse"));
    let post_uses = uses(&post);
    assert!(
        post_uses.iter().all(|u| !u.starts_with("actions/checkout")),
        "the posting job checks out nothing"
    );
    assert!(post_uses
        .iter()
        .any(|u| u.starts_with("hunkguard/hunkguard/post@")));

    let scanning = workflow("hunkguard-code-scanning.yml");
    assert!(permissions(&scanning).contains(&pair("security-events", "write")));
    assert!(!permissions(&scanning)
        .iter()
        .any(|(k, v)| k == "pull-requests" && v == "write"));
    assert!(uses(&scanning)
        .iter()
        .any(|u| u.starts_with("github/codeql-action/upload-sarif@")));

    for name in [
        "hunkguard-review.yml",
        "hunkguard-analyse.yml",
        "hunkguard-post.yml",
        "hunkguard-code-scanning.yml",
    ] {
        let text = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/github")
                .join(name),
        )
        .unwrap();
        assert!(
            workflow(name)["on"]["pull_request_target"].is_null(),
            "{name} never uses pull_request_target"
        );
        assert!(
            !text.contains("github.event.pull_request.head.ref"),
            "{name}"
        );
    }
}

#[test]
fn the_readme_quick_start_is_six_lines_that_use_the_released_action() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example =
        std::fs::read_to_string(root.join("examples/github/hunkguard-quickstart.yml")).unwrap();
    assert_eq!(example.lines().count(), 6, "{example}");
    assert!(
        readme.contains(&format!("```yaml\n{example}```")),
        "README's quick start is examples/github/hunkguard-quickstart.yml (which actionlint checks)"
    );
    let quickstart = workflow("hunkguard-quickstart.yml");
    assert_eq!(
        permissions(&quickstart),
        [pair("contents", "read"), pair("pull-requests", "write")]
    );
    let used = uses(&quickstart);
    assert!(
        used.iter().any(|u| u.starts_with("actions/checkout@")),
        "{used:?}"
    );
    assert!(
        used.iter().any(|u| u.starts_with("hunkguard/hunkguard@v")),
        "{used:?}"
    );
}
