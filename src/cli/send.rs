//! `hookgate send`: a body signed for a route at the moment it is sent, posted to the running
//! gateway, and the answer in words: forwarded, accepted, duplicate, or refused and why.
//! `--repeat`, `--tamper` and `--stale` show the gateway's refusals.

use super::EX_USAGE;
use super::client::http_request;
use super::sign::route_and_body;
use http::Method;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) struct Options<'a> {
    pub url: Option<&'a str>,
    pub repeat: u32,
    pub tamper: bool,
    pub stale: bool,
    pub content_type: &'a str,
}

pub(crate) fn send(path: &Path, route_name: &str, body_file: &Path, o: &Options) -> ExitCode {
    let (config, index, mut body) = match route_and_body(path, route_name, body_file) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let route = &config.routes[index];
    let url = match o.url {
        Some(base) => format!("{}{}", base.trim_end_matches('/'), route.path),
        None => {
            let mut at = config.server.listen;
            if at.ip().is_unspecified() {
                at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let scheme = if config.server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{at}{}", route.path)
        }
    };
    // A stale delivery is stamped a minute before the route's window opens.
    let mut at = jiff::Timestamp::now();
    if o.stale {
        let back = route.tolerance + Duration::from_secs(60);
        at = at
            .checked_sub(jiff::SignedDuration::try_from(back).unwrap_or_default())
            .unwrap_or(at);
    }
    let id = format!("evt_{:016x}", fastrand::u64(..));
    let signed = match route.verifier.sign(&body, &id, at) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hookgate: cannot sign for route {route_name}: {e}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if o.tamper {
        // One byte more after signing (JSON stays JSON): the signature no longer covers the body.
        body.push(b' ');
    }
    let mut headers = vec![("content-type".to_string(), o.content_type.to_string())];
    headers.extend(signed.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let mut code = ExitCode::SUCCESS;
    for n in 1..=o.repeat.max(1) {
        let prefix = if o.repeat > 1 {
            format!("{n}: ")
        } else {
            String::new()
        };
        match http_request(
            Method::POST,
            &url,
            &headers,
            body.clone(),
            Duration::from_secs(30),
        ) {
            Ok((status, answer)) => {
                outln!(
                    "{prefix}{} {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&answer).trim_end()
                );
                outln!("{prefix}{}", meaning(status, &answer));
                if !status.is_success() {
                    code = ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!(
                    "hookgate: cannot reach the gateway at {url}: {e} (is `hookgate serve` running?)"
                );
                return ExitCode::FAILURE;
            }
        }
    }
    code
}

/// What an answer of the gateway means, in a sentence.
fn meaning(status: http::StatusCode, answer: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(answer).unwrap_or_default();
    let text = |k: &str| json[k].as_str().unwrap_or("").to_string();
    match (
        status.as_u16(),
        text("status").as_str(),
        text("error").as_str(),
    ) {
        (200..=299, "accepted", _) => format!(
            "accepted: verified and stored; the gateway delivers event {} to the upstream and retries until it answers 2xx",
            text("id")
        ),
        (200..=299, "duplicate", _) => {
            "duplicate: this event was already stored or delivered; it is not forwarded again"
                .to_string()
        }
        (200..=299, _, _) => {
            "forwarded: verified and delivered; the upstream's answer is above".to_string()
        }
        (_, _, error) if !error.is_empty() => {
            let why = [text("reason"), text("detail"), text("message")]
                .into_iter()
                .find(|s| !s.is_empty());
            match why {
                Some(why) => format!("refused ({error}): {why}"),
                None => format!("refused ({error})"),
            }
        }
        (s, _, _) => format!("refused with {s}"),
    }
}
