//! ONNX Runtime: finding the shared library, starting the one environment, building sessions.
//!
//! ort is built with `load-dynamic`: nothing is linked at build time and the library is opened at run
//! time. Without a path ort looks for an unversioned `libonnxruntime.so` and panics on first use, so we
//! resolve the path ourselves and fail with a message that says how to install it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::ModelError;

/// The install command we tell users about.
pub const INSTALL_HINT: &str = "install it with `scripts/setup-ort.sh` (puts it in .ort/), or \
`pip install onnxruntime==1.31.1`, or point to libonnxruntime.so with --ort-lib / ORT_DYLIB_PATH";

/// Which execution provider to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Device {
    /// CUDA when it can be started, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA, or fail.
    Cuda,
}

/// How to start the runtime and cut the input.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Explicit path to `libonnxruntime.so` (else `ORT_DYLIB_PATH`, then well-known places).
    pub ort_lib: Option<PathBuf>,
    pub device: Device,
    /// Intra-op threads; None: one per core.
    pub threads: Option<usize>,
    /// Tokens shared by consecutive windows of a long snippet; None: [`super::DEFAULT_OVERLAP`].
    pub overlap: Option<usize>,
    /// Score every window with the full model even when the manifest names a gate.
    pub without_gate: bool,
}

/// The one ORT environment of the process and the library it came from.
static ENVIRONMENT: OnceLock<Result<(ort::environment::Environment, PathBuf), String>> =
    OnceLock::new();

/// Candidate library files in `dir`: the plain C library, versioned or not, not the provider plugins.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libonnxruntime.so")
                    || n == "libonnxruntime.dylib"
                    || n == "onnxruntime.dll"
            })
        })
        .collect();
    found.sort();
    found.pop()
}

/// Where we look for the library, in order, with the reason each place is on the list.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(exe_dir) = exe.parent() {
            dirs.push(exe_dir.to_path_buf());
            dirs.push(exe_dir.join(".ort"));
            dirs.push(exe_dir.join("../lib"));
            // target/{debug,release}/hunkguard inside a checkout: the project's .ort/ two levels up.
            dirs.push(exe_dir.join("../../.ort"));
            dirs.push(exe_dir.join("../../../.ort"));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        for ancestor in cwd.ancestors() {
            dirs.push(ancestor.join(".ort"));
        }
    }
    if let Ok(venv) = std::env::var("VIRTUAL_ENV") {
        dirs.extend(site_packages_capi(Path::new(&venv)));
    }
    dirs
}

fn site_packages_capi(prefix: &Path) -> Vec<PathBuf> {
    let lib = prefix.join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .filter(|p| p.is_dir())
        .collect()
}

/// Ask the Python on PATH where a pip-installed `onnxruntime` lives (the last resort: it costs a process).
fn python_capi() -> Option<PathBuf> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import importlib.util,os;s=importlib.util.find_spec('onnxruntime');print(os.path.join(os.path.dirname(s.origin),'capi') if s else '')",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Resolve the ONNX Runtime library: explicit path, `ORT_DYLIB_PATH`, well-known places, pip.
pub fn resolve_library(explicit: Option<&Path>) -> Result<PathBuf, ModelError> {
    let given = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from));
    if let Some(path) = given {
        let path = if path.is_dir() {
            library_in(&path).unwrap_or(path)
        } else {
            path
        };
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::RuntimeMissing(format!(
                "ONNX Runtime library {} does not exist; {INSTALL_HINT}",
                path.display()
            )))
        };
    }
    for dir in search_dirs() {
        if let Some(path) = library_in(&dir) {
            return Ok(path);
        }
    }
    if let Some(path) = python_capi().and_then(|dir| library_in(&dir)) {
        return Ok(path);
    }
    Err(ModelError::RuntimeMissing(format!(
        "ONNX Runtime library not found; {INSTALL_HINT}"
    )))
}

/// Start the process-wide ONNX Runtime environment once; later calls reuse it. Returns the library path.
pub fn init_environment(options: &RuntimeOptions) -> Result<PathBuf, ModelError> {
    environment(options).map(|(_, path)| path)
}

