//! The built binary as an operator runs it, with real signals: SIGTERM drains in-flight forwards and
//! exits 0; SIGHUP and `hookgate reload` apply a valid file and refuse an invalid one with its error;
//! memory stays flat while the gateway is saturated.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "process-secret";

fn route(name: &str, upstream: &Upstream) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    )
}

/// The admin token the processes of these tests are started with.
const ADMIN_TOKEN: &str = "process-admin-token-0123456789";

/// A direct-delivery configuration that keeps nothing on disk.
fn config(routes: &str, server: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n[store]\nkind = \"memory\"\n[defaults]\ndelivery = \"direct\"\n\n{routes}"
    )
}

fn signed(id: &str, padding: usize) -> (Vec<(String, String)>, String) {
    let body = chamelio_event(id, -1, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(padding)));
    (chamelio_headers(SECRET, &body), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_forwards_complete_then_exits_0() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(1200), 200));
    let mut proc = Proc::start(
        "term",
        &config(&route("a", &upstream), "drain_timeout = \"10s\""),
    );
    let url = proc.url("/webhooks/a");
    let pending: Vec<_> = (0..3)
        .map(|i| {
            let (h, b) = signed(&format!("evt_term_{i}"), 0);
            let url = url.clone();
            tokio::spawn(async move { post(&url, &h, b).await.status })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proc.signal("TERM");
    proc.wait_for_log("shutting down", Duration::from_secs(5));
    // No new connections once draining has begun.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(proc.addr).await.is_err());

    for p in pending {
        assert_eq!(
            p.await.unwrap(),
            200,
            "an accepted request was answered from its outcome"
        );
    }
    assert_eq!(upstream.count(), 3);
    let status = tokio::task::spawn_blocking(move || {
        let status = proc.wait(Duration::from_secs(10));
        (status, proc)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_reload_apply_a_valid_file_and_refuse_an_invalid_one() {
    let upstream = Upstream::start().await;
    let proc = Proc::start("hup", &config(&route("a", &upstream), ""));
    let (h, b) = signed("evt_hup_1", 0);
    assert_eq!(
        post(&proc.url("/webhooks/a"), &h, b.clone()).await.status,
        200
    );
    assert_eq!(
        post(&proc.url("/webhooks/b"), &h, b.clone()).await.status,
        404
    );

    // A valid file with a second route, by SIGHUP.
    let two = format!("{}\n{}", route("a", &upstream), route("b", &upstream));
    std::fs::write(&proc.config, config(&two, "")).unwrap();
    proc.signal("HUP");
    proc.wait_for_log("configuration reloaded", Duration::from_secs(5));
    assert_eq!(
        post(&proc.url("/webhooks/b"), &h, b.clone()).await.status,
        200
    );
    // The dedupe memory survived the reload for the route that still exists.
    assert_eq!(
        post(&proc.url("/webhooks/a"), &h, b.clone()).await.json()["status"],
        "duplicate"
    );

    // An invalid file: refused with its located error, and the running routes stay.
    let broken = two.replace("provider = \"chamelio\"", "provder = \"chamelio\"");
    std::fs::write(&proc.config, config(&broken, "")).unwrap();
    proc.signal("HUP");
    let line = proc.wait_for_log("configuration error", Duration::from_secs(5));
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("hookgate.toml:"), "{error}");
    assert!(error.contains("did you mean \"provider\""), "{error}");
    // Logged after the errors (one line each): wait for it rather than race the log reader.
    proc.wait_for_log("reload refused", Duration::from_secs(5));
    assert_eq!(proc.log_count("reload refused"), 1);
    let (h2, b2) = signed("evt_hup_2", 0);
    assert_eq!(post(&proc.url("/webhooks/b"), &h2, b2).await.status, 200);

    // `hookgate reload` reports the same refusal and exits 1, then succeeds once the file is fixed.
    let admin = proc.admin.unwrap().to_string();
    let run = |admin: String| {
        Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["reload", "--admin", &admin])
            .env("HOOKGATE_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let out = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || run(admin)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean \"provider\""));

    std::fs::write(&proc.config, config(&route("a", &upstream), "")).unwrap();
    let out = tokio::task::spawn_blocking(move || run(admin))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "reloaded: 1 route\n");
    let (h3, b3) = signed("evt_hup_3", 0);
    assert_eq!(post(&proc.url("/webhooks/b"), &h3, b3).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_while_saturated() {
    let upstream = Upstream::start().await;
    let server =
        "max_in_flight = 16\nmax_receiving = 16\nmax_connections = 256\nmax_body = \"256KiB\"";
    let proc = Proc::start("mem", &config(&route("a", &upstream), server));
    let url = proc.url("/webhooks/a");

    // Warm up: one of everything, so allocator arenas and pools exist before the baseline.
    let (h, b) = signed("evt_warm", 100_000);
    assert_eq!(post(&url, &h, b).await.status, 200);
    let baseline = proc.rss_kib();

    // Waves of 200 concurrent 200 KB deliveries against 16 places. The upstream holds what reaches it
    // until every other request of the wave has been answered, so exactly 16 per wave get through and
    // the rest are shed, however fast or slow the machine is.
    let mut statuses = std::collections::BTreeMap::new();
    for wave in 0..3 {
        upstream.hold();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..200 {
            let (h, b) = signed(&format!("evt_mem_{wave}_{i}"), 200_000);
            let (url, tx) = (url.clone(), tx.clone());
            tokio::spawn(async move {
                let _ = tx.send(post(&url, &h, b).await.status);
            });
        }
        drop(tx);
        let mut shed = 0;
        while shed < 184 {
            let status = rx.recv().await.expect("every request is answered");
            assert_eq!(
                status, 503,
                "only the 16 held requests may get anything but 503"
            );
            shed += 1;
            *statuses.entry(status).or_insert(0) += 1;
        }
        upstream.release();
        while let Some(status) = rx.recv().await {
            *statuses.entry(status).or_insert(0) += 1;
        }
    }
    let after = proc.rss_kib();
    assert_eq!(statuses.get(&503), Some(&(3 * 184)), "{statuses:?}");
    assert_eq!(statuses.get(&200), Some(&(3 * 16)), "{statuses:?}");
    assert_eq!(upstream.count(), 1 + 3 * 16);
    // 600 bodies of 200 KB were sent (120 MB); the gateway's memory grew by far less.
    let growth = after.saturating_sub(baseline);
    eprintln!("saturation: RSS {baseline} KiB -> {after} KiB; statuses {statuses:?}");
    assert!(
        growth < 40 * 1024,
        "RSS grew {growth} KiB ({baseline} -> {after}); {statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_the_middle_of_100_deliveries_acknowledges_only_what_was_delivered() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Slow(Duration::from_millis(800), 200));
    let mut proc = Proc::start(
        "term100",
        &config(&route("a", &upstream), "drain_timeout = \"20s\""),
    );
    let url = proc.url("/webhooks/a");
    let pending: Vec<_> = (0..100)
        .map(|i| {
            let id = format!("evt_t100_{i}");
            let (h, b) = signed(&id, 0);
            let url = url.clone();
            tokio::spawn(async move { (id, post_or_error(&url, &h, b).await) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proc.signal("TERM");
    let mut acknowledged = std::collections::BTreeSet::new();
    for p in pending {
        let (id, status) = p.await.unwrap();
        if status == Some(200) {
            acknowledged.insert(id);
        }
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = proc.wait(Duration::from_secs(30));
        (status, proc)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(0));
    let delivered: std::collections::BTreeSet<String> = upstream
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        upstream.count(),
        delivered.len(),
        "nothing was delivered twice"
    );
    assert!(
        acknowledged.is_subset(&delivered),
        "acknowledged but not delivered: {:?}",
        acknowledged.difference(&delivered).collect::<Vec<_>>()
    );
    // With a drain long enough, every request the gateway had accepted was finished and answered.
    assert_eq!(acknowledged, delivered);
    assert_eq!(acknowledged.len(), 100);
}

/// POSTs, returning the status, or None when the connection failed.
async fn post_or_error(url: &str, headers: &[(String, String)], body: String) -> Option<u16> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder().method("POST").uri(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = client
        .request(req.body(Full::new(bytes::Bytes::from(body))).unwrap())
        .await
        .ok()?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await.ok()?;
    Some(status)
}

/// Logs written to a pipe or a file (docker, systemd, a log shipper) carry no terminal colour codes.
#[test]
fn human_logs_to_a_pipe_have_no_colour_codes() {
    let dir = std::env::temp_dir().join(format!("hookgate-proc-ansi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hookgate.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nkind = \"memory\"\n[defaults]\ndelivery = \"direct\"\n\n[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookgate starts");
    let stderr = child.stderr.take().unwrap();
    let line = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("listening"));
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let line = line.expect("the listening line is logged");
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
    assert!(line.contains("INFO"), "{line}");
}

/// Sends a request to the admin listener with the given extra headers.
async fn admin(proc: &Proc, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let url = format!("http://{}{path}", proc.admin.unwrap());
    send(method, &url, &hdrs(headers), "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_refuses_strangers_foreign_hosts_and_cross_site_posts() {
    let upstream = Upstream::start().await;
    let proc = Proc::start(
        "admin",
        &config(&route("a", &upstream), "header_timeout = \"1s\""),
    );
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    // Reads on loopback need no token; a foreign Host (DNS rebinding) is refused.
    assert_eq!(admin(&proc, "GET", "/metrics", &[]).await.status, 200);
    let rebound = admin(&proc, "GET", "/metrics", &[("host", "evil.example:8079")]).await;
    assert_eq!(rebound.status, 403);
    // Changing state needs the token; a page elsewhere cannot post a reload, token or not.
    let r = admin(&proc, "POST", "/reload", &[("content-type", "text/plain")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer realm=\"hookgate admin\""
    );
    let wrong = admin(
        &proc,
        "POST",
        "/reload",
        &[("authorization", "Bearer not-the-token-at-all")],
    )
    .await;
    assert_eq!(wrong.status, 401);
    let cross = admin(
        &proc,
        "POST",
        "/reload",
        &[
            ("content-type", "text/plain"),
            ("origin", "http://evil.example"),
            ("authorization", &bearer),
        ],
    )
    .await;
    assert_eq!(cross.status, 403);
    assert_eq!(
        proc.log_count("configuration reloaded"),
        0,
        "no refused request reloaded"
    );
    let ok = admin(&proc, "POST", "/reload", &[("authorization", &bearer)]).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    proc.wait_for_log("configuration reloaded", Duration::from_secs(5));

    // A half-sent request head is cut off at the header timeout, as on the public listener.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(proc.admin.unwrap())
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the admin listener kept a half-sent head open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_admin_listener_reachable_from_other_hosts_needs_a_token() {
    let dir = std::env::temp_dir().join(format!("hookgate-proc-exposed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hookgate.toml");
    let base = "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nkind = \"memory\"\n[defaults]\ndelivery = \"direct\"\n[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n";
    std::fs::write(&path, format!("{base}[admin]\nlisten = \"0.0.0.0:0\"\n")).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(64));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("admin.listen: admin.listen 0.0.0.0:0 can be reached from other hosts"),
        "{err}"
    );
    assert!(err.contains("set admin.token"), "{err}");
    // The same through --admin-listen on a file that keeps admin on loopback.
    std::fs::write(&path, base).unwrap();
    let serve = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["serve", "--admin-listen", "0.0.0.0:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("set admin.token"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log lines whose message is exactly `message`, with their event ids.
fn lines(proc: &Proc, message: &str) -> Vec<String> {
    proc.logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l["message"] == message)
        .map(|l| l["event_id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_off_silences_delivered_lines_of_queued_events_but_never_failed_attempts() {
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(404));
    let queued = |log: bool| {
        config(
            &format!(
                "{}delivery = \"queued\"\nretry_schedule = [\"200ms\"]\n",
                route("a", &upstream)
            ),
            &format!("access_log = {log}"),
        )
        .replace("kind = \"memory\"", "path = \"$DIR/data\"")
    };
    let mut proc = Proc::start("quiet", &queued(false));
    let (h, b) = signed("evt_quiet_1", 0);
    assert_eq!(post(&proc.url("/webhooks/a"), &h, b).await.status, 200);
    proc.wait_for_log("delivery failed; retrying", Duration::from_secs(20));
    upstream.set(Behavior::Answer(200));
    until(
        Duration::from_secs(20),
        || upstream.count() >= 2,
        || format!("the upstream has {} of 2", upstream.count()),
    )
    .await;
    // Draining waits for the attempt under way, so its line, if any, comes before "stopped".
    proc.signal("TERM");
    assert!(proc.wait(Duration::from_secs(20)).success());
    proc.wait_for_log("stopped", Duration::from_secs(5));
    assert_eq!(lines(&proc, "delivery failed; retrying"), ["evt_quiet_1"]);
    assert!(lines(&proc, "delivered").is_empty(), "{:?}", proc.logs);

    // The same store with the access log on: the delivered event gets its line.
    std::fs::write(
        &proc.config,
        queued(true).replace("$DIR", &proc.dir.display().to_string()),
    )
    .unwrap();
    let proc = proc.restart();
    let (h, b) = signed("evt_quiet_2", 0);
    assert_eq!(post(&proc.url("/webhooks/a"), &h, b).await.status, 200);
    let line = proc.wait_for_log("delivered", Duration::from_secs(20));
    assert_eq!(line["event_id"], "evt_quiet_2");
    assert_eq!(line["attempt"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_written_wrongly_appears_in_no_answer_and_no_log_line() {
    const LITERAL: &str = "literal-secret-c0ffee-4242";
    let upstream = Upstream::start().await;
    let proc = Proc::start("leak", &config(&route("a", &upstream), ""));
    // The list brackets forgotten.
    let broken = format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = \"{LITERAL}\"\nupstream = \"{}\"\n",
        upstream.url()
    );
    std::fs::write(&proc.config, config(&broken, "")).unwrap();
    // POST /reload answers the errors...
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let r = admin(&proc, "POST", "/reload", &[("authorization", &bearer)]).await;
    assert_eq!(r.status, 422);
    let answer = String::from_utf8_lossy(&r.body).to_string();
    assert!(answer.contains("routes.a.secrets"), "{answer}");
    assert!(
        !answer.contains(LITERAL),
        "the answer echoes the secret: {answer}"
    );
    // ...and so do the log lines of a reload by SIGHUP.
    proc.signal("HUP");
    let started = Instant::now();
    while proc.log_count("reload refused") < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no second refusal logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = serde_json::to_string(&*proc.logs.lock().unwrap()).unwrap();
    assert!(logs.contains("routes.a.secrets"), "{logs}");
    assert!(
        !logs.contains(LITERAL),
        "a log line echoes the secret: {logs}"
    );
    // `hookgate check` prints the same errors, without the secret.
    let check = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&proc.config)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(64));
    let printed = String::from_utf8_lossy(&check.stderr);
    assert!(
        printed.contains("routes.a.secrets: expected a list"),
        "{printed}"
    );
    assert!(
        !printed.contains(LITERAL),
        "check echoes the secret: {printed}"
    );
    // A URL's credentials, a malformed reference in a secret, a token of the wrong type.
    let more = format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{LITERAL}${{\"]\nupstream = \"ftp://svc:{LITERAL}@internal/\"\nverify_token = \"${{{LITERAL} x}}\"\n"
    );
    std::fs::write(&proc.config, config(&more, "")).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(["check", "--config"])
        .arg(&proc.config)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&check.stderr);
    assert!(
        printed.contains("routes.a.upstream: \"ftp://<redacted>@internal/\""),
        "{printed}"
    );
    assert!(
        printed.contains("routes.a.secrets[0]: an unclosed"),
        "{printed}"
    );
    assert!(printed.contains("routes.a.verify_token:"), "{printed}");
    assert!(
        !printed.contains(LITERAL),
        "check echoes the secret: {printed}"
    );
}
