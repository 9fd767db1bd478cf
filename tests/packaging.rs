//! The release archive end to end: scripts/package.sh packs it, the action's install script installs it
//! from a `file://` release folder with no cargo on PATH, and the installed binary, run with nothing
//! but `env -i PATH=/usr/bin:/bin`, finds a command injection and exits 1.
//!
//! The archive is packed around the test build of the binary (HUNKGUARD_BINARY): the release workflow
//! packs the release build the same way; what this checks is that the archive needs nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{crate_root, describe};

const VULNERABLE: &str = "import os\nfrom flask import Flask, request\n\napp = Flask(__name__)\n\n\n\
@app.route(\"/ping\")\ndef ping():\n    host = request.args.get(\"host\", \"\")\n    os.system(\"ping -c 1 \" + host)\n    return \"sent\"\n";
const SAFE: &str = "def add(a, b):\n    return a + b\n";

/// The ONNX Runtime folder that scripts/setup-ort.sh filled (scripts/test.sh exports ORT_DYLIB_PATH).
fn ort_dir() -> PathBuf {
    let dir = match std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from) {
        Some(path) if path.is_file() => path.parent().unwrap().to_path_buf(),
        Some(path) if path.is_dir() => path,
        _ => crate_root().join(".ort"),
    };
    assert!(
        dir.join("licenses/LICENSE").is_file(),
        "{} lacks ONNX Runtime's licence files: run `scripts/setup-ort.sh {}` (scripts/test.sh does)",
        dir.display(),
        dir.display()
    );
    dir
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("command runs")
}

/// `env -i PATH=/usr/bin:/bin BINARY ARGS...` in `cwd`.
fn bare(binary: &Path, cwd: &Path, args: &[&str]) -> Output {
    run(Command::new("/usr/bin/env")
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(binary)
        .args(args)
        .current_dir(cwd))
}

#[test]
fn the_release_archive_installs_without_cargo_and_runs_with_nothing_else() {
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("hunkguard-{version}-x86_64-unknown-linux-gnu");
    let tmp = tempfile::tempdir().unwrap();
    let assets = tmp.path().join(format!("release/v{version}"));

    let packed = run(Command::new("bash")
        .arg(crate_root().join("scripts/package.sh"))
        .arg(&assets)
        .env("HUNKGUARD_BINARY", env!("CARGO_BIN_EXE_hunkguard"))
        .env("HUNKGUARD_ORT_DIR", ort_dir()));
    assert!(packed.status.success(), "{}", describe(&packed));
    let archive = assets.join(format!("{name}.tar.gz"));
    assert_eq!(
        String::from_utf8_lossy(&packed.stdout).trim(),
        archive.display().to_string()
    );

    // The checksum file is in sha256sum's format.
    let checked = run(Command::new("sha256sum")
        .args(["--check", "--strict", &format!("{name}.tar.gz.sha256")])
        .current_dir(&assets));
    assert!(checked.status.success(), "{}", describe(&checked));

    let listing = run(Command::new("tar").arg("-tzf").arg(&archive));
    assert!(listing.status.success(), "{}", describe(&listing));
    let listing = String::from_utf8_lossy(&listing.stdout);
    for entry in [
        "hunkguard",
        "libonnxruntime.so.1.31.1",
        "libonnxruntime_providers_shared.so",
        "licenses/onnxruntime/LICENSE",
        "licenses/onnxruntime/ThirdPartyNotices.txt",
        "models/model.onnx",
        "models/tokenizer.json",
        "models/manifest.json",
        "models/gate.onnx",
        "models/cwe_catalogue.yml",
        "scripts/gitlab-ci.sh",
        "scripts/setup-ort.sh",
        "scripts/retry.sh",
        "LICENSE",
        "README",
    ] {
        assert!(
            listing.lines().any(|l| l == format!("{name}/{entry}")),
            "{entry} missing from the archive:\n{listing}"
        );
    }
    assert!(
        listing.lines().all(|l| l.starts_with(&format!("{name}/"))),
        "one top folder:\n{listing}"
    );

    // The action's installer, with only the system's tools on PATH, from a file:// release.
    assert!(!Path::new("/usr/bin/cargo").exists() && !Path::new("/bin/cargo").exists());
    let install_dir = tmp.path().join("installed");
    let installed = run(Command::new("bash")
        .arg(crate_root().join("scripts/action/install.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tmp.path())
        .env("HUNKGUARD_INSTALL_DIR", &install_dir)
        .env(
            "HUNKGUARD_RELEASES",
            format!("file://{}", tmp.path().join("release").display()),
        ));
    assert!(installed.status.success(), "{}", describe(&installed));
    let binary = install_dir.join("hunkguard");
    let built = std::fs::metadata(env!("CARGO_BIN_EXE_hunkguard"))
        .unwrap()
        .len();
    assert!(
        std::fs::metadata(&binary).unwrap().len() < built,
        "the packed binary is stripped"
    );

    // A project folder outside any checkout, and nothing in the environment but PATH.
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("views.py"), VULNERABLE).unwrap();
    std::fs::write(project.join("util.py"), SAFE).unwrap();

    let model = bare(&binary, &project, &["model", "--json", "--device", "cpu"]);
    assert!(model.status.success(), "{}", describe(&model));
    let model: serde_json::Value = serde_json::from_slice(&model.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&model)));
    assert_eq!(
        model["onnxruntime"].as_str(),
        Some(
            install_dir
                .join("libonnxruntime.so.1.31.1")
                .to_str()
                .unwrap()
        ),
        "the bundled ONNX Runtime is used: {model}"
    );
    assert_eq!(
        model["directory"].as_str(),
        Some(install_dir.join("models").to_str().unwrap()),
        "the bundled model is used: {model}"
    );

    let found = bare(
        &binary,
        &project,
        &["check", "views.py", "--format", "json"],
    );
    assert_eq!(found.status.code(), Some(1), "{}", describe(&found));
    let report: serde_json::Value = serde_json::from_slice(&found.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&found)));
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["cwe"] == "CWE-78" && f["path"] == "views.py" && f["start_line"] == 10),
        "the command injection on line 10 is reported:\n{}",
        describe(&found)
    );

    let clean = bare(&binary, &project, &["check", "util.py"]);
    assert_eq!(clean.status.code(), Some(0), "{}", describe(&clean));
}