fn environment(
    options: &RuntimeOptions,
) -> Result<(ort::environment::Environment, PathBuf), ModelError> {
    let result = ENVIRONMENT.get_or_init(|| {
        let path = resolve_library(options.ort_lib.as_deref()).map_err(|e| e.to_string())?;
        let path = path.canonicalize().unwrap_or(path);
        let builder = ort::init_from(&path).map_err(|e| {
            format!(
                "cannot load ONNX Runtime from {}: {e}; {INSTALL_HINT}",
                path.display()
            )
        })?;
        let environment = builder
            .with_name("hunkguard")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))?;
        tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
        Ok((environment, path))
    });
    result.clone().map_err(ModelError::RuntimeMissing)
}

/// Build a session for `model_path`; returns it with the name of the provider that actually runs.
pub fn build_session(
    model_path: &Path,
    options: &RuntimeOptions,
) -> Result<(Session, &'static str), ModelError> {
    let (environment, library) = environment(options)?;
    if options.device != Device::Cpu {
        match cuda_session(&environment, model_path, options, &library) {
            Ok(session) => return Ok((session, "CUDA")),
            Err(reason) if options.device == Device::Cuda => {
                return Err(ModelError::Cuda(reason));
            }
            Err(reason) => tracing::info!("CUDA unavailable ({reason}); using the CPU provider"),
        }
    }
    Ok((cpu_session(&environment, model_path, options)?, "CPU"))
}

/// Build a CPU session for a small model that is not worth a device transfer (the cascade's gate).
pub fn build_cpu_session(
    model_path: &Path,
    options: &RuntimeOptions,
) -> Result<Session, ModelError> {
    let (environment, _) = environment(options)?;
    cpu_session(&environment, model_path, options)
}

/// A session builder with the settings every CPU session gets (the bench measures the machine's int8
/// GEMM rate under them).
pub fn cpu_session_builder(
    options: &RuntimeOptions,
) -> Result<ort::session::builder::SessionBuilder, ModelError> {
    let (environment, _) = environment(options)?;
    base_builder(&environment, options).map_err(ModelError::RuntimeMissing)
}

fn cpu_session(
    environment: &ort::environment::Environment,
    model_path: &Path,
    options: &RuntimeOptions,
) -> Result<Session, ModelError> {
    // No CPU memory arena: behind the cascade the model gets batches of every width, and the arena
    // kept what each new width took (measured on a 40k-line `check`: peak RSS 430 MB with it, 298 MB
    // without, same wall time).
    let cpu = ort::ep::CPU::default().with_arena_allocator(false).build();
    base_builder(environment, options)
        .and_then(|b| b.with_execution_providers([cpu]).map_err(|e| e.to_string()))
        .and_then(|mut b| b.commit_from_file(model_path).map_err(|e| e.to_string()))
        .map_err(|message| ModelError::Load {
            path: model_path.to_path_buf(),
            message,
        })
}

/// The one place session settings are chosen; measured on 2 loaded cores (issue 12, see the README's
/// speed table): all graph optimisations, sequential execution (one inter-op thread: the graph is a
/// chain), memory pattern on (windows of one batch share a shape), intra-op threads = cores.
fn base_builder(
    environment: &ort::environment::Environment,
    options: &RuntimeOptions,
) -> Result<ort::session::builder::SessionBuilder, String> {
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let text = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
    Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(text)?
        .with_parallel_execution(false)
        .map_err(text)?
        .with_inter_threads(1)
        .map_err(text)?
        .with_intra_threads(threads)
        .map_err(text)?
        .with_memory_pattern(true)
        .map_err(text)
}

fn cuda_session(
    environment: &ort::environment::Environment,
    model_path: &Path,
    options: &RuntimeOptions,
    library: &Path,
) -> Result<Session, String> {
    let plugin = library.with_file_name("libonnxruntime_providers_cuda.so");
    if !plugin.is_file() {
        return Err(format!(
            "{} is missing (install the GPU build: scripts/setup-ort.sh --gpu)",
            plugin.display()
        ));
    }
    let cuda = ort::ep::CUDA::default().build().error_on_failure();
    let mut builder = base_builder(environment, options)?
        .with_execution_providers([cuda])
        .map_err(|e| e.to_string())?;
    builder
        .commit_from_file(model_path)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_explicit_library_says_how_to_install() {
        let err = resolve_library(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains("setup-ort.sh"), "{message}");
    }

    #[test]
    fn a_directory_is_searched_for_the_versioned_library() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("libonnxruntime_providers_shared.so"), b"").unwrap();
        std::fs::write(dir.path().join("libonnxruntime.so.1.31.1"), b"").unwrap();
        let found = resolve_library(Some(dir.path())).unwrap();
        assert!(found.ends_with("libonnxruntime.so.1.31.1"));
    }
}
