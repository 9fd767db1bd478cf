//! The diff stage on real git repositories: which files and lines a change hands to the model.

mod common;

use common::Repo;
use hunkguard::diff::{collect_paths, diff_revisions, DiffError, DiffRequest, DiffResult};

fn diff(repo: &Repo, base: &str) -> Result<DiffResult, DiffError> {
    diff_revisions(&DiffRequest {
        repo: repo.path().to_path_buf(),
        base: Some(base.to_string()),
        head: "HEAD".into(),
        worktree: false,
        context_lines: 3,
    })
}

fn lines(result: &DiffResult, path: &str) -> Vec<u32> {
    result
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "{path} not in {:?}",
                result.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
        .added_lines
        .iter()
        .copied()
        .collect()
}

#[test]
fn added_modified_deleted_and_renamed_files_across_a_branch() {
    let body: String = (1..=20).map(|i| format!("value_{i} = {i}\n")).collect();
    let repo = Repo::with_base(&[
        (
            "app/models.py",
            "import os\n\ndef load(path):\n    return open(path).read()\n",
        ),
        ("app/old_name.py", &body),
        ("app/gone.py", "x = 1\n"),
        ("README.md", "docs\n"),
    ]);
    repo.branch("feature");
    repo.write(
        "app/models.py",
        "import os\n\ndef load(path):\n    data = open(path).read()\n    return data\n",
    );
    repo.write("app/new.py", "def f():\n    return 1\n");
    std::fs::remove_file(repo.path().join("app/gone.py")).unwrap();
    repo.git(&["mv", "app/old_name.py", "app/new_name.py"]);
    let renamed = body.replace("value_10 = 10", "value_10 = 100");
    repo.write("app/new_name.py", &renamed);
    repo.write("README.md", "more docs\n");
    repo.commit_all("feature work");

    let result = diff(&repo, "main").unwrap();
    let paths: Vec<&str> = result.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["app/models.py", "app/new.py", "app/new_name.py"]
    );
    assert_eq!(lines(&result, "app/models.py"), vec![4, 5]);
    assert_eq!(lines(&result, "app/new.py"), vec![1, 2]);
    // A rename counts only its changed line, and remembers where it came from.
    assert_eq!(lines(&result, "app/new_name.py"), vec![10]);
    let renamed_file = result
        .files
        .iter()
        .find(|f| f.path == "app/new_name.py")
        .unwrap();
    assert_eq!(renamed_file.old_path.as_deref(), Some("app/old_name.py"));
    assert_eq!(renamed_file.hunks.len(), 1);
    assert!(renamed_file.hunks[0].contains(7) && renamed_file.hunks[0].contains(13));
    assert_eq!(
        result.head_sha.as_deref(),
        Some(repo.git(&["rev-parse", "HEAD"]).as_str())
    );
}

#[test]
fn the_diff_starts_at_the_merge_base_not_at_the_target_tip() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    repo.branch("feature");
    repo.write("b.py", "b = 2\n");
    repo.commit_all("feature");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.py", "c = 3\n");
    repo.commit_all("main moved on");
    repo.git(&["checkout", "-q", "feature"]);
    let result = diff(&repo, "main").unwrap();
    let paths: Vec<&str> = result.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec!["b.py"],
        "c.py landed on main and is not part of this change"
    );
}

#[test]
fn merge_commits_as_head_review_the_branch_changes() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    repo.branch("feature");
    repo.write("b.py", "b = 2\n");
    repo.commit_all("feature");
    repo.git(&["checkout", "-q", "main"]);
    repo.write("c.py", "c = 3\n");
    repo.commit_all("main moved on");
    repo.git(&["checkout", "-q", "feature"]);
    repo.git(&["merge", "-q", "--no-edit", "main"]);
    let result = diff(&repo, "main").unwrap();
    let paths: Vec<&str> = result.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["b.py"]);
}

