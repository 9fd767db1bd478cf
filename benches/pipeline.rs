//! End-to-end speed and memory of the real binary next to Bandit, on real Python, in one run.
//!
//! `cargo bench --bench pipeline` copies about 20,000 lines of this machine's Python standard library
//! (found through `python3`, read at run time, never stored) into a temp dir for `check`, and builds a
//! real git repository whose feature branch adds 50 real lines to each of 20 other standard-library
//! files (1,000 changed lines) for `scan`. It runs the release binary and, when it is installed,
//! Bandit on the same inputs (the whole tree; the 20 changed files), alternating, and prints medians
//! of wall and CPU time with the ratios, cold start, peak RSS of each process, and the model's
//! steady-state tokens/s next to the machine's int8 GEMM rate.
//!
//! The int8 GEMM rate is measured with ONNX Runtime itself: a one-node `MatMulInteger` graph built
//! with ort's model editor at run time, at the shapes of the model's own projections, under the
//! session settings the model gets (`model::runtime::cpu_session_builder`). That is the rate the model's
//! kernels can reach on this machine, so `model tokens/s / ceiling` says how much is left to win.
//!
//! Bandit is looked up as `$HUNKGUARD_BANDIT`, then `bandit` on PATH, then `.venv/bin/bandit` in the
//! checkout. Targets on 2 cores (issue 12): `check` <= 3x Bandit's wall time, the PR <= 0.8x Bandit on
//! the changed files, cold start <= 150 ms, peak RSS <= 300 MB.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hunkguard::catalogue::Catalogue;
use hunkguard::hunks::Snippet;
use hunkguard::model::{runtime, Device, Model, RuntimeOptions};

const RUNS: usize = 3;
const CHECK_LINES: usize = 20_000;
const PR_FILES: usize = 20;
const PR_LINES_PER_FILE: usize = 50;

/// Wall time, CPU time and peak RSS of one child process.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
}

/// Run `cmd` to completion and measure it alone (wait4 gives this child's own rusage).
fn measure(mut cmd: Command, what: &str) -> Run {
    let started = Instant::now();
    // reaped by the wait4 below, not by std's wait(): wait4 also gives this child's own rusage
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: waits for our own child and writes plain structs we own.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, usage.as_mut_ptr()) };
    let wall = started.elapsed().as_secs_f64();
    assert!(pid > 0, "{what}: wait4 failed");
    // SAFETY: initialised by the successful wait4 above.
    let usage = unsafe { usage.assume_init() };
    let code = libc::WEXITSTATUS(status);
    assert!(
        libc::WIFEXITED(status) && code <= 1,
        "{what} failed with status {status:#x}"
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Run {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        rss_mb: usage.ru_maxrss as f64 / 1024.0,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median wall, median CPU, largest RSS of `runs`.
fn summary(runs: &[Run]) -> Run {
    Run {
        wall: median(runs.iter().map(|r| r.wall).collect()),
        cpu: median(runs.iter().map(|r| r.cpu).collect()),
        rss_mb: runs.iter().map(|r| r.rss_mb).fold(0.0, f64::max),
    }
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stdlib_dir() -> PathBuf {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .expect("python3 runs (the bench reads its standard library)");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Standard-library modules of 80-1,500 lines, sorted by path (tests and vendored trees left out).
fn stdlib_files(root: &Path) -> Vec<(PathBuf, String)> {
    let mut stack = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["test", "tests", "site-packages", "idlelib", "__pycache__"]
                    .contains(&name.as_str())
                {
                    stack.push(path);
                }
            } else if name.ends_with(".py") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    if (80..=1500).contains(&text.lines().count()) {
                        files.push((path, text));
                    }
                }
            }
        }
    }
    files.sort();
    files
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

/// Copy files into `root` until it holds `CHECK_LINES` lines; returns (lines, files used).
fn check_tree(root: &Path, files: &[(PathBuf, String)]) -> (usize, usize) {
    let mut lines = 0;
    let mut used = 0;
    for (index, (path, text)) in files.iter().enumerate() {
        if lines >= CHECK_LINES {
            break;
        }
        let name = path.file_name().map_or_else(
            || format!("m{index}.py"),
            |n| format!("{index:03}_{}", n.to_string_lossy()),
        );
        std::fs::write(root.join(name), text).expect("write");
        lines += text.lines().count();
        used += 1;
    }
    (lines, used)
}

