//! Stage 1: turn a git range (or a set of paths) into the changed Python files and their new-side lines.
//!
//! The output is plain data ([`ChangedFile`]): no git handle leaves this module. Base and head follow
//! the pull-request convention: the diff runs from the merge-base of base and head to head, so commits
//! that landed on the target branch meanwhile are not reviewed as if the PR had written them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Oid, Repository};

/// Errors of the diff stage; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{path} is not inside a git repository: {source}")]
    NotARepo { path: PathBuf, source: git2::Error },
    #[error("unknown revision `{rev}`: {source}")]
    UnknownRevision { rev: String, source: git2::Error },
    #[error(
        "revision `{rev}` is not in this clone, which is shallow. Fetch the history both sides \
         need, e.g. `{fetch}` (or `git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
    )]
    ShallowClone {
        rev: String,
        /// A `git fetch` command that deepens the base and the head (see [`shallow_fetch_command`]).
        fetch: String,
    },
    #[error("`{base}` and `{head}` share no history (no merge-base): {source}")]
    NoMergeBase {
        base: String,
        head: String,
        source: git2::Error,
    },
    #[error("no base revision given and none found: pass --base REV (tried {tried})")]
    NoDefaultBase { tried: String },
    #[error("git error while {action}: {source}")]
    Git {
        action: &'static str,
        source: git2::Error,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A new-side span of one diff hunk, context lines included (both ends inclusive, 1-based).
///
/// Forges accept review comments only on lines inside such spans, so the reporters check against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HunkSpan {
    pub start: u32,
    pub end: u32,
}

impl HunkSpan {
    /// Whether `line` lies inside this span.
    pub fn contains(&self, line: u32) -> bool {
        self.start <= line && line <= self.end
    }
}

/// One changed Python file on the new side of the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// Repository-relative path with forward slashes.
    pub path: String,
    /// The old path when git detected a rename.
    pub old_path: Option<String>,
    /// The whole new-side text (lossy UTF-8, line ends kept as in the file).
    pub content: String,
    /// Sorted new-side line numbers that the change added or modified: the only lines findings may land on.
    pub added_lines: BTreeSet<u32>,
    /// New-side spans of the diff hunks, for anchoring review comments.
    pub hunks: Vec<HunkSpan>,
    /// The file as it was at the merge-base, when it existed there (None for new files and `check`).
    pub base: Option<BaseFile>,
}

impl ChangedFile {
    /// The base-side line number of an unchanged new-side line (None for added or modified lines,
    /// and when the file has no base side).
    ///
    /// The k-th unchanged line of the new side is the k-th line of the base that the change did not
    /// delete: git's alignment, recovered from the two sets of changed lines alone.
    pub fn base_line(&self, line: u32) -> Option<u32> {
        let base = self.base.as_ref()?;
        if line == 0 || self.added_lines.contains(&line) {
            return None;
        }
        let added_before = self.added_lines.range(..line).count() as u32;
        let mut base_line = line - added_before;
        for deleted in &base.deleted_lines {
            if *deleted <= base_line {
                base_line += 1;
            } else {
                break;
            }
        }
        Some(base_line)
    }

    /// The base-side lines that the new-side lines `first..=last` came from: from the base line of
    /// the first unchanged line to that of the last, widened by the lines the change deleted or
    /// replaced at either end when changed lines open or close the range. None when every line of the
    /// range is new (or the file has no base side): there is nothing to compare with.
    pub fn base_range(&self, first: u32, last: u32) -> Option<(u32, u32)> {
        let base = self.base.as_ref()?;
        let unchanged: Vec<(u32, u32)> = (first..=last)
            .filter_map(|line| Some((line, self.base_line(line)?)))
            .collect();
        let (&(head_first, mut base_first), &(head_last, mut base_last)) =
            (unchanged.first()?, unchanged.last()?);
        if head_first > first {
            while base_first > 1 && base.deleted_lines.contains(&(base_first - 1)) {
                base_first -= 1;
            }
        }
        if head_last < last {
            while base.deleted_lines.contains(&(base_last + 1)) {
                base_last += 1;
            }
        }
        Some((base_first, base_last))
    }
}

