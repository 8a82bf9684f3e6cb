//! The `hookgate` binary: everything lives in the library, so tests can run the gateway in-process.

fn main() -> std::process::ExitCode {
    hookgate::cli::run()
}
