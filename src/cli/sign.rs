//! `hookgate sign`: the headers a genuine vendor would send with a body, for a route.

use super::{EX_USAGE, load};
use crate::config::{self, Config};
use crate::replay;
use std::path::Path;
use std::process::ExitCode;

/// The configuration at `path`, the index of its route `route_name`, and the body in `body_file`;
/// or the exit code of a usage mistake, said on standard error.
pub(super) fn route_and_body(
    path: &Path,
    route_name: &str,
    body_file: &Path,
) -> Result<(Config, usize, Vec<u8>), ExitCode> {
    let config = load(path)?;
    let Some(index) = config.routes.iter().position(|r| &*r.name == route_name) else {
        let names: Vec<&str> = config.routes.iter().map(|r| &*r.name).collect();
        eprintln!(
            "hookgate: no route \"{route_name}\" in {}{}; routes: {}",
            path.display(),
            config::error::suggestion(route_name, names.iter().copied()),
            names.join(", ")
        );
        return Err(ExitCode::from(EX_USAGE));
    };
    match std::fs::read(body_file) {
        Ok(body) => Ok((config, index, body)),
        Err(e) => {
            eprintln!("hookgate: cannot read {}: {e}", body_file.display());
            Err(ExitCode::from(EX_USAGE))
        }
    }
}

pub(crate) fn sign(
    path: &Path,
    route_name: &str,
    body_file: &Path,
    curl: Option<&str>,
    content_type: &str,
) -> ExitCode {
    let (config, index, body) = match route_and_body(path, route_name, body_file) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let route = &config.routes[index];
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
                outln!("{name}: {value}");
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
            outln!("{cmd}");
        }
    }
    ExitCode::SUCCESS
}