#[test]
fn python_files_are_found_by_extension_and_shebang_only() {
    let repo = Repo::with_base(&[("keep.txt", "x\n")]);
    repo.branch("feature");
    repo.write("tool", "#!/usr/bin/env python3\nprint('hi')\n");
    repo.write("run.sh", "#!/bin/sh\necho hi\n");
    repo.write("gui.pyw", "x = 1\n");
    repo.write("notes.txt", "#!/usr/bin/env python3\n");
    repo.commit_all("scripts");
    let result = diff(&repo, "main").unwrap();
    let paths: Vec<&str> = result.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["gui.pyw", "tool"]);
}

#[test]
fn binary_symlink_and_mode_only_changes_yield_nothing_reviewable() {
    let repo = Repo::with_base(&[("mode.py", "x = 1\n")]);
    repo.branch("feature");
    repo.write_bytes("blob.py", b"\x00\x01\x02binary\x00");
    std::os::unix::fs::symlink("mode.py", repo.path().join("link.py")).unwrap();
    repo.git(&["update-index", "--chmod=+x", "mode.py"]);
    repo.commit_all("odd files");
    let result = diff(&repo, "main").unwrap();
    assert!(result.files.is_empty(), "{:?}", result.files);
    let reasons: Vec<(&str, &str)> = result
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(p, r)| *p == "blob.py" && r.contains("binary")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(p, r)| *p == "link.py" && r.contains("symbolic link")),
        "{reasons:?}"
    );
}

#[test]
fn submodules_are_skipped_with_a_reason() {
    let inner = Repo::with_base(&[("lib.py", "x = 1\n")]);
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    repo.branch("feature");
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        inner.path().to_str().unwrap(),
        "vendor/lib",
    ]);
    repo.commit_all("add submodule");
    let result = diff(&repo, "main").unwrap();
    assert!(result.files.is_empty());
    assert!(result
        .skipped
        .iter()
        .any(|s| s.path == "vendor/lib" && s.reason.contains("submodule")));
}

#[test]
fn non_utf8_crlf_tabs_and_huge_lines_are_read_without_panic() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    repo.branch("feature");
    repo.write_bytes("latin1.py", b"name = '\xe9t\xe9'\nx = 1\n");
    repo.write("crlf.py", "def f():\r\n\treturn 1\r\n");
    // one 1 MiB line is still a reviewed file; a file over the size cap is skipped with a reason
    let huge = format!("data = '{}'\n", "A".repeat(1024 * 1024));
    repo.write("huge.py", &huge);
    let oversized = format!("data = '{}'\n", "A".repeat(10 * 1024 * 1024));
    repo.write("oversized.py", &oversized);
    repo.commit_all("odd text");
    let result = diff(&repo, "main").unwrap();
    assert_eq!(lines(&result, "latin1.py"), vec![1, 2]);
    assert_eq!(lines(&result, "crlf.py"), vec![1, 2]);
    assert_eq!(lines(&result, "huge.py"), vec![1]);
    assert!(
        !result.files.iter().any(|f| f.path == "oversized.py"),
        "over the size cap"
    );
    let skipped = result
        .skipped
        .iter()
        .find(|s| s.path == "oversized.py")
        .expect("the oversized file is skipped");
    assert!(
        skipped.reason.contains("larger than 2 MiB"),
        "{}",
        skipped.reason
    );
    let latin = result.files.iter().find(|f| f.path == "latin1.py").unwrap();
    assert!(
        latin.content.contains('\u{fffd}'),
        "invalid bytes are replaced, not fatal"
    );
}

#[test]
fn an_empty_diff_reviews_nothing() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    let result = diff(&repo, "main").unwrap();
    assert!(result.files.is_empty());
    assert!(result.skipped.is_empty());
}

#[test]
fn unknown_revisions_and_non_repositories_are_clear_errors() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    let err = diff(&repo, "no-such-branch").unwrap_err();
    assert!(matches!(err, DiffError::UnknownRevision { .. }), "{err}");
    assert!(err.to_string().contains("no-such-branch"));

    let not_a_repo = tempfile::tempdir().unwrap();
    let err = diff_revisions(&DiffRequest {
        repo: not_a_repo.path().to_path_buf(),
        base: Some("main".into()),
        head: "HEAD".into(),
        worktree: false,
        context_lines: 3,
    })
    .unwrap_err();
    assert!(matches!(err, DiffError::NotARepo { .. }), "{err}");
}

