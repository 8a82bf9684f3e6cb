//! Listeners and connections: accepting (up to `max_connections`), TLS, serving HTTP/1.1 and HTTP/2
//! (ALPN, or h2c by prior knowledge), idle and header timeouts, the admin endpoints, reloading, and
//! draining on shutdown.
//!
//! The request handler (`pipeline::Gateway`) is infallible and owns no sockets; this module owns no
//! routes or vendors. Each connection runs in its own task, watched for shutdown and idleness; shutdown
//! stops accepting, asks every connection to finish the requests it has (HTTP/1.1 stops keep-alive,
//! HTTP/2 sends GOAWAY), then waits for deliveries still being forwarded, all within `drain_timeout`.

use crate::config::{Config, ServerConfig};
use crate::metrics::{Metrics, ResultLabels};
use crate::pipeline::{Gateway, Live};
use crate::tls::CertStore;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often certificate files are checked for a renewal on disk.
const CERT_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Connections refused over `max_connections` that are still being answered at most; beyond this
/// they are closed without an answer.
const MAX_REFUSING: usize = 64;

/// A request to reload the configuration (from the admin endpoint), with where to send the result.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// A running gateway.
pub struct Handle {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    gateway: Arc<Gateway>,
    certs: Option<Arc<CertStore>>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    ready: Arc<AtomicBool>,
    reloads: Mutex<Option<mpsc::Receiver<ReloadRequest>>>,
}

/// Binds the listeners of `config` and starts serving.
/// A listener that cannot be bound is an error that names its address and the key it came from.
pub async fn start(config: Config) -> std::io::Result<Handle> {
    let listener = bind(config.server.listen, "server.listen").await?;
    let admin = match &config.admin {
        Some(a) => Some(bind(a.listen, "admin.listen").await?),
        None => None,
    };
    start_on(listener, admin, config).await
}

async fn bind(addr: std::net::SocketAddr, key: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "; another process listens there (`ss -ltnp` shows which): stop it or choose another port"
            }
            std::io::ErrorKind::PermissionDenied => {
                "; ports below 1024 need privileges: choose a port above 1024"
            }
            _ => "",
        };
        std::io::Error::new(e.kind(), format!("cannot listen on {addr} ({key}): {e}{hint}"))
    })
}

