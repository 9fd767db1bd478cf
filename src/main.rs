//! The `hunkguard` binary: everything happens in [`hunkguard::cli::run`].

fn main() -> std::process::ExitCode {
    hunkguard::cli::run()
}
