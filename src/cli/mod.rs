//! The command line: `serve`, `check`, `reload`, `events`, `sign`, `providers` and `probe`.
//!
//! Exit codes: 0 success, 64 (`EX_USAGE`) for a configuration or usage mistake, 1 for a failure at run
//! time (a port already in use, say). Each command's body lives in a file of its own: `serve` (the
//! gateway under signals), `check` (what a configuration means), `sign`, and `client` (the commands
//! that talk to a running gateway's admin listener).

/// `println!` that writes through `emit`: a closed pipe ends the output quietly, not in a panic.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::emit(&format!("{}\n", format_args!($($arg)*)))
    };
}

mod check;
mod client;
mod init;
mod send;
mod serve;
mod sign;

pub use check::describe;

use crate::config::{self, Config};
use crate::presets;
use clap::{Parser, Subcommand, ValueEnum};
use http::Method;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) const EX_USAGE: u8 = 64;

/// `hookgate --version`: the crate's version, the commit it was built from and the build date.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HOOKGATE_COMMIT"),
    ", built ",
    env!("HOOKGATE_BUILD_DATE"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "hookgate",
    version = VERSION,
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
        /// The configuration file.
        #[arg(long, short, value_name = "FILE", env = "HOOKGATE_CONFIG")]
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
        /// Keep the embedded store in this directory instead of store.path.
        #[arg(long, value_name = "DIR", env = "HOOKGATE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Ask a running gateway to reload its configuration file (as SIGHUP does), through its admin
    /// listener, and print the result.
    Reload {
        /// The gateway's admin address (admin.listen).
        #[arg(
            long,
            value_name = "ADDR",
            default_value = "127.0.0.1:8079",
            env = "HOOKGATE_ADMIN"
        )]
        admin: String,
        /// The admin token (admin.token), sent as a bearer token.
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Print every outcome of a running gateway as it happens (requests and delivery attempts).
    Tail {
        /// Only this route.
        #[arg(long)]
        route: Option<String>,
        /// Only these outcomes (repeat, or separate with commas): accepted, duplicate,
        /// invalid_signature, delivered, retry, dead...
        #[arg(long, value_delimiter = ',')]
        outcome: Vec<String>,
        /// One JSON object per line, for tools.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: client::Admin,
    },
    /// See, search and replay the events a running gateway stored (queued routes).
    Events {
        #[command(subcommand)]
        command: client::Events,
        #[command(flatten)]
        admin: client::Admin,
    },
    /// Validate a configuration and print the routes it would serve.
    Check {
        /// The configuration file.
        #[arg(long, short, value_name = "FILE", env = "HOOKGATE_CONFIG")]
        config: PathBuf,
        /// Validate everything but the secrets' values: secrets written as "${VAR}" or "file:..."
        /// are not read, so a configuration can be checked where its secrets are not (CI).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Print the headers a genuine vendor would send with BODY_FILE on a route.
    Sign {
        #[command(flatten)]
        what: Signed,
        /// Print a complete curl command against this base URL instead (e.g. http://127.0.0.1:8080).
        #[arg(long, value_name = "URL")]
        curl: Option<String>,
    },
    /// Sign BODY_FILE for a route now, as its vendor would, post it to the running gateway, and say
    /// what the answer means (forwarded, accepted, duplicate, or refused and why).
    Send {
        #[command(flatten)]
        what: Signed,
        /// The gateway's base URL (default: server.listen of the configuration).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Send the same signed request this many times (the second is a duplicate).
        #[arg(long, default_value_t = 1, value_name = "N")]
        repeat: u32,
        /// Change the body after signing it: the gateway refuses the signature.
        #[arg(long)]
        tamper: bool,
        /// Sign with a time before the route's window: the gateway refuses it as stale.
        #[arg(long)]
        stale: bool,
    },
    /// Write a commented starting configuration for the vendors named (`hookgate init stripe github`),
    /// with their secrets as ${VAR} references, queued delivery and the embedded store.
    Init {
        /// Vendors, by preset name (`hookgate providers` lists them).
        #[arg(required = true, value_name = "VENDOR")]
        vendors: Vec<String>,
        /// The file to write; "-" prints it instead.
        #[arg(long, short, value_name = "FILE", default_value = "hookgate.toml")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
        /// Where every route delivers (an http:// or https:// URL; the route's name is appended as
        /// the last path segment), instead of printing events on standard output.
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
    },
    /// GET a URL and exit 0 on a 2xx answer (a container HEALTHCHECK without curl or a shell).
    Probe {
        /// The URL to GET, such as http://127.0.0.1:8079/readyz.
        url: String,
        /// Sent as a bearer token (an admin listener off loopback asks for it on every endpoint).
        #[arg(long, env = "HOOKGATE_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Give up (exit 1) when no answer comes within this long.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print a completion script for a shell, e.g. `hookgate completions bash >
    /// /etc/bash_completion.d/hookgate`, `hookgate completions zsh > "${fpath[1]}/_hookgate"` or
    /// `hookgate completions fish > ~/.config/fish/completions/hookgate.fish`.
    Completions {
        /// bash, zsh, fish (also elvish, powershell).
        shell: clap_complete::Shell,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_argument_of_every_command_says_what_it_is() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "hookgate", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}

/// What `sign` and `send` sign: a body, for a route of a configuration.
#[derive(clap::Args, Debug)]
struct Signed {
    /// The route to sign for (a [routes.NAME] of the configuration).
    #[arg(long)]
    route: String,
    /// The configuration file (the route's secret or key signs the body).
    #[arg(long, short, value_name = "FILE", env = "HOOKGATE_CONFIG")]
    config: PathBuf,
    /// The body, as the vendor would send it (a JSON file, say).
    body_file: PathBuf,
    /// The Content-Type the vendor sends with the body.
    #[arg(long, default_value = "application/json")]
    content_type: String,
}

#[derive(Subcommand, Debug)]
enum ProvidersAction {
    /// Print a preset as a route table a user can paste and edit.
    Show {
        /// A preset name or alias (`hookgate providers` lists them).
        name: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

pub fn run() -> ExitCode {
    // A usage mistake exits 64 (EX_USAGE), as the README says; help and --version exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Serve {
            config,
            log_format,
            listen,
            admin_listen,
            data_dir,
        } => serve::serve(
            &config,
            log_format,
            serve::Overrides {
                listen,
                admin_listen,
                data_dir,
            },
        ),
        Command::Check { config, no_secrets } => check::check(&config, no_secrets),
        Command::Events { command, admin } => client::events(&admin, command),
        Command::Tail {
            route,
            outcome,
            json,
            admin,
        } => client::tail(&admin, route, outcome, json),
        Command::Reload { admin, token } => client::reload(&admin, token.as_deref()),
        Command::Sign { what, curl } => sign::sign(
            &what.config,
            &what.route,
            &what.body_file,
            curl.as_deref(),
            &what.content_type,
        ),
        Command::Send {
            what,
            url,
            repeat,
            tamper,
            stale,
        } => send::send(
            &what.config,
            &what.route,
            &what.body_file,
            &send::Options {
                url: url.as_deref(),
                repeat,
                tamper,
                stale,
                content_type: &what.content_type,
            },
        ),
        Command::Providers { action, markdown } => providers(action, markdown),
        Command::Init {
            vendors,
            output,
            force,
            upstream,
        } => init::init(&vendors, &output, force, upstream.as_deref()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hookgate", &mut script);
            emit(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
        Command::Probe {
            url,
            token,
            timeout,
        } => probe(&url, token.as_deref(), timeout),
    }
}

pub(crate) fn load(path: &Path) -> Result<Config, ExitCode> {
    load_with(path, config::Secrets::Read)
}

fn load_with(path: &Path, secrets: config::Secrets) -> Result<Config, ExitCode> {
    config::load_with(path, secrets).map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "hookgate: {} error{} in the configuration; nothing was started",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(EX_USAGE)
    })
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
        None if markdown => emit(&presets::markdown(table)),
        None => {
            let mut list = String::new();
            for p in &table.presets {
                let aliases = if p.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also: {})", p.aliases.join(", "))
                };
                list.push_str(&format!("{:<24} {}{aliases}\n", p.name, p.title));
            }
            emit(&list);
        }
        Some(ProvidersAction::Show { name }) => match presets::find(&name) {
            Some(p) => emit(&presets::as_route_toml(p)),
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

/// Writes `text` to standard output. A reader that stopped reading (`hookgate providers | head`) is
/// not an error: what it did not read is dropped, quietly.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("hookgate: cannot write the output: {e}");
    }
}

fn probe(url: &str, token: Option<&str>, timeout: std::time::Duration) -> ExitCode {
    match client::http_call(Method::GET, url, token, timeout) {
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
