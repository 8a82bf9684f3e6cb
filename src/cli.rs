//! The command line: `serve`, `check`, `reload`, `sign`, `providers` and `probe`.
//!
//! Exit codes: 0 success, 64 (`EX_USAGE`) for a configuration or usage mistake, 1 for a failure at run
//! time (a port already in use, say).

use crate::config::{self, Config};
use crate::presets;
use crate::replay;
use crate::server;
use clap::{Parser, Subcommand, ValueEnum};
use http::Method;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EX_USAGE: u8 = 64;

#[derive(Parser, Debug)]
#[command(
    name = "hookgate",
    version,
    about = "Verify, deduplicate and forward incoming webhooks"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Log lines as human-readable text or as JSON objects.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
        /// Listen here instead of server.listen (containers: 0.0.0.0:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Serve the admin endpoints here instead of admin.listen.
        #[arg(long, value_name = "ADDR")]
        admin_listen: Option<std::net::SocketAddr>,
    },
    /// Ask a running gateway to reload its configuration file (as SIGHUP does), through its admin
    /// listener, and print the result.
    Reload {
        /// The gateway's admin address (admin.listen).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
        admin: String,
        /// The admin token (admin.token), sent as a bearer token.
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Validate a configuration and print the routes it would serve.
    Check {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the headers a genuine vendor would send with BODY_FILE on a route.
    Sign {
        #[arg(long)]
        route: String,
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        body_file: PathBuf,
        /// Print a complete curl command against this base URL instead (e.g. http://127.0.0.1:8080).
        #[arg(long, value_name = "URL")]
        curl: Option<String>,
        #[arg(long, default_value = "application/json")]
        content_type: String,
    },
    /// GET a URL and exit 0 on a 2xx answer (a container HEALTHCHECK without curl or a shell).
    Probe {
        url: String,
        /// Sent as a bearer token (an admin listener off loopback asks for it on every endpoint).
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// List the provider presets, or show one as TOML to paste into a configuration.
    Providers {
        #[command(subcommand)]
        action: Option<ProvidersAction>,
        /// Print the providers page (docs/providers.md) instead of the list.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ProvidersAction {
    /// Print a preset as a route table a user can paste and edit.
    Show { name: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            log_format,
            listen,
            admin_listen,
        } => serve(
            &config,
            log_format,
            Overrides {
                listen,
                admin_listen,
            },
        ),
        Command::Check { config } => check(&config),
        Command::Reload { admin, token } => reload(&admin, token.as_deref()),
        Command::Sign {
            route,
            config,
            body_file,
            curl,
            content_type,
        } => sign(&config, &route, &body_file, curl.as_deref(), &content_type),
        Command::Providers { action, markdown } => providers(action, markdown),
        Command::Probe {
            url,
            token,
            timeout,
        } => probe(&url, token.as_deref(), timeout),
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "hookgate: {} error{} in the configuration; nothing was started",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(EX_USAGE)
    })
}

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
#[derive(Clone, Copy)]
struct Overrides {
    listen: Option<std::net::SocketAddr>,
    admin_listen: Option<std::net::SocketAddr>,
}

impl Overrides {
    fn apply(self, mut config: Config) -> Config {
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

fn serve(path: &Path, log_format: LogFormat, overrides: Overrides) -> ExitCode {
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
                let _ = reload_from(path, overrides, &handle, &mut running);
            }
            asked = next_request(&mut requests) => match asked {
                Some(reply) => {
                    let _ = reply.send(reload_from(path, overrides, &handle, &mut running));
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
    overrides: Overrides,
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

/// `hookgate reload`: POST /reload on the admin listener.
fn reload(admin: &str, token: Option<&str>) -> ExitCode {
    let url = format!("http://{admin}/reload");
    match http_call(
        Method::POST,
        &url,
        token,
        std::time::Duration::from_secs(30),
    ) {
        Ok((status, body)) => {
            let text = String::from_utf8_lossy(&body);
            if status.is_success() {
                print!("{text}");
                ExitCode::SUCCESS
            } else {
                eprint!("{text}");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("hookgate: cannot reach the admin listener at {admin}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(tls) = &config.server.tls
        && let Err(e) = crate::tls::CertStore::load(tls)
    {
        eprintln!("{}: server.tls: {e}", path.display());
        return ExitCode::from(EX_USAGE);
    }
    print!("{}", describe(path, &config));
    ExitCode::SUCCESS
}

/// What `check` prints: the listener, one paragraph per route, the routes that have no replay
/// window, and the configuration's warnings.
pub fn describe(path: &Path, config: &Config) -> String {
    use crate::config::human;
    use std::fmt::Write;
    let mut out = String::new();
    let s = &config.server;
    let _ = writeln!(
        out,
        "{}: ok, {} route{}; listening on {}{}",
        path.display(),
        config.routes.len(),
        if config.routes.len() == 1 { "" } else { "s" },
        s.listen,
        if s.tls.is_some() { " (TLS)" } else { "" }
    );
    let mut unwindowed = Vec::new();
    for r in &config.routes {
        let v = &r.verifier;
        let carriers = crate::verify::source::alternatives(&v.signature().sources);
        let _ = writeln!(out, "\n{}  POST {}  ->  {}", r.name, r.path, r.upstream);
        let _ = writeln!(
            out,
            "  provider {}; {} in {} over \"{}\"; {} key{}",
            r.provider.as_deref().unwrap_or("(none)"),
            v.algorithm().name(),
            carriers,
            v.payload(),
            v.key_count(),
            if v.key_count() == 1 { "" } else { "s" }
        );
        let window = match v.timestamp() {
            [] => {
                unwindowed.push(&*r.name);
                format!(
                    "no replay window: the vendor signs no timestamp, so a captured delivery is refused only while it is remembered ({}), and would be forwarded again after that",
                    human(r.dedupe_ttl)
                )
            }
            ts => format!(
                "timestamp {}, tolerance {}, max_clock_skew {}",
                crate::verify::source::alternatives(ts),
                human(r.tolerance),
                human(r.max_clock_skew)
            ),
        };
        let _ = writeln!(out, "  {window}");
        let id = match v.event().id.as_slice() {
            [] => "SHA-256 of the body".to_string(),
            ids if v.ids_signed() => crate::verify::source::alternatives(ids),
            ids => format!(
                "{} (not signed, so events are also known by their body's SHA-256)",
                crate::verify::source::alternatives(ids)
            ),
        };
        let _ = writeln!(
            out,
            "  event id {id}; dedupe_ttl {}, up to {} events; forward_timeout {}; envelope {}{}",
            human(r.dedupe_ttl),
            r.dedupe_capacity,
            human(r.forward_timeout),
            r.envelope.name(),
            if r.upstream_signer.is_some() {
                ", signed"
            } else {
                ""
            }
        );
        if let Some(why) = &r.dedupe_ttl_reason {
            let _ = writeln!(out, "  {why}");
        }
        let allow = match &r.allow_ips {
            None => "any address".to_string(),
            Some(nets) => nets
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(out, "  allow_ips {allow}");
    }
    if !unwindowed.is_empty() {
        let _ = writeln!(
            out,
            "\nno replay window: {} (replays are refused only while remembered; see above)",
            unwindowed.join(", ")
        );
    }
    if !config.warnings.is_empty() {
        let _ = writeln!(
            out,
            "\n{} warning{}:",
            config.warnings.len(),
            if config.warnings.len() == 1 { "" } else { "s" }
        );
        for w in &config.warnings.0 {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    out
}

fn sign(
    path: &Path,
    route_name: &str,
    body_file: &Path,
    curl: Option<&str>,
    content_type: &str,
) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(route) = config.routes.iter().find(|r| &*r.name == route_name) else {
        let names: Vec<&str> = config.routes.iter().map(|r| &*r.name).collect();
        eprintln!(
            "hookgate: no route \"{route_name}\" in {}{}; routes: {}",
            path.display(),
            config::error::suggestion(route_name, names.iter().copied()),
            names.join(", ")
        );
        return ExitCode::from(EX_USAGE);
    };
    let body = match std::fs::read(body_file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("hookgate: cannot read {}: {e}", body_file.display());
            return ExitCode::from(EX_USAGE);
        }
    };
    let id = format!("evt_{:016x}", fastrand::u64(..));
    let now = jiff::Timestamp::now();
    let headers = match route.verifier.sign(&body, &id, now) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hookgate: cannot sign for route {route_name}: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    // Check the result the way the gateway will, and say so if it would be refused.
    let mut request = http::Request::builder()
        .method("POST")
        .uri(&route.path)
        .header("content-type", content_type);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    if let Ok(request) = request.body(()) {
        let (parts, ()) = request.into_parts();
        match route
            .verifier
            .verify(&parts, bytes::Bytes::from(body.clone()))
        {
            Ok(event) => {
                if let Some(at) = event.signed_at()
                    && let Err(e) =
                        replay::check_window(at, now, route.tolerance, route.max_clock_skew)
                {
                    eprintln!(
                        "warning: the body's signed timestamp {at} is outside this route's window ({e}); the gateway will refuse it"
                    );
                }
            }
            Err(e) => eprintln!("warning: the gateway would refuse this request: {e}"),
        }
    }
    match curl {
        None => {
            for (name, value) in &headers {
                println!("{name}: {value}");
            }
        }
        Some(base) => {
            let mut cmd = format!(
                "curl -sS -X POST '{}{}' -H 'content-type: {content_type}'",
                base.trim_end_matches('/'),
                route.path
            );
            for (name, value) in &headers {
                cmd.push_str(&format!(" -H '{name}: {value}'"));
            }
            cmd.push_str(&format!(" --data-binary @{}", body_file.display()));
            println!("{cmd}");
        }
    }
    ExitCode::SUCCESS
}

fn providers(action: Option<ProvidersAction>, markdown: bool) -> ExitCode {
    let table = match presets::table() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match action {
        None if markdown => print!("{}", presets::markdown(table)),
        None => {
            for p in &table.presets {
                let aliases = if p.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also: {})", p.aliases.join(", "))
                };
                println!("{:<24} {}{aliases}", p.name, p.title);
            }
        }
        Some(ProvidersAction::Show { name }) => match presets::find(&name) {
            Some(p) => print!("{}", presets::as_route_toml(p)),
            None => {
                eprintln!(
                    "hookgate: unknown provider \"{name}\"{}; run `hookgate providers` for the list",
                    config::error::suggestion(&name, presets::names())
                );
                return ExitCode::from(EX_USAGE);
            }
        },
    }
    ExitCode::SUCCESS
}

fn probe(url: &str, token: Option<&str>, timeout: std::time::Duration) -> ExitCode {
    match http_call(Method::GET, url, token, timeout) {
        Ok((status, _)) if status.is_success() => ExitCode::SUCCESS,
        Ok((status, _)) => {
            eprintln!("hookgate: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hookgate: {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One plain-HTTP request from the command line (`probe`, `reload`): its status and body.
fn http_call(
    method: Method,
    url: &str,
    token: Option<&str>,
    timeout: std::time::Duration,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri = url
        .parse::<http::Uri>()
        .map_err(|_| format!("\"{url}\" is not a URL"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
        let mut request = http::Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
        let exchange = async {
            let resp = client.request(request).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))?
    })
}
