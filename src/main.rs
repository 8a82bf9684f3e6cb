//! The `hookgate` binary: everything lives in the library, so tests can run the gateway in-process.

/// mimalloc: fewer CPU cycles per allocation than glibc's malloc on the request path (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookgate::cli::run()
}