/// The base side of a modified file: what the change started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseFile {
    /// Git blob id of the base content: the key under which its scores are cached.
    pub blob: String,
    /// The whole base-side text (lossy UTF-8).
    pub content: String,
    /// Sorted base-side line numbers that the change deleted or replaced.
    pub deleted_lines: BTreeSet<u32>,
}

/// A file the diff stage looked at and left out, with the reason, so the report can say why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// What the diff stage hands on.
#[derive(Debug, Clone, Default)]
pub struct DiffResult {
    pub files: Vec<ChangedFile>,
    pub skipped: Vec<SkippedFile>,
    /// Full sha of the head commit (None for `check`, which has no commit).
    pub head_sha: Option<String>,
    /// Full sha of the merge-base.
    pub base_sha: Option<String>,
}

/// Which revisions to compare.
#[derive(Debug, Clone, Default)]
pub struct DiffRequest {
    pub repo: PathBuf,
    /// Base revision; None picks the CI target or the default branch (see [`default_base_candidates`]).
    pub base: Option<String>,
    pub head: String,
    /// Include uncommitted changes of the work tree (only meaningful when head is HEAD).
    pub worktree: bool,
    /// Lines of context git puts around each hunk (3 is what GitHub and GitLab show).
    pub context_lines: u32,
}

/// Base revisions tried, in order, when none is given: the CI's target first, then common defaults.
pub fn default_base_candidates() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(sha) = std::env::var("CI_MERGE_REQUEST_DIFF_BASE_SHA") {
        if !sha.is_empty() {
            out.push(sha);
        }
    }
    if let Ok(branch) = std::env::var("GITHUB_BASE_REF") {
        if !branch.is_empty() {
            out.push(format!("origin/{branch}"));
            out.push(branch);
        }
    }
    for fallback in [
        "origin/HEAD",
        "origin/main",
        "origin/master",
        "main",
        "master",
    ] {
        out.push(fallback.to_string());
    }
    out
}

/// Whether a path names a Python source by its extension.
pub fn has_python_extension(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".py") || lower.ends_with(".pyw")
}

/// Whether an extensionless file is a Python script by its shebang line.
pub fn has_python_shebang(content: &[u8]) -> bool {
    let first = content.split(|b| *b == b'\n').next().unwrap_or_default();
    first.starts_with(b"#!") && String::from_utf8_lossy(first).contains("python")
}

fn is_python(path: &str, content: &[u8]) -> bool {
    if has_python_extension(path) {
        return true;
    }
    let file_name = path.rsplit('/').next().unwrap_or(path);
    !file_name.contains('.') && has_python_shebang(content)
}

/// Largest file reviewed, in bytes: Python sources this big are generated or data, and one file
/// must not hold the whole run (or its memory).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// The skip reason of a file over [`MAX_FILE_BYTES`].
fn too_large(bytes: u64) -> String {
    format!(
        "larger than {} MiB ({bytes} bytes): generated code or data, not reviewed",
        MAX_FILE_BYTES / (1024 * 1024)
    )
}

/// Whether bytes look binary (git's rule: a NUL byte in the first 8000 bytes).
pub fn looks_binary(content: &[u8]) -> bool {
    content.iter().take(8000).any(|b| *b == 0)
}

fn git_err(action: &'static str) -> impl FnOnce(git2::Error) -> DiffError {
    move |source| DiffError::Git { action, source }
}

/// Open the repository that contains `path`.
pub fn open_repo(path: &Path) -> Result<Repository, DiffError> {
    Repository::discover(path).map_err(|source| DiffError::NotARepo {
        path: path.to_path_buf(),
        source,
    })
}

fn resolve_commit(repo: &Repository, rev: &str) -> Result<Oid, DiffError> {
    match repo.revparse_single(rev).and_then(|o| o.peel_to_commit()) {
        Ok(commit) => Ok(commit.id()),
        Err(source) => {
            if repo.is_shallow() && looks_like_sha(rev) {
                Err(DiffError::ShallowClone {
                    rev: rev.to_string(),
                    fetch: shallow_fetch_command(rev, None),
                })
            } else {
                Err(DiffError::UnknownRevision {
                    rev: rev.to_string(),
                    source,
                })
            }
        }
    }
}