/// A repository whose feature branch adds `PR_LINES_PER_FILE` real lines to each of `PR_FILES`
/// files (the middle block of each, removed on `main`); returns (changed lines, changed paths).
fn pr_repo(root: &Path, files: &[(PathBuf, String)]) -> (usize, Vec<String>) {
    git(root, &["init", "-q", "-b", "main"]);
    let chosen: Vec<&(PathBuf, String)> = files
        .iter()
        .filter(|(_, t)| t.lines().count() >= 3 * PR_LINES_PER_FILE)
        .take(PR_FILES)
        .collect();
    let mut paths = Vec::new();
    for (index, (_, text)) in chosen.iter().enumerate() {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len() / 3;
        let mut base: Vec<&str> = lines[..start].to_vec();
        base.extend_from_slice(&lines[start + PR_LINES_PER_FILE..]);
        let path = format!("pkg_{index:02}.py");
        std::fs::write(root.join(&path), base.join("\n") + "\n").expect("write");
        paths.push(path);
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
    git(root, &["checkout", "-q", "-b", "feature"]);
    for ((_, text), path) in chosen.iter().zip(&paths) {
        std::fs::write(
            root.join(path),
            text.lines().collect::<Vec<_>>().join("\n") + "\n",
        )
        .expect("write");
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "feature"]);
    (chosen.len() * PR_LINES_PER_FILE, paths)
}

