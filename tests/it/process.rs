//! The built binary as an operator runs it, with real signals: SIGTERM drains in-flight forwards and
//! exits 0; SIGHUP and `hookgate reload` apply a valid file and refuse an invalid one with its error;
//! memory stays flat while the gateway is saturated.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "process-secret";

/// A `hookgate serve` process on a configuration file of its own.
struct Proc {
    child: Child,
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    logs: Arc<Mutex<Vec<serde_json::Value>>>,
    config: PathBuf,
    dir: PathBuf,
}

impl Proc {
    fn start(name: &str, config: &str) -> Proc {
        let dir = std::env::temp_dir().join(format!("hookgate-proc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hookgate.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hookgate starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "message": line }));
                sink.lock().unwrap().push(value);
            }
        });
        let mut proc = Proc {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            admin: None,
            logs,
            config: path,
            dir,
        };
        let line = proc.wait_for_log("hookgate is listening", Duration::from_secs(10));
        proc.addr = line["addr"].as_str().unwrap().parse().unwrap();
        proc.admin = line["admin"].as_str().and_then(|a| a.parse().ok());
        proc
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first log line (after `skip` lines) whose message contains `text`.
    fn wait_for_log(&self, text: &str, limit: Duration) -> serde_json::Value {
        let started = Instant::now();
        loop {
            if let Some(l) = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            {
                return l.clone();
            }
            assert!(
                started.elapsed() < limit,
                "no log line containing {text:?} in {limit:?}; logs: {:?}",
                self.logs.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_count(&self, text: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            .count()
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {name} failed");
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "hookgate did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn route(name: &str, upstream: &Upstream) -> String {
    format!(
        "[routes.{name}]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    )
}

fn config(routes: &str, server: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server}\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{routes}"
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
    assert_eq!(proc.log_count("reload refused"), 1);
    let (h2, b2) = signed("evt_hup_2", 0);
    assert_eq!(post(&proc.url("/webhooks/b"), &h2, b2).await.status, 200);

    // `hookgate reload` reports the same refusal and exits 1, then succeeds once the file is fixed.
    let admin = proc.admin.unwrap().to_string();
    let run = |admin: String| {
        Command::new(env!("CARGO_BIN_EXE_hookgate"))
            .args(["reload", "--admin", &admin])
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
    upstream.set(Behavior::Slow(Duration::from_millis(800), 200));
    let server = "max_in_flight = 16\nmax_connections = 256\nmax_body = \"256KiB\"";
    let proc = Proc::start("mem", &config(&route("a", &upstream), server));
    let url = proc.url("/webhooks/a");

    // Warm up: one of everything, so allocator arenas and pools exist before the baseline.
    let (h, b) = signed("evt_warm", 100_000);
    upstream.set(Behavior::Answer(200));
    assert_eq!(post(&url, &h, b).await.status, 200);
    upstream.set(Behavior::Slow(Duration::from_millis(800), 200));
    let baseline = proc.rss_kib();

    // Waves of 200 concurrent 200 KB deliveries against 16 slots.
    let mut statuses = std::collections::BTreeMap::new();
    for wave in 0..3 {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (h, b) = signed(&format!("evt_mem_{wave}_{i}"), 200_000);
                let url = url.clone();
                tokio::spawn(async move { post(&url, &h, b).await.status })
            })
            .collect();
        for t in tasks {
            *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
        }
    }
    let after = proc.rss_kib();
    let overloaded = statuses.get(&503).copied().unwrap_or(0);
    assert!(overloaded >= 500, "expected most to be shed: {statuses:?}");
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
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
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