/// The `git fetch` that brings a shallow clone the history a review needs: the base as the remote
/// names it (`origin/main` is the remote's `main`; fetching `origin/main` from origin fails), and the
/// head commit too when the two sides share no history yet, since the head's side may be cut short.
pub fn shallow_fetch_command(base: &str, head_sha: Option<&str>) -> String {
    let base = base
        .strip_prefix("refs/remotes/")
        .unwrap_or(base)
        .strip_prefix("origin/")
        .unwrap_or(base.strip_prefix("refs/remotes/").unwrap_or(base));
    let mut command = format!("git fetch --no-tags --depth=1000 origin {base}");
    if let Some(head) = head_sha {
        command.push(' ');
        command.push_str(head);
    }
    command
}

fn looks_like_sha(rev: &str) -> bool {
    rev.len() >= 7 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

/// Compute the changed Python files between the merge-base of base and head, and head.
pub fn diff_revisions(request: &DiffRequest) -> Result<DiffResult, DiffError> {
    let repo = open_repo(&request.repo)?;
    let head = resolve_commit(&repo, &request.head)?;
    let (base_rev, base) = match &request.base {
        Some(rev) => (rev.clone(), resolve_commit(&repo, rev)?),
        None => pick_default_base(&repo)?,
    };
    let merge_base = repo.merge_base(base, head).map_err(|source| {
        if repo.is_shallow() {
            DiffError::ShallowClone {
                rev: base_rev.clone(),
                fetch: shallow_fetch_command(&base_rev, Some(&head.to_string())),
            }
        } else {
            DiffError::NoMergeBase {
                base: base_rev.clone(),
                head: request.head.clone(),
                source,
            }
        }
    })?;
    let base_tree = repo
        .find_commit(merge_base)
        .and_then(|c| c.tree())
        .map_err(git_err("reading the base tree"))?;
    let head_tree = repo
        .find_commit(head)
        .and_then(|c| c.tree())
        .map_err(git_err("reading the head tree"))?;

    let mut options = DiffOptions::new();
    options
        .context_lines(request.context_lines)
        .ignore_submodules(false)
        .include_typechange(true);
    let mut diff = if request.worktree {
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .show_untracked_content(true);
        repo.diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options))
            .map_err(git_err("diffing against the work tree"))?
    } else {
        repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options))
            .map_err(git_err("diffing the two trees"))?
    };
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))
        .map_err(git_err("detecting renames"))?;

    let workdir = repo.workdir().map(Path::to_path_buf);
    let mut result = DiffResult {
        head_sha: Some(head.to_string()),
        base_sha: Some(merge_base.to_string()),
        ..DiffResult::default()
    };
    for index in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(index) else {
            continue;
        };
        let Some(path) = delta
            .new_file()
            .path()
            .map(|p| p.to_string_lossy().replace('\\', "/"))
        else {
            continue;
        };
        let skip = |reason: &str| SkippedFile {
            path: path.clone(),
            reason: reason.to_string(),
        };
        match delta.status() {
            Delta::Deleted | Delta::Unmodified | Delta::Ignored => continue,
            _ => {}
        }
        match delta.new_file().mode() {
            FileMode::Link => {
                if has_python_extension(&path) {
                    result
                        .skipped
                        .push(skip("symbolic link: its target is reviewed where it lives"));
                }
                continue;
            }
            FileMode::Commit => {
                result
                    .skipped
                    .push(skip("submodule: review it in its own repository"));
                continue;
            }
            _ => {}
        }
        let content = if request.worktree {
            match &workdir {
                Some(dir) => match read_regular_file(&dir.join(&path))? {
                    Ok(bytes) => bytes,
                    Err(reason) => {
                        if has_python_extension(&path) {
                            result.skipped.push(skip(&reason));
                        }
                        continue;
                    }
                },
                None => Vec::new(),
            }
        } else {
            let blob = repo
                .find_blob(delta.new_file().id())
                .map_err(git_err("reading a changed file"))?;
            if blob.size() as u64 > MAX_FILE_BYTES {
                if has_python_extension(&path) {
                    result.skipped.push(skip(&too_large(blob.size() as u64)));
                }
                continue;
            }
            blob.content().to_vec()
        };
        if !is_python(&path, &content) {
            continue;
        }
        if delta.flags().is_binary() || looks_binary(&content) {
            result.skipped.push(skip("binary content"));
            continue;
        }
        let patch = git2::Patch::from_diff(&diff, index).map_err(git_err("building a patch"))?;
        let Some(patch) = patch else {
            continue;
        };
        let mut added_lines = BTreeSet::new();
        let mut deleted_lines = BTreeSet::new();
        let mut hunks = Vec::new();
        for hunk_index in 0..patch.num_hunks() {
            let (hunk, line_count) = patch.hunk(hunk_index).map_err(git_err("reading a hunk"))?;
            if hunk.new_lines() > 0 {
                hunks.push(HunkSpan {
                    start: hunk.new_start(),
                    end: hunk.new_start() + hunk.new_lines() - 1,
                });
            }
            for line_index in 0..line_count {
                let line = patch
                    .line_in_hunk(hunk_index, line_index)
                    .map_err(git_err("reading a diff line"))?;
                match (line.origin(), line.new_lineno(), line.old_lineno()) {
                    ('+', Some(lineno), _) => {
                        added_lines.insert(lineno);
                    }
                    ('-', _, Some(lineno)) => {
                        deleted_lines.insert(lineno);
                    }
                    _ => {}
                }
            }
        }
        if added_lines.is_empty() {
            // Mode-only changes and pure deletions inside a file leave nothing to review.
            continue;
        }
        let old_path = match delta.status() {
            Delta::Renamed => delta
                .old_file()
                .path()
                .map(|p| p.to_string_lossy().replace('\\', "/")),
            _ => None,
        };
        let base = base_file(&repo, &delta, deleted_lines)?;
        result.files.push(ChangedFile {
            path,
            old_path,
            content: String::from_utf8_lossy(&content).into_owned(),
            added_lines,
            hunks,
            base,
        });
    }
    Ok(result)
}

