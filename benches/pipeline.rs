//! End-to-end speed and memory of the real binary, as a user's CI sees them.
//!
//! `cargo bench --bench pipeline` builds (1) a synthetic pull request of 1,000 changed Python lines over
//! 20 files in a real git repository and (2) a 20,000-line directory for `check`, runs the release
//! binary on each a few times, and prints wall time, changed lines per second, cold start (ONNX Runtime
//! plus model and tokenizer load, as reported by `hunkguard model`) and peak RSS of the child process.
//!
//! Targets on 2 cores: PR <= 1.5 s end to end, cold start <= 150 ms, RSS <= 300 MB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 3;

/// Realistic application code: handlers, queries, helpers; a few risky calls among many ordinary ones.
fn python_block(file: usize, block: usize) -> String {
    format!(
        r#"

def handler_{file}_{block}(request, db, logger):
    user_id = request.args.get("user_{block}", "")
    items = db.execute("SELECT id, name FROM items WHERE owner = ?", (user_id,)).fetchall()
    logger.info("loaded %d items for %s", len(items), user_id)
    result = []
    for item_id, name in items:
        if name.startswith("tmp_"):
            continue
        result.append({{"id": item_id, "name": name.title()}})
    total = sum(1 for _ in result)
    return {{"items": result, "total": total, "page": {block}}}
"#
    )
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// 20 files x 50 added lines on a feature branch.
fn synthetic_pr(root: &Path) -> usize {
    git(root, &["init", "-q", "-b", "main"]);
    for file in 0..20 {
        std::fs::write(root.join(format!("mod_{file}.py")), "import os\n").unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    let mut changed = 0;
    for file in 0..20 {
        let mut text = String::from("import os\n");
        for block in 0..4 {
            text.push_str(&python_block(file, block));
        }
        let lines: Vec<&str> = text.lines().collect();
        let kept = lines[..51.min(lines.len())].join("\n") + "\n";
        changed += kept.lines().count() - 1;
        std::fs::write(root.join(format!("mod_{file}.py")), kept).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "feature"]);
    changed
}

/// A directory of 20,000 lines.
fn synthetic_dir(root: &Path) -> usize {
    let mut total = 0;
    let mut file = 0;
    while total < 20_000 {
        let mut text = String::from("import os\n");
        for block in 0..40 {
            text.push_str(&python_block(file, block));
        }
        total += text.lines().count();
        std::fs::write(root.join(format!("big_{file}.py")), text).unwrap();
        file += 1;
    }
    total
}

struct Run {
    wall_ms: f64,
    max_rss_mb: f64,
}

/// Run the binary, returning wall time and the child's peak RSS.
fn timed(mut cmd: Command) -> Run {
    let started = Instant::now();
    let status = cmd.status().expect("hunkguard runs");
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "hunkguard failed: {status:?}"
    );
    Run {
        wall_ms,
        max_rss_mb: peak_child_rss_mb(),
    }
}

/// Peak RSS of the largest child so far (getrusage reports the maximum over waited-for children).
fn peak_child_rss_mb() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a plain struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    if rc != 0 {
        return f64::NAN;
    }
    // SAFETY: initialised by the successful call above.
    let usage = unsafe { usage.assume_init() };
    usage.ru_maxrss as f64 / 1024.0
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hunkguard"))
}

fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .current_dir(cwd)
        .env("CI", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: then measure once.
    let runs = if std::env::args().any(|a| a == "--bench") {
        RUNS
    } else {
        1
    };
    let pr = tempfile::tempdir().unwrap();
    let changed = synthetic_pr(pr.path());
    let dir = tempfile::tempdir().unwrap();
    let dir_lines = synthetic_dir(dir.path());

    let cold: Vec<f64> = (0..runs)
        .map(|_| {
            let output = Command::new(binary())
                .args(["model", "--json", "--device", "cpu"])
                .output()
                .expect("model runs");
            let json: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("model --json");
            json["load_ms"].as_f64().unwrap_or(f64::NAN)
        })
        .collect();

    let pr_runs: Vec<Run> = (0..runs)
        .map(|_| {
            timed(command(
                pr.path(),
                &[
                    "scan", "--base", "main", "--format", "json", "--device", "cpu",
                ],
            ))
        })
        .collect();
    let dir_runs: Vec<Run> = (0..runs)
        .map(|_| {
            timed(command(
                dir.path(),
                &["check", ".", "--format", "json", "--device", "cpu"],
            ))
        })
        .collect();

    let pr_ms = median(pr_runs.iter().map(|r| r.wall_ms).collect());
    let dir_ms = median(dir_runs.iter().map(|r| r.wall_ms).collect());
    let rss = pr_runs
        .iter()
        .chain(&dir_runs)
        .map(|r| r.max_rss_mb)
        .fold(0.0, f64::max);
    println!(
        "hunkguard pipeline bench ({} cores, median of {runs})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  cold start (ORT + model + tokenizer load): {:>8.1} ms   target <= 150 ms",
        median(cold)
    );
    println!(
        "  PR scan, {changed} changed lines / 20 files: {:>8.1} ms   target <= 1500 ms",
        pr_ms
    );
    println!(
        "    changed lines per second:               {:>8.0}",
        changed as f64 / (pr_ms / 1000.0)
    );
    println!(
        "  check, {dir_lines}-line directory:        {:>8.1} ms",
        dir_ms
    );
    println!(
        "    lines per second:                       {:>8.0}",
        dir_lines as f64 / (dir_ms / 1000.0)
    );
    println!(
        "  peak RSS (largest run):                   {:>8.1} MB   target <= 300 MB",
        rss
    );
}
