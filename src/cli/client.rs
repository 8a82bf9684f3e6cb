//! The commands that talk to a running gateway through its admin listener: `reload`, `events`, and
//! the plain HTTP client they (and `probe`) share.

use http::Method;
use std::process::ExitCode;

/// `hookgate reload`: POST /reload on the admin listener.
pub(crate) fn reload(admin: &str, token: Option<&str>) -> ExitCode {
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
                super::emit(&text);
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

/// One plain-HTTP request from the command line (`probe`, `reload`): its status and body.
pub(crate) fn http_call(
    method: Method,
    url: &str,
    token: Option<&str>,
    timeout: std::time::Duration,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    http_send(method, url, token, None, timeout)
}

/// `http_call` with a JSON body.
pub(crate) fn http_send(
    method: Method,
    url: &str,
    token: Option<&str>,
    json: Option<String>,
    timeout: std::time::Duration,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    let mut headers = Vec::new();
    if let Some(token) = token {
        headers.push(("authorization".to_string(), format!("Bearer {token}")));
    }
    if json.is_some() {
        headers.push(("content-type".to_string(), "application/json".to_string()));
    }
    http_request(
        method,
        url,
        &headers,
        json.unwrap_or_default().into_bytes(),
        timeout,
    )
}

/// One request with these headers and body; the status and body of the answer.
pub(crate) fn http_request(
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
    timeout: std::time::Duration,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    use http_body_util::{BodyExt, Full};
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
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
        let mut request = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let body = Full::new(bytes::Bytes::from(body));
        let request = request.body(body).map_err(|e| e.to_string())?;
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

/// Where the running gateway's admin listener is, and its token.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Admin {
    /// The gateway's admin address (admin.listen).
    #[arg(
        long = "admin",
        value_name = "ADDR",
        default_value = "127.0.0.1:8079",
        env = "HOOKGATE_ADMIN",
        global = true
    )]
    pub addr: String,
    /// The admin token (admin.token), sent as a bearer token.
    #[arg(
        long,
        env = "HOOKGATE_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Events {
    /// List stored events, newest first.
    List {
        /// Only this route's events.
        #[arg(long)]
        route: Option<String>,
        /// queued, delivering, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        /// An RFC 3339 time, or a duration ago such as 1h.
        #[arg(long)]
        since: Option<String>,
        /// An RFC 3339 time, or a duration ago such as 10m: only events received before it.
        #[arg(long)]
        until: Option<String>,
        /// Part of the vendor's event id.
        #[arg(long)]
        id: Option<String>,
        /// Part of the event type.
        #[arg(long = "type")]
        kind: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one event: what the vendor sent, what is forwarded, every attempt.
    Show {
        /// The route the event came in on.
        route: String,
        /// The vendor's event id (as `events list` shows it).
        id: String,
        /// Print the API's JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deliver stored events again: one (ROUTE ID), or all matching --route/--state/--since/--until.
    /// Replaying a delivered event delivers it again, on purpose.
    Replay {
        /// The route of the one event to replay.
        route: Option<String>,
        /// The vendor's event id of the one event to replay.
        id: Option<String>,
        /// Replay every stored event of this route that matches the other filters.
        #[arg(long = "route", value_name = "ROUTE")]
        of_route: Option<String>,
        /// queued, delivered or dead (dead letters: --state dead).
        #[arg(long)]
        state: Option<String>,
        /// An RFC 3339 time, or a duration ago such as 1h: only events received since.
        #[arg(long)]
        since: Option<String>,
        /// An RFC 3339 time, or a duration ago such as 10m: only events received before it.
        #[arg(long)]
        until: Option<String>,
    },
}

const API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Percent-encodes a query value or path segment.
fn enc(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Calls the admin API and returns its JSON, or prints why not and gives the exit code.
fn api(
    admin: &Admin,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<serde_json::Value, ExitCode> {
    let url = format!("http://{}{path}", admin.addr);
    match http_send(method, &url, admin.token.as_deref(), body, API_TIMEOUT) {
        Ok((status, bytes)) => {
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::json!({ "error": String::from_utf8_lossy(&bytes).trim().to_string() })
            });
            if status.is_success() {
                Ok(value)
            } else {
                eprintln!(
                    "hookgate: the gateway answered {}: {}",
                    status.as_u16(),
                    value["error"].as_str().unwrap_or("")
                );
                Err(ExitCode::FAILURE)
            }
        }
        Err(e) => {
            eprintln!(
                "hookgate: cannot reach the admin listener at {}: {e}",
                admin.addr
            );
            Err(ExitCode::FAILURE)
        }
    }
}

pub(crate) fn events(admin: &Admin, command: Events) -> ExitCode {
    match run_events(admin, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run_events(admin: &Admin, command: Events) -> Result<(), ExitCode> {
    use serde_json::Value;
    match command {
        Events::List {
            route,
            state,
            since,
            until,
            id,
            kind,
            limit,
            json,
        } => {
            let mut query = vec![format!("limit={limit}")];
            for (k, v) in [
                ("route", route),
                ("state", state),
                ("since", since),
                ("until", until),
                ("id", id),
                ("type", kind),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", enc(&v)));
                }
            }
            let v = api(
                admin,
                Method::GET,
                &format!("/api/events?{}", query.join("&")),
                None,
            )?;
            if json {
                outln!("{v}");
                return Ok(());
            }
            let events = v["events"].as_array().cloned().unwrap_or_default();
            outln!(
                "{:<20}  {:<14}  {:<10}  {:>8}  {:>6}  {:<28}  TYPE",
                "RECEIVED",
                "ROUTE",
                "STATE",
                "ATTEMPTS",
                "LAST",
                "ID"
            );
            for e in &events {
                let text = |k: &str| e[k].as_str().unwrap_or("-").to_string();
                let received: String = text("received").chars().take(19).collect();
                outln!(
                    "{:<20}  {:<14}  {:<10}  {:>8}  {:>6}  {:<28}  {}",
                    received,
                    text("route"),
                    text("state"),
                    e["attempts"].as_u64().unwrap_or(0),
                    e["last_status"]
                        .as_u64()
                        .map_or("-".to_string(), |s| s.to_string()),
                    text("id"),
                    text("type"),
                );
            }
            if events.is_empty() {
                eprintln!("no events match");
            }
            if v["next"].is_u64() {
                eprintln!("(more: narrow the filter, or raise --limit)");
            }
        }
        Events::Show { route, id, json } => {
            let v = api(
                admin,
                Method::GET,
                &format!("/api/events/{}/{}", enc(&route), enc(&id)),
                None,
            )?;
            if json {
                outln!("{v}");
                return Ok(());
            }
            let e = &v["event"];
            let text = |v: &Value| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            };
            outln!(
                "{} {} ({})",
                text(&e["route"]),
                text(&e["id"]),
                text(&e["state"])
            );
            outln!("  type      {}", text(&e["type"]));
            outln!(
                "  received  {} from {}",
                text(&e["received"]),
                text(&v["request"]["client"])
            );
            if let Some(reason) = e["dead_reason"].as_str() {
                outln!("  dead      {reason}");
            }
            outln!("\nrequest headers");
            for h in v["request"]["headers"].as_array().into_iter().flatten() {
                outln!("  {}: {}", text(&h[0]), text(&h[1]));
            }
            let body = &v["request"]["body"];
            outln!("\nbody");
            match (body["text"].as_str(), body["base64"].as_str()) {
                (Some(t), _) => match serde_json::from_str::<Value>(t) {
                    Ok(json) => outln!(
                        "{}",
                        serde_json::to_string_pretty(&json).unwrap_or_default()
                    ),
                    Err(_) => outln!("{t}"),
                },
                (None, Some(b)) => outln!("(base64) {b}"),
                _ => {}
            }
            outln!("\nattempts");
            for a in v["attempts"].as_array().into_iter().flatten() {
                outln!(
                    "  #{} {}  status {}  {:.1} ms  {}{}{}",
                    a["attempt"],
                    text(&a["at"]),
                    a["status"]
                        .as_u64()
                        .map_or("-".to_string(), |s| s.to_string()),
                    a["latency_ms"].as_f64().unwrap_or(0.0),
                    text(&a["outcome"]),
                    a["next_attempt"]
                        .as_str()
                        .map(|n| format!(", next {n}"))
                        .unwrap_or_default(),
                    a["error"]
                        .as_str()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default(),
                );
            }
        }
        Events::Replay {
            route,
            id,
            of_route,
            state,
            since,
            until,
        } => {
            let v = match (route, id) {
                (Some(route), Some(id)) => api(
                    admin,
                    Method::POST,
                    &format!("/api/events/{}/{}/replay", enc(&route), enc(&id)),
                    None,
                )?,
                (Some(_), None) => {
                    eprintln!(
                        "hookgate: name the event id after the route, or use --route to replay many"
                    );
                    return Err(ExitCode::from(super::EX_USAGE));
                }
                (None, _) => {
                    let filter = serde_json::json!({
                        "route": of_route,
                        "state": state,
                        "since": since,
                        "until": until,
                    });
                    api(admin, Method::POST, "/api/replay", Some(filter.to_string()))?
                }
            };
            outln!(
                "replayed {} event{}",
                v["replayed"],
                if v["replayed"] == 1 { "" } else { "s" }
            );
        }
    }
    Ok(())
}

/// `hookgate tail`: every outcome as it happens, from the running gateway's `/api/stream`.
pub(crate) fn tail(
    admin: &Admin,
    route: Option<String>,
    outcome: Vec<String>,
    json: bool,
) -> ExitCode {
    use http_body_util::BodyExt;
    use std::io::{IsTerminal, Write};
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut query = Vec::new();
    if let Some(r) = &route {
        query.push(format!("route={}", enc(r)));
    }
    if !outcome.is_empty() {
        query.push(format!("outcome={}", enc(&outcome.join(","))));
    }
    let url = format!("http://{}/api/stream?{}", admin.addr, query.join("&"));
    let Ok(uri) = url.parse::<http::Uri>() else {
        eprintln!("hookgate: \"{}\" is not an address", admin.addr);
        return ExitCode::from(super::EX_USAGE);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookgate: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Empty<bytes::Bytes>>();
        loop {
            let mut req = http::Request::get(uri.clone());
            if let Some(t) = &admin.token {
                req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let Ok(req) = req.body(http_body_util::Empty::new()) else {
                return ExitCode::FAILURE;
            };
            match client.request(req).await {
                Ok(resp) if resp.status().is_success() => {
                    let mut body = resp.into_body();
                    let mut buffer = String::new();
                    while let Some(Ok(frame)) = body.frame().await {
                        let Some(data) = frame.data_ref() else { continue };
                        buffer.push_str(&String::from_utf8_lossy(data));
                        while let Some(end) = buffer.find("\n\n") {
                            let chunk: String = buffer.drain(..end + 2).collect();
                            if let Some(line) = chunk.strip_prefix("data: ") {
                                let line = line.trim_end();
                                let out = if json { line.to_string() } else { render(line, colour) };
                                let mut stdout = std::io::stdout().lock();
                                if writeln!(stdout, "{out}").and_then(|()| stdout.flush()).is_err() {
                                    // The reader went away (`hookgate tail | head`): stop quietly.
                                    return ExitCode::SUCCESS;
                                }
                            } else if chunk.starts_with("event: lagged") {
                                eprintln!("hookgate: this terminal fell behind the gateway's stream; some outcomes were skipped");
                            }
                        }
                    }
                    eprintln!("hookgate: the stream ended; reconnecting");
                }
                Ok(resp) => {
                    eprintln!("hookgate: the gateway answered {} (send admin.token as --token or HOOKGATE_ADMIN_TOKEN)", resp.status().as_u16());
                    return ExitCode::FAILURE;
                }
                Err(e) => eprintln!("hookgate: cannot reach the admin listener at {}: {e}; retrying", admin.addr),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

/// One outcome as a line: time, route, outcome, status, event id, latency, and why when refused.
fn render(line: &str, colour: bool) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return line.to_string();
    };
    let text = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    let at = jiff::Timestamp::from_millisecond(v["at_ms"].as_i64().unwrap_or(0))
        .map(|t| t.strftime("%H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let outcome = text("outcome");
    let paint = match outcome.as_str() {
        "accepted" | "forwarded" | "delivered" | "handshake" => "32",
        "duplicate" | "retry" => "33",
        _ => "31",
    };
    let shown = if colour {
        format!("\x1b[{paint}m{outcome:<20}\x1b[0m")
    } else {
        format!("{outcome:<20}")
    };
    let mut out = format!(
        "{at} {:<8} {:<14} {shown} {:>3}  {:<28} {:>8.1} ms",
        text("source"),
        text("route"),
        v["status"].as_u64().unwrap_or(0),
        text("event_id"),
        v["latency_ms"].as_f64().unwrap_or(0.0)
    );
    if let Some(reason) = v["reason"].as_str() {
        out.push_str(&format!("  {reason}"));
    }
    out
}