fn hunkguard(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hunkguard"));
    cmd.args(args)
        .args(["--format", "json", "--device", "cpu", "--fail-on", "never"])
        .current_dir(cwd)
        .env("CI", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn bandit_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HUNKGUARD_BANDIT") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("bandit"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| Some(crate_root().join(".venv/bin/bandit")).filter(|p| p.is_file()))
}

fn bandit(bin: &Path, cwd: &Path, targets: &[String]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["-q", "-f", "json", "-o", "/dev/null"])
        .args(targets)
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Int8 GEMM rate of ONNX Runtime on this machine in GOP/s (1 multiply-add = 2 ops), at the model's
/// projection shapes with 16 windows of 256 tokens as the rows.
fn int8_gemm_gops(options: &RuntimeOptions) -> Result<f64, String> {
    use ort::editor::{Graph, Model as OnnxModel, Node, Opset, ONNX_DOMAIN};
    use ort::memory::Allocator;
    use ort::value::{Outlet, Shape, SymbolicDimensions, Tensor, TensorElementType, ValueType};
    let rows = 16 * 256;
    let mut ops = 0.0;
    let mut time = Duration::ZERO;
    for (k, n) in [(160usize, 480usize), (160, 160), (160, 384), (384, 160)] {
        let e = |e: ort::Error| e.to_string();
        let outlet = |name: &str, ty, dims: [i64; 2]| {
            Outlet::new(
                name,
                ValueType::Tensor {
                    ty,
                    shape: Shape::new(dims),
                    dimension_symbols: SymbolicDimensions::empty(2),
                },
            )
        };
        let mut graph = Graph::new().map_err(e)?;
        graph
            .set_inputs([outlet(
                "a",
                TensorElementType::Uint8,
                [rows as i64, k as i64],
            )])
            .map_err(e)?;
        graph
            .set_outputs([outlet(
                "y",
                TensorElementType::Int32,
                [rows as i64, n as i64],
            )])
            .map_err(e)?;
        let mut weight =
            Tensor::<i8>::new(&Allocator::default(), [k as i64, n as i64]).map_err(e)?;
        for (i, w) in weight.extract_tensor_mut().1.iter_mut().enumerate() {
            *w = (i % 251) as i8;
        }
        graph.add_initializer("b", weight, false).map_err(e)?;
        graph
            .add_node(
                Node::new("MatMulInteger", ONNX_DOMAIN, "mm", ["a", "b"], ["y"], []).map_err(e)?,
            )
            .map_err(e)?;
        let mut model = OnnxModel::new([Opset::new(ONNX_DOMAIN, 17).map_err(e)?]).map_err(e)?;
        model.set_graph(graph).map_err(e)?;
        let builder = runtime::cpu_session_builder(options).map_err(|e| e.to_string())?;
        let mut session = model.into_session(&builder).map_err(e)?;
        let input: Vec<u8> = (0..rows * k).map(|i| (i % 253) as u8).collect();
        let mut run = || -> Result<Duration, String> {
            let a = Tensor::from_array(([rows, k], input.clone().into_boxed_slice())).map_err(e)?;
            let started = Instant::now();
            session.run(ort::inputs!["a" => a]).map_err(e)?;
            Ok(started.elapsed())
        };
        run()?; // warm-up: weight packing, allocations
        let mut best = Duration::MAX;
        for _ in 0..7 {
            best = best.min(run()?);
        }
        ops += 2.0 * (rows * k * n) as f64;
        time += best;
    }
    Ok(ops / time.as_secs_f64() / 1e9)
}

/// The model's int8 multiply-adds per token (MatMulInteger and ConvInteger weights), read from
/// `model.onnx` with Python's `onnx` when a Python that has it is around.
fn model_int8_macs_per_token(model: &Path) -> Option<f64> {
    let script = "import onnx,sys\nm=onnx.load(sys.argv[1]);w={i.name:list(i.dims) for i in m.graph.initializer};t=0\nfor n in m.graph.node:\n  if n.op_type in('MatMulInteger','ConvInteger'):\n    d=w.get(n.input[1])\n    if d:\n      p=1\n      for x in d: p*=x\n      t+=p\nprint(t)";
    let pythons = [
        std::env::var_os("HUNKGUARD_PYTHON").map(PathBuf::from),
        Some(crate_root().join(".venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    pythons.into_iter().flatten().find_map(|python| {
        let output = Command::new(python)
            .args(["-c", script])
            .arg(model)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    })
}

/// Full-model tokens/s at steady state (no gate), on whole files of the check tree.
fn model_tokens_per_second(options: &RuntimeOptions, texts: &[&str]) -> Result<f64, String> {
    let options = RuntimeOptions {
        without_gate: true,
        ..options.clone()
    };
    let mut model = Model::load(
        &crate_root().join("models"),
        &options,
        &Catalogue::embedded(),
    )
    .map_err(|e| e.to_string())?;
    let snippets: Vec<Snippet> = texts
        .iter()
        .enumerate()
        .map(|(file, text)| {
            let count = text.lines().count();
            Snippet {
                file,
                text: text.to_string(),
                line_numbers: (1..=count as u32).collect(),
                changed: vec![true; count],
            }
        })
        .collect();
    model.score(&snippets[..1]).map_err(|e| e.to_string())?; // warm-up
    model.stats = Default::default();
    model.score(&snippets).map_err(|e| e.to_string())?;
    Ok(model.stats.model_tokens as f64 / model.stats.model_time.as_secs_f64())
}

fn print_pair(what: &str, ours: Run, theirs: Option<Run>, target: &str) {
    match theirs {
        Some(b) => println!(
            "  {what:<34} {:>7.2} s ({:>6.2} s CPU)   Bandit {:>6.2} s ({:>5.2} s CPU)   ratio {:>5.2} wall, {:>5.2} CPU   {target}",
            ours.wall, ours.cpu, b.wall, b.cpu, ours.wall / b.wall, ours.cpu / b.cpu
        ),
        None => println!(
            "  {what:<34} {:>7.2} s ({:>6.2} s CPU)   Bandit not installed",
            ours.wall, ours.cpu
        ),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: then measure once.
    let bench = std::env::args().any(|a| a == "--bench");
    let runs = if bench { RUNS } else { 1 };
    let files = stdlib_files(&stdlib_dir());
    assert!(files.len() > 60, "too few standard-library files found");
    let tree = tempfile::tempdir().expect("temp dir");
    let (tree_lines, used) = check_tree(tree.path(), &files);
    let pr = tempfile::tempdir().expect("temp dir");
    let (changed, pr_paths) = pr_repo(pr.path(), &files[used..]);
    let bandit_bin = bandit_path();

    let check_args = ["check", "."];
    let pr_args = ["scan", "--base", "main"];
    let (mut check, mut check_bandit, mut scan, mut scan_bandit) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        check.push(measure(
            hunkguard(tree.path(), &check_args),
            "hunkguard check",
        ));
        scan.push(measure(hunkguard(pr.path(), &pr_args), "hunkguard scan"));
        if let Some(bin) = &bandit_bin {
            check_bandit.push(measure(
                bandit(bin, tree.path(), &["-r".into(), ".".into()]),
                "bandit -r",
            ));
            scan_bandit.push(measure(
                bandit(bin, pr.path(), &pr_paths),
                "bandit (PR files)",
            ));
        }
    }
    // The same check without the cascade and with the manifest's overlap of 128, once: what the gate and
    // the short overlap save (the reading plan, which reads each line once, has no switch).
    let full_reads = bench.then(|| {
        measure(
            hunkguard(
                tree.path(),
                &["check", ".", "--no-cascade", "--overlap", "128"],
            ),
            "hunkguard check (no gate, overlap 128)",
        )
    });
    let cold: Vec<f64> = (0..runs)
        .map(|_| {
            let output = Command::new(env!("CARGO_BIN_EXE_hunkguard"))
                .args(["model", "--json", "--device", "cpu"])
                .output()
                .expect("model runs");
            let json: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("model --json");
            json["load_ms"].as_f64().unwrap_or(f64::NAN)
        })
        .collect();
    let cold_process = summary(
        &(0..runs)
            .map(|_| {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_hunkguard"));
                cmd.args(["model", "--json", "--device", "cpu"])
                    .stdout(std::process::Stdio::null());
                measure(cmd, "hunkguard model")
            })
            .collect::<Vec<_>>(),
    );
    let cold_bandit = bandit_bin.as_ref().map(|bin| {
        summary(
            &(0..runs)
                .map(|_| {
                    let mut cmd = Command::new(bin);
                    cmd.arg("--version").stdout(std::process::Stdio::null());
                    measure(cmd, "bandit --version")
                })
                .collect::<Vec<_>>(),
        )
    });

    let options = RuntimeOptions {
        device: Device::Cpu,
        ..RuntimeOptions::default()
    };
    let texts: Vec<String> = std::fs::read_dir(tree.path())
        .map(|d| {
            let mut paths: Vec<PathBuf> = d.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            paths
        })
        .unwrap_or_default()
        .iter()
        .take(if bench { 12 } else { 2 })
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens_per_second = model_tokens_per_second(&options, &text_refs);
    let gemm = int8_gemm_gops(&options);
    let macs = model_int8_macs_per_token(&crate_root().join("models/model.onnx"));

    println!(
        "hunkguard pipeline bench ({} cores, median of {runs}, real Python from {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        stdlib_dir().display()
    );
    let check_sum = summary(&check);
    let bandit_check = (!check_bandit.is_empty()).then(|| summary(&check_bandit));
    print_pair(
        &format!("check, {tree_lines} lines / {used} files"),
        check_sum,
        bandit_check,
        "target <= 3x",
    );
    println!(
        "    lines per second: {:.0}",
        tree_lines as f64 / check_sum.wall
    );
    if let Some(full_reads) = full_reads {
        print_pair(
            "check, no gate, overlap 128",
            full_reads,
            bandit_check,
            "(the cascade and the overlap's share)",
        );
    }
    let scan_sum = summary(&scan);
    print_pair(
        &format!("PR, {changed} changed lines / {} files", pr_paths.len()),
        scan_sum,
        (!scan_bandit.is_empty()).then(|| summary(&scan_bandit)),
        "target <= 0.8x",
    );
    println!(
        "  cold start: model load {:.0} ms (target <= 150 ms); `hunkguard model` process {:.0} ms{}",
        median(cold),
        cold_process.wall * 1000.0,
        cold_bandit.map_or(String::new(), |b| format!(
            "; `bandit --version` {:.0} ms",
            b.wall * 1000.0
        ))
    );
    let rss = [check_sum, scan_sum, cold_process]
        .iter()
        .map(|r| r.rss_mb)
        .fold(0.0, f64::max);
    let rss_bandit = check_bandit
        .iter()
        .chain(&scan_bandit)
        .map(|r| r.rss_mb)
        .fold(0.0, f64::max);
    println!(
        "  peak RSS: hunkguard {rss:.0} MB (target <= 300 MB){}",
        if rss_bandit > 0.0 {
            format!("; Bandit {rss_bandit:.0} MB")
        } else {
            String::new()
        }
    );
    match (&tokens_per_second, &gemm) {
        (Ok(tps), Ok(gops)) => {
            print!("  full model: {tps:.0} tokens/s steady state; int8 GEMM (ORT MatMulInteger): {gops:.1} GOP/s");
            match macs {
                Some(macs) => println!(
                    "; the model's {:.2} M int8 MAC/token at that rate: {:.0} tokens/s, so the model reaches {:.0} %",
                    macs / 1e6,
                    gops * 1e9 / (2.0 * macs),
                    100.0 * tps * 2.0 * macs / (gops * 1e9)
                ),
                None => println!(" (no Python with `onnx` to count the model's int8 work)"),
            }
        }
        (tps, gops) => println!("  model rate: {tps:?}; int8 GEMM: {gops:?}"),
    }
}