/// The base side of a delta, when the file existed at the merge-base as a readable text file.
fn base_file(
    repo: &Repository,
    delta: &git2::DiffDelta<'_>,
    deleted_lines: BTreeSet<u32>,
) -> Result<Option<BaseFile>, DiffError> {
    let old = delta.old_file();
    if old.id().is_zero() || !matches!(old.mode(), FileMode::Blob | FileMode::BlobExecutable) {
        return Ok(None);
    }
    let blob = repo
        .find_blob(old.id())
        .map_err(git_err("reading a base-side file"))?;
    if looks_binary(blob.content()) {
        return Ok(None);
    }
    Ok(Some(BaseFile {
        blob: old.id().to_string(),
        content: String::from_utf8_lossy(blob.content()).into_owned(),
        deleted_lines,
    }))
}

fn pick_default_base(repo: &Repository) -> Result<(String, Oid), DiffError> {
    let candidates = default_base_candidates();
    for rev in &candidates {
        if let Ok(oid) = resolve_commit(repo, rev) {
            return Ok((rev.clone(), oid));
        }
    }
    Err(DiffError::NoDefaultBase {
        tried: candidates.join(", "),
    })
}

/// Collect the Python files under `paths` for `check`: every line counts as changed.
///
/// Directories are walked recursively; hidden directories, virtual environments and `__pycache__`
/// are left out because they are never the user's own reviewed code.
pub fn collect_paths(paths: &[PathBuf]) -> Result<DiffResult, DiffError> {
    let mut result = DiffResult::default();
    for root in paths {
        let meta = std::fs::metadata(root).map_err(|source| DiffError::Io {
            path: root.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk_dir(root, &mut result)?;
        } else {
            add_file(root, true, &mut result)?;
        }
    }
    result.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(result)
}

const SKIPPED_DIRS: &[&str] = &[
    "__pycache__",
    "node_modules",
    "venv",
    "site-packages",
    "target",
];

fn walk_dir(dir: &Path, result: &mut DiffResult) -> Result<(), DiffError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DiffError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_symlink() {
            continue;
        }
        if !file_type.is_dir() && !file_type.is_file() {
            if has_python_extension(&name) {
                result.skipped.push(SkippedFile {
                    path: display_path(&path),
                    reason: NOT_REGULAR.into(),
                });
            }
            continue;
        }
        if file_type.is_dir() {
            if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_str()) {
                continue;
            }
            walk_dir(&path, result)?;
        } else if file_type.is_file() {
            add_file(&path, false, result)?;
        }
    }
    Ok(())
}