/// Starts serving on listeners that are already bound.
pub async fn start_on(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
) -> std::io::Result<Handle> {
    let addr = listener.local_addr()?;
    let server = config.server.clone();
    let config_admin = config.admin.clone();
    let certs = match &server.tls {
        Some(tls) => Some(CertStore::load(tls).map_err(std::io::Error::other)?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    let gateway = Arc::new(Gateway::new(config, metrics).await?);
    let stop = CancellationToken::new();
    let ready = Arc::new(AtomicBool::new(false));
    let (reload_tx, reload_rx) = mpsc::channel(4);
    let mut tasks = Vec::new();
    let mut admin_addr = None;
    if let Some(admin) = admin {
        admin_addr = Some(admin.local_addr()?);
        let state = crate::admin::State {
            gateway: gateway.clone(),
            ready: ready.clone(),
            reload: reload_tx,
            auth: crate::admin::Auth::new(
                config_admin
                    .as_ref()
                    .expect("an admin listener has its settings"),
            ),
        };
        tasks.push(tokio::spawn(crate::admin::serve(
            admin,
            Arc::new(state),
            server.clone(),
            stop.clone(),
        )));
    }
    if let Some(certs) = &certs {
        tokio::spawn(watch_certificates(
            certs.clone(),
            gateway.clone(),
            stop.clone(),
        ));
    }
    let acceptor = certs
        .as_ref()
        .map(|c| TlsAcceptor::from(Arc::new(c.server_config())));
    tasks.push(tokio::spawn(serve_public(
        listener,
        acceptor,
        gateway.clone(),
        server,
        stop.clone(),
    )));
    ready.store(true, Ordering::Release);
    Ok(Handle {
        addr,
        admin_addr,
        gateway,
        certs,
        stop,
        tasks,
        ready,
        reloads: Mutex::new(Some(reload_rx)),
    })
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Reload requests made on the admin listener (`POST /reload`); whoever owns the configuration
    /// file takes this once and answers them.
    pub fn reload_requests(&self) -> Option<mpsc::Receiver<ReloadRequest>> {
        self.reloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Swaps in a new, already validated configuration: the certificate first (a bad one refuses the
    /// whole reload, keeping everything as it was), then the routes. Requests under way finish on the
    /// routes they started with. Listener settings change only on restart; a change to them is
    /// reported and otherwise ignored.
    pub fn reload(&self, config: Config, previous: &ServerConfig) -> Result<String, String> {
        let metrics = self.gateway.metrics();
        let refuse = |why: String| {
            metrics
                .reloads
                .get_or_create(&ResultLabels { result: "invalid" })
                .inc();
            Err(why)
        };
        match (&self.certs, &config.server.tls) {
            (Some(certs), Some(tls)) => {
                if let Err(e) = certs.reload(tls) {
                    return refuse(format!("the new certificate was refused: {e}"));
                }
            }
            (None, None) => {}
            _ => tracing::warn!("turning TLS on or off takes effect on restart"),
        }
        let restart_only = [
            (config.server.listen != previous.listen, "listen"),
            (
                config.server.max_connections != previous.max_connections,
                "max_connections",
            ),
            (
                config.server.max_in_flight != previous.max_in_flight,
                "max_in_flight",
            ),
            (
                config.server.max_receiving != previous.max_receiving,
                "max_receiving",
            ),
            (
                config.server.max_in_flight_per_client != previous.max_in_flight_per_client,
                "max_in_flight_per_client",
            ),
            (
                config.server.max_concurrent_streams != previous.max_concurrent_streams,
                "max_concurrent_streams",
            ),
            (
                config.server.dedupe_capacity != previous.dedupe_capacity,
                "dedupe_capacity",
            ),
            (
                config.server.header_timeout != previous.header_timeout,
                "header_timeout",
            ),
            (
                config.server.idle_timeout != previous.idle_timeout,
                "idle_timeout",
            ),
            (
                config.server.max_header_size != previous.max_header_size,
                "max_header_size",
            ),
            (
                config.server.pool != previous.pool,
                "upstream pool settings",
            ),
        ];
        for (changed, key) in restart_only {
            if changed {
                tracing::warn!(
                    key,
                    "server.{key} takes effect on restart; the running value is kept"
                );
            }
        }
        let routes = config.routes.len();
        self.gateway.swap(Live::new(config.routes, &config.server));
        metrics
            .reloads
            .get_or_create(&ResultLabels { result: "ok" })
            .inc();
        tracing::info!(routes, "configuration reloaded");
        Ok(format!(
            "reloaded: {routes} route{}",
            if routes == 1 { "" } else { "s" }
        ))
    }

    /// Stops accepting, drains, and returns when everything has finished or `drain_timeout` passed.
    pub async fn shutdown(self) {
        self.ready.store(false, Ordering::Release);
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

pub(crate) fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_timeout)
        .max_buf_size(server.max_header_size.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(server.max_header_size).unwrap_or(u32::MAX))
        .max_concurrent_streams(server.max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// The per-connection settings.
#[derive(Clone, Copy)]
pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

async fn serve_public(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    gateway: Arc<Gateway>,
    server: ServerConfig,
    stop: CancellationToken,
) {
    let builder = Arc::new(http_builder(&server));
    let timeouts = Timeouts {
        header: server.header_timeout,
        idle: server.idle_timeout,
    };
    let connections = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let metrics = gateway.metrics();
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            refuse(stream, tls.is_some(), &refusing);
            continue;
        };
        connections.spawn(connection(
            stream,
            peer,
            tls.clone(),
            builder.clone(),
            gateway.clone(),
            timeouts,
            stop.clone(),
            slot,
        ));
    }
    drop(listener);
    drain(connections, &gateway, server.drain_timeout).await;
}

/// A connection over `max_connections`: plain HTTP gets the 503 a saturated request would, then the
/// socket is closed; TLS connections are closed at once (no answer is possible before a handshake).
fn refuse(stream: TcpStream, tls: bool, refusing: &Arc<Semaphore>) {
    if tls {
        return;
    }
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let answer = crate::outcome::overloaded_http1();
        let exchange = async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            // Read what the client sent, so closing does not reset the connection under the answer.
            let mut sink = [0u8; 4096];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), exchange).await;
    });
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    gateway: Arc<Gateway>,
    timeouts: Timeouts,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let metrics = gateway.metrics().clone();
    metrics.connections.inc();
    metrics.connections_open.inc();
    let handler = move |req: Request<Incoming>, gone: CancellationToken| {
        let gateway = gateway.clone();
        async move { gateway.handle(req, peer, &gone).await }
    };
    match tls {
        None => serve(stream, peer, &builder, timeouts, stop, handler).await,
        Some(acceptor) => {
            // The handshake gets the header timeout: a slow one is the TLS form of slowloris.
            match tokio::time::timeout(timeouts.header, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve(stream, peer, &builder, timeouts, stop, handler).await,
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
    metrics.connections_open.dec();
}

/// When a connection last finished a request, and how many it is handling now.
struct Activity {
    started: Instant,
    active: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn idle_for(&self) -> Duration {
        if self.active.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last)
    }
}

/// Counts a request as active until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Busy {
        activity.active.fetch_add(1, Ordering::AcqRel);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.started.elapsed().as_millis() as u64;
        self.0.last_ms.store(now, Ordering::Release);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves HTTP on one connection until it ends: closed by the client, idle for `idle_timeout` with no
/// request under way, or asked to finish by shutdown. `handler` answers each request; the token it is
/// given is cancelled when the connection goes away, so that requests of a closed connection (HTTP/2
/// streams run in tasks of their own) stop waiting for their bodies and give their places back.
pub(crate) async fn serve<S, H, Fut, B>(
    stream: S,
    peer: SocketAddr,
    builder: &auto::Builder<TokioExecutor>,
    timeouts: Timeouts,
    stop: CancellationToken,
    handler: H,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Arc::new(Activity {
        started: Instant::now(),
        active: AtomicUsize::new(0),
        last_ms: AtomicU64::new(0),
    });
    let tracked = activity.clone();
    let gone = CancellationToken::new();
    let _gone_on_return = gone.clone().drop_guard();
    let service = service_fn(move |req: Request<Incoming>| {
        let busy = Busy::new(&tracked);
        let answer = handler(req, gone.clone());
        async move {
            let response = answer.await;
            drop(busy);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let tick = (timeouts.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = ticker.tick(), if !closing => {
                if activity.idle_for() >= timeouts.idle {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Waits for open connections, then for deliveries still being forwarded and queued-delivery
/// attempts under way, up to `limit` in all. The delivery workers start no new attempt from the
/// moment draining begins; queued events that were not attempted stay in the store for the next start.
async fn drain(connections: TaskTracker, gateway: &Gateway, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let detached = gateway.detached();
    connections.close();
    detached.close();
    if let Some(workers) = gateway.workers() {
        workers.stop();
    }
    let attempts = gateway.workers().map(|w| w.attempts());
    let all = async {
        connections.wait().await;
        detached.wait().await;
        if let Some(a) = attempts {
            a.wait().await;
        }
    };
    if tokio::time::timeout_at(deadline, all).await.is_err() {
        tracing::warn!(
            connections = connections.len(),
            deliveries = detached.len(),
            attempts = attempts.map_or(0, |a| a.len()),
            "drain_timeout passed with requests still in flight; they are cut off unacknowledged (queued events stay queued)"
        );
    }
}

/// Re-reads the certificate when its files change on disk.
async fn watch_certificates(certs: Arc<CertStore>, gateway: Arc<Gateway>, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(CERT_CHECK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        let metrics = gateway.metrics();
        match certs.reload_if_changed() {
            None => {}
            Some(Ok(())) => {
                metrics
                    .certificate_reloads
                    .get_or_create(&ResultLabels { result: "ok" })
                    .inc();
                tracing::info!(
                    "certificate files changed on disk; new connections use the new certificate"
                );
            }
            Some(Err(e)) => {
                metrics
                    .certificate_reloads
                    .get_or_create(&ResultLabels { result: "invalid" })
                    .inc();
                tracing::error!(error = %e, "certificate files changed but cannot be used; the old certificate stays in service");
            }
        }
    }
}