#[test]
fn a_shallow_clone_without_the_base_says_how_to_fetch_it() {
    let origin = Repo::with_base(&[("a.py", "a = 1\n")]);
    let base = origin.git(&["rev-parse", "HEAD"]);
    for i in 0..3 {
        origin.write("a.py", &format!("a = {i}\n"));
        origin.commit_all("more");
    }
    let clone_parent = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth=1", &url, "shallow"])
        .current_dir(clone_parent.path())
        .status()
        .unwrap();
    assert!(status.success());
    let err = diff_revisions(&DiffRequest {
        repo: clone_parent.path().join("shallow"),
        base: Some(base.clone()),
        head: "HEAD".into(),
        worktree: false,
        context_lines: 3,
    })
    .unwrap_err();
    assert!(matches!(err, DiffError::ShallowClone { .. }), "{err}");
    assert!(err.to_string().contains("fetch"), "{err}");
}

#[test]
fn worktree_mode_adds_uncommitted_changes() {
    let repo = Repo::with_base(&[("a.py", "a = 1\n")]);
    repo.write("a.py", "a = 1\nb = 2\n");
    repo.write("new.py", "c = 3\n");
    let result = diff_revisions(&DiffRequest {
        repo: repo.path().to_path_buf(),
        base: Some("main".into()),
        head: "HEAD".into(),
        worktree: true,
        context_lines: 3,
    })
    .unwrap();
    assert_eq!(lines(&result, "a.py"), vec![2]);
    assert_eq!(lines(&result, "new.py"), vec![1]);
}

#[test]
fn check_mode_treats_every_line_as_changed_and_skips_virtualenvs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pkg/.venv/lib")).unwrap();
    std::fs::write(dir.path().join("pkg/app.py"), "a = 1\nb = 2\n").unwrap();
    std::fs::write(dir.path().join("pkg/.venv/lib/x.py"), "c = 3\n").unwrap();
    std::fs::write(dir.path().join("pkg/readme.txt"), "hello\n").unwrap();
    let result = collect_paths(&[dir.path().join("pkg")]).unwrap();
    assert_eq!(result.files.len(), 1);
    assert_eq!(
        result.files[0]
            .added_lines
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn the_shallow_clone_hint_is_a_fetch_that_works_and_deepens_both_sides() {
    // main and a feature branch that forked three commits ago on each side
    let origin = Repo::with_base(&[("a.py", "a = 1\n")]);
    origin.branch("feature");
    for i in 0..3 {
        origin.write("b.py", &format!("b = {i}\n"));
        origin.commit_all("feature work");
    }
    origin.git(&["checkout", "-q", "main"]);
    for i in 0..3 {
        origin.write("a.py", &format!("a = {i}\n"));
        origin.commit_all("main work");
    }
    let clone_parent = tempfile::tempdir().unwrap();
    let clone = clone_parent.path().join("shallow");
    let url = format!("file://{}", origin.path().display());
    let git = |args: &[&str], dir: &std::path::Path| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(
        &[
            "clone",
            "-q",
            "--depth=1",
            "--branch",
            "feature",
            &url,
            "shallow",
        ],
        clone_parent.path(),
    );
    git(
        &[
            "fetch",
            "-q",
            "--depth=1",
            "origin",
            "main:refs/remotes/origin/main",
        ],
        &clone,
    );
    let request = DiffRequest {
        repo: clone.clone(),
        base: Some("origin/main".into()),
        head: "HEAD".into(),
        worktree: false,
        context_lines: 3,
    };
    let err = diff_revisions(&request).unwrap_err();
    let DiffError::ShallowClone { fetch, .. } = &err else {
        panic!("{err}");
    };
    assert!(err.to_string().contains(fetch.as_str()), "{err}");
    assert!(
        !fetch.contains("origin origin/"),
        "the remote has no branch called origin/main: {fetch}"
    );
    // the hint, run as printed, makes the review possible
    let words: Vec<&str> = fetch.split_whitespace().collect();
    assert_eq!(words[0], "git");
    git(&words[1..], &clone);
    let result = diff_revisions(&request).unwrap();
    assert_eq!(lines(&result, "b.py"), vec![1]);
}