/// The skip reason of a FIFO, socket or device: reading one may never end.
const NOT_REGULAR: &str = "not a regular file (FIFO, socket or device): not read";

fn display_path(path: &Path) -> String {
    let display = path.to_string_lossy().replace('\\', "/");
    display.strip_prefix("./").unwrap_or(&display).to_string()
}

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`], or the reason it is skipped.
///
/// The type is checked before opening (opening a FIFO blocks until a writer comes) and the read is
/// bounded, so neither a FIFO nor `/dev/zero` given as a path can hang the run or fill its memory.
fn read_regular_file(path: &Path) -> Result<Result<Vec<u8>, String>, DiffError> {
    use std::io::Read;
    let io = |source| DiffError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Ok(Err(NOT_REGULAR.into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Ok(Err(too_large(meta.len())));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(too_large(bytes.len() as u64)));
    }
    Ok(Ok(bytes))
}

fn add_file(path: &Path, explicit: bool, result: &mut DiffResult) -> Result<(), DiffError> {
    let display = display_path(path);
    let bytes = match read_regular_file(path)? {
        Ok(bytes) => bytes,
        Err(reason) => {
            result.skipped.push(SkippedFile {
                path: display,
                reason,
            });
            return Ok(());
        }
    };
    if !is_python(&display, &bytes) {
        if explicit {
            result.skipped.push(SkippedFile {
                path: display,
                reason: "not a Python file (no .py/.pyw extension or python shebang)".into(),
            });
        }
        return Ok(());
    }
    if looks_binary(&bytes) {
        result.skipped.push(SkippedFile {
            path: display,
            reason: "binary content".into(),
        });
        return Ok(());
    }
    let content = String::from_utf8_lossy(&bytes).into_owned();
    let line_count = content.lines().count() as u32;
    if line_count == 0 {
        return Ok(());
    }
    result.files.push(ChangedFile {
        path: display,
        old_path: None,
        content,
        added_lines: (1..=line_count).collect(),
        hunks: vec![HunkSpan {
            start: 1,
            end: line_count,
        }],
        base: None,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_detection_uses_extension_then_shebang() {
        assert!(is_python("a/b.py", b""));
        assert!(is_python("tool.PYW", b""));
        assert!(is_python("bin/tool", b"#!/usr/bin/env python3\nprint(1)\n"));
        assert!(!is_python("bin/tool", b"#!/bin/sh\necho\n"));
        assert!(!is_python("notes.txt", b"#!/usr/bin/env python3\n"));
    }

    #[test]
    fn the_shallow_fetch_names_the_remotes_branch_and_the_head() {
        assert_eq!(
            shallow_fetch_command("origin/main", Some("abc123")),
            "git fetch --no-tags --depth=1000 origin main abc123"
        );
        assert_eq!(
            shallow_fetch_command("refs/remotes/origin/release/2", None),
            "git fetch --no-tags --depth=1000 origin release/2"
        );
        assert_eq!(
            shallow_fetch_command("0123abcd", None),
            "git fetch --no-tags --depth=1000 origin 0123abcd"
        );
    }

    #[test]
    fn binary_is_a_nul_byte_near_the_start() {
        assert!(looks_binary(b"abc\0def"));
        assert!(!looks_binary("caf\u{e9}".as_bytes()));
    }
}
