//! Real servers on ephemeral ports: a recording upstream that misbehaves on command, the gateway itself,
//! and a small HTTP client. Nothing here waits with sleeps for readiness: listeners are bound before
//! anything is sent to them.

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the upstream received JSON")
    }
}

/// How the upstream answers.
#[derive(Debug, Clone, Copy)]
pub enum Behavior {
    Answer(u16),
    /// Wait, then answer.
    Slow(Duration, u16),
    /// Hold every request until `Upstream::release`, then answer 200.
    Hold,
    /// Answer the first `n` requests this upstream receives with `status`, then 200.
    First(usize, u16),
}

/// A real HTTP server that records every request.
pub struct Upstream {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behavior: Arc<Mutex<Behavior>>,
    gate: Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// On an ephemeral port, never one `free_port` handed out: another test's gateway may still be
    /// delivering there (to an upstream it was told is down), and this one would count its events.
    pub async fn start() -> Upstream {
        let mut passed = Vec::new();
        loop {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            if !HANDED_OUT.lock().unwrap().contains(&port) {
                return Self::start_on(listener);
            }
            // Held until a port is found, so that the same one is not offered again.
            passed.push(listener);
        }
    }

    pub fn start_on(listener: TcpListener) -> Upstream {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(Behavior::Answer(200)));
        let gate = Arc::new(tokio::sync::watch::Sender::new(false));
        let (r, b, g) = (received.clone(), behavior.clone(), gate.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, b, g) = (r.clone(), b.clone(), g.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (r, b, g) = (r.clone(), b.clone(), g.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let nth = {
                                let mut r = r.lock().unwrap();
                                r.push(Received {
                                    path: parts.uri.path().to_string(),
                                    headers: parts.headers,
                                    body,
                                });
                                r.len()
                            };
                            let behavior = *b.lock().unwrap();
                            let status = match behavior {
                                Behavior::Answer(s) => s,
                                Behavior::Slow(d, s) => {
                                    tokio::time::sleep(d).await;
                                    s
                                }
                                Behavior::Hold => {
                                    let mut open = g.subscribe();
                                    let _ = open.wait_for(|o| *o).await;
                                    200
                                }
                                Behavior::First(n, s) if nth <= n => s,
                                Behavior::First(..) => 200,
                            };
                            let mut resp =
                                Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
                            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            received,
            behavior,
            gate,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub fn set(&self, behavior: Behavior) {
        *self.behavior.lock().unwrap() = behavior;
    }

    /// Lets the requests held by `Behavior::Hold` (and any later ones) be answered.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }

    /// Requests received so far are held again from now on (after a `release`).
    pub fn hold(&self) {
        self.gate.send_replace(false);
        self.set(Behavior::Hold);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The whole configuration for `Gateway::start`.
fn config_text(routes: &str, server: &str) -> String {
    let direct = if routes.contains("[store]") {
        ""
    } else {
        "\n[store]\nkind = \"memory\"\n[defaults]\ndelivery = \"direct\"\n"
    };
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{server}\n{routes}{direct}")
}

/// The gateway, started in-process from configuration text on an ephemeral port.
pub struct Gateway {
    pub addr: SocketAddr,
    pub handle: Option<hookgate::server::Handle>,
    server: hookgate::config::ServerConfig,
    env: HashMap<String, String>,
}

fn parse_config(
    text: &str,
    vars: &HashMap<String, String>,
) -> Result<hookgate::config::Config, String> {
    hookgate::config::parse("test.toml", text, &|k| vars.get(k).cloned()).map_err(|e| e.to_string())
}

impl Gateway {
    /// Starts the gateway on `routes` (TOML). `server` lines are added to `[server]`. Unless `routes`
    /// has a `[store]` of its own, the gateway keeps nothing on disk and delivers directly (the
    /// upstream's answer is the vendor's), which most tests are about.
    pub async fn start(routes: &str, server: &str, env: &[(&str, &str)]) -> Gateway {
        let text = config_text(routes, server);
        let vars: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = parse_config(&text, &vars)
            .unwrap_or_else(|e| panic!("test configuration is invalid:\n{e}\n{text}"));
        let server = config.server.clone();
        let handle = hookgate::server::start(config).await.unwrap();
        Gateway {
            addr: handle.addr(),
            handle: Some(handle),
            server,
            env: vars,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn handle(&self) -> &hookgate::server::Handle {
        self.handle.as_ref().expect("running")
    }

    /// Reloads from new configuration text (the same shape as `start` takes).
    pub fn reload(&mut self, routes: &str, server: &str) -> Result<String, String> {
        let text = config_text(routes, server);
        let config = parse_config(&text, &self.env)?;
        let next = config.server.clone();
        let result = self.handle().reload(config, &self.server);
        if result.is_ok() {
            self.server = next;
        }
        result
    }

    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }
}

/// An answer from the gateway.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error` field of a rejection.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends a request and reads the whole answer.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = client()
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .expect("the gateway answers");
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub async fn post(url: &str, headers: &[(String, String)], body: impl Into<Bytes>) -> Reply {
    send("POST", url, headers, body).await
}

/// `(name, value)` pairs as owned strings.
pub fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// HMAC-SHA256 of `body` as lower-case hex, computed here with the hmac crate directly (not with the
/// gateway's templates), the way the vendors' documentation computes it.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A Chamelio event body (vendor-docs/chamelio.txt) for `id`, stamped `offset_secs` from now, with
/// `data` as its data object.
pub fn chamelio_event(id: &str, offset_secs: i64, data: &str) -> String {
    format!(
        r#"{{"event":"core.document.uploaded","event_id":"{id}","timestamp":"{}","data":{data}}}"#,
        rfc3339(offset_secs)
    )
}

/// The headers Chamelio sends with `body`: its content type and the hex HMAC-SHA256 under `secret`.
pub fn chamelio_headers(secret: &str, body: &str) -> Vec<(String, String)> {
    hdrs(&[
        ("content-type", "application/json"),
        (
            "x-chamelio-signature",
            &format!("sha256={}", hmac_sha256_hex(secret, body.as_bytes())),
        ),
    ])
}

/// A fresh Chamelio delivery of `id`: its signed headers and its body.
pub fn chamelio_delivery(secret: &str, id: &str) -> (Vec<(String, String)>, String) {
    let body = chamelio_event(id, -1, "{}");
    (chamelio_headers(secret, &body), body)
}

/// An RFC 3339 time `offset` from now (negative: in the past).
pub fn rfc3339(offset_secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs);
    t.round(jiff::Unit::Second).unwrap().to_string()
}

/// A port nothing listens on (bound, then released). Tests point gateways at it as an upstream that
/// is down, and some keep delivering to it for many seconds, so `Upstream::start` never takes it.
pub async fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    HANDED_OUT.lock().unwrap().push(addr.port());
    addr
}

/// Ports `free_port` handed out, for the lifetime of the test binary.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// The value of one sample line in an exposition.
pub fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no sample {prefix} in\n{text}"))
}

impl Gateway {
    /// The admin listener's `/metrics` text (the gateway must have an `[admin]` listener).
    pub async fn metrics(&self) -> String {
        let admin = self.handle().admin_addr().expect("an admin listener");
        let r = send("GET", &format!("http://{admin}/metrics"), &[], "").await;
        assert_eq!(r.status, 200);
        String::from_utf8(r.body.to_vec()).unwrap()
    }
}

/// Polls `what` until it holds, failing after `limit` (bounds are generous: they only catch hangs).
pub async fn until(limit: Duration, mut what: impl FnMut() -> bool, describe: impl Fn() -> String) {
    let started = std::time::Instant::now();
    while !what() {
        assert!(
            started.elapsed() < limit,
            "not within {limit:?}: {}",
            describe()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh directory for one test's data, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "hookgate-it-{name}-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// A `[store]` table keeping the store in this directory.
    pub fn store(&self, extra: &str) -> String {
        format!("\n[store]\npath = \"{}\"\n{extra}\n", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// A `hookgate serve` process on a configuration file of its own.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub logs: Arc<Mutex<Vec<serde_json::Value>>>,
    /// What the process printed on standard output (the envelopes of `upstream = "stdout"`), by line.
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub config: PathBuf,
    pub dir: PathBuf,
}

/// How to start the real binary beyond its configuration file: where, with which environment, and
/// with which extra `serve` arguments.
#[derive(Default)]
pub struct Launch<'a> {
    pub cwd: Option<&'a std::path::Path>,
    pub env: &'a [(&'a str, &'a str)],
    pub args: &'a [&'a str],
}

impl Proc {
    /// Starts `hookgate serve` on `config`, in a directory of its own (removed when dropped).
    pub fn start(name: &str, config: &str) -> Proc {
        let dir = std::env::temp_dir().join(format!("hookgate-proc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hookgate.toml");
        std::fs::write(&path, config.replace("$DIR", &dir.display().to_string())).unwrap();
        Proc::launch(path, dir)
    }

    /// Starts the process again on the same file and directory (after it exited or was killed).
    pub fn restart(mut self) -> Proc {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (config, dir) = (self.config.clone(), self.dir.clone());
        // The directory must outlive this handle.
        self.dir = PathBuf::new();
        Proc::launch(config, dir)
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    fn launch(path: PathBuf, dir: PathBuf) -> Proc {
        Proc::launch_with(path, dir, Launch::default())
    }

    /// Starts `hookgate serve` on the file at `path` as `how` says; `dir` is removed when dropped.
    pub fn launch_with(path: PathBuf, dir: PathBuf, how: Launch<'_>) -> Proc {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookgate"));
        command
            .args(["serve", "--log-format", "json", "--config"])
            .arg(&path)
            .args(how.args)
            .envs(how.env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cwd) = how.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().expect("hookgate starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let printed = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                printed.lock().unwrap().push(line);
            }
        });
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
            stdout,
            config: path,
            dir,
        };
        // A bound for a start on a loaded machine: with the other tests' fsyncs queued on the same
        // disk, opening a new store has taken more than 10 s (a CI run on 2026-12-01).
        let line = proc.wait_for_log("hookgate is listening", Duration::from_secs(60));
        proc.addr = line["addr"].as_str().unwrap().parse().unwrap();
        proc.admin = line["admin"].as_str().and_then(|a| a.parse().ok());
        proc
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first log line (after `skip` lines) whose message contains `text`.
    pub fn wait_for_log(&self, text: &str, limit: Duration) -> serde_json::Value {
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

    pub fn log_count(&self, text: &str) -> usize {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
            .count()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {name} failed");
    }

    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
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
    pub fn rss_kib(&self) -> u64 {
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
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A `redis-server` of the test's own, on a free port, with its data in a directory of its own and
/// every write fsynced before it answers (`appendonly yes`, `appendfsync always`). It can be stopped
/// and started again on the same port and data.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
}

impl RedisServer {
    pub async fn start(name: &str) -> RedisServer {
        let port = free_port().await.port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: TempDir::new(&format!("redis-{name}")),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it answers PING.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.ping().await {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if s.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf).await, Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// Stops the server (SIGTERM, as an operator would), and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
