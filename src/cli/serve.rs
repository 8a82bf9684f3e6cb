//! `hookgate serve`: the gateway under real signals. SIGHUP (and `POST /reload`) reload the file,
//! SIGTERM and SIGINT drain and stop.

use super::{EX_USAGE, LogFormat, load};
use crate::config::{self, Config};
use crate::server;
use std::path::Path;
use std::process::ExitCode;

/// Sets up logging to standard error through a writer thread that batches lines, so the request path
/// formats a line but does not make a system call for it (BENCHMARKS.md). Lines are never dropped: if
/// the writer falls far behind, logging waits for it. The guard flushes on drop; keep it alive.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The log thread writes whatever lines are queued in one write and flushes whenever the queue is
    // empty, so a line waits for nothing but the lines ahead of it; unbuffered, stderr would cost one
    // system call per line.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("hookgate-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    // Colour only for a person at a terminal: pipes, files and log shippers get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

/// Command-line settings that take precedence over the file (kept across reloads).
#[derive(Clone)]
pub(crate) struct Overrides {
    pub listen: Option<std::net::SocketAddr>,
    pub admin_listen: Option<std::net::SocketAddr>,
    pub data_dir: Option<std::path::PathBuf>,
}

impl Overrides {
    fn apply(&self, mut config: Config) -> Config {
        if let Some(dir) = &self.data_dir {
            config.store.kind = config::StoreKind::Embedded { path: dir.clone() };
        }
        if let Some(l) = self.listen {
            config.server.listen = l;
        }
        if let Some(l) = self.admin_listen {
            let mut admin = config.admin.take().unwrap_or(config::AdminConfig {
                listen: l,
                token: None,
                hosts: Vec::new(),
            });
            admin.listen = l;
            config.admin = Some(admin);
        }
        config
    }
}

pub(crate) fn serve(path: &Path, log_format: LogFormat, overrides: Overrides) -> ExitCode {
    let _log = init_logging(log_format);
    let config = match load(path) {
        Ok(c) => overrides.apply(c),
        Err(code) => return code,
    };
    if let Some(why) = config.admin.as_ref().and_then(|a| a.exposure()) {
        eprintln!("--admin-listen: {why}");
        return ExitCode::from(EX_USAGE);
    }
    for w in &config.warnings.0 {
        tracing::warn!("{w}");
    }
    // One worker: the single-threaded scheduler, which skips the work-stealing machinery (measured in
    // BENCHMARKS.md). More: the multi-threaded one.
    let mut runtime = match config.server.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_until_signalled(path, config, overrides))
}

async fn run_until_signalled(path: &Path, config: Config, overrides: Overrides) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let mut running = config.server.clone();
    let handle = match server::start(config).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addr = %handle.addr(),
        admin = handle.admin_addr().map(|a| a.to_string()).as_deref().unwrap_or("off"),
        routes = handle.gateway().live().routes.len(),
        "hookgate is listening"
    );
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let mut requests = handle.reload_requests();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let _ = reload_from(path, &overrides, &handle, &mut running);
            }
            asked = next_request(&mut requests) => match asked {
                Some(reply) => {
                    let _ = reply.send(reload_from(path, &overrides, &handle, &mut running));
                }
                None => requests = None,
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("shutting down: no new connections; draining");
    handle.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// The next reload asked for on the admin listener (never, once nobody can ask any more).
async fn next_request(
    requests: &mut Option<tokio::sync::mpsc::Receiver<server::ReloadRequest>>,
) -> Option<server::ReloadRequest> {
    match requests {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads, validates and swaps in the configuration file; on any error the running one stays.
fn reload_from(
    path: &Path,
    overrides: &Overrides,
    handle: &server::Handle,
    running: &mut config::ServerConfig,
) -> Result<String, String> {
    let result = match config::load(path).map(|c| overrides.apply(c)) {
        Ok(new) => {
            let server = new.server.clone();
            let result = handle.reload(new, running);
            if result.is_ok() {
                *running = server;
            }
            result
        }
        Err(errors) => {
            handle
                .gateway()
                .metrics()
                .reloads
                .get_or_create(&crate::metrics::ResultLabels { result: "invalid" })
                .inc();
            for e in &errors.0 {
                tracing::error!(error = %e, "configuration error");
            }
            Err(errors.to_string())
        }
    };
    if let Err(why) = &result {
        tracing::error!(reason = %why, "reload refused; the running configuration stays in force");
    }
    result
}
