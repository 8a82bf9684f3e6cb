//! `hookgate check`: validate a configuration and say what it means, route by route.

use super::{EX_USAGE, load_with};
use crate::client_ip::Allowlist;
use crate::config::{Config, Secrets};
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn check(path: &Path, no_secrets: bool) -> ExitCode {
    let secrets = if no_secrets {
        Secrets::Skip
    } else {
        Secrets::Read
    };
    let config = match load_with(path, secrets) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The TLS key is a secret too: --no-secrets reads neither it nor its certificate.
    if let Some(tls) = &config.server.tls
        && !no_secrets
        && let Err(e) = crate::tls::CertStore::load(tls)
    {
        eprintln!("{}: server.tls: {e}", path.display());
        return ExitCode::from(EX_USAGE);
    }
    super::emit(&describe(path, &config));
    if no_secrets {
        outln!(
            "\nsecrets written as \"${{VAR}}\" or \"file:...\" were not read (--no-secrets); `hookgate serve` and `hookgate check` without it need them"
        );
    }
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
    let store = match &config.store.kind {
        crate::config::StoreKind::Embedded { path } => format!(
            "store: embedded in {} (delivered events kept {}, dead letters {}, at most {} bytes)",
            path.display(),
            human(config.store.limits.retention),
            human(config.store.limits.dead_retention),
            config.store.limits.max_size
        ),
        crate::config::StoreKind::Memory => {
            "store: memory (nothing is kept across restarts; direct delivery only)".to_string()
        }
        crate::config::StoreKind::Redis(r) => format!(
            "store: redis at {} (keys under {}:, shared with the other processes on it; lease {})",
            crate::config::without_credentials(&String::from_utf8_lossy(r.url.expose())),
            r.prefix,
            human(r.lease)
        ),
    };
    let _ = writeln!(out, "{store}");
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
        let delivery = match r.delivery {
            crate::delivery::Mode::Queued => format!(
                "queued: acknowledged once stored, then delivered with {} retries over {} (then dead-lettered; dead_letter_on {:?}), {} at a time",
                r.policy.schedule.len(),
                human(r.policy.horizon()),
                r.policy
                    .dead_letter_on
                    .iter()
                    .map(|s| s.as_u16())
                    .collect::<Vec<_>>(),
                r.policy.concurrency
            ),
            crate::delivery::Mode::Direct => format!(
                "direct: the vendor waits for the upstream's answer{}",
                if r.upstream_4xx == crate::delivery::Upstream4xx::Retry {
                    " (a 4xx is answered 503 so that the vendor retries)"
                } else {
                    ""
                }
            ),
        };
        let _ = writeln!(out, "  delivery {delivery}");
        if let Some(why) = &r.dedupe_ttl_reason {
            let _ = writeln!(out, "  {why}");
        }
        let allow = match &r.allow_ips {
            None => "any address".to_string(),
            Some(Allowlist::Fixed(nets)) => nets
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Some(Allowlist::Fetched(list)) => format!(
                "as published at {} (fetched at start and kept current; until the first fetch, deliveries are answered 503)",
                list.url()
            ),
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
