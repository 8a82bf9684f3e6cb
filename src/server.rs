//! Listeners and connections: accepting, serving HTTP/1.1 and HTTP/2 (h2c by prior knowledge), the
//! admin endpoints, reloading, and draining on shutdown.
//!
//! The request handler (`pipeline::Gateway`) is infallible and owns no sockets; this module owns no
//! routes or vendors. Shutdown stops accepting, lets open connections finish their requests (hyper-util's
//! graceful watcher), then waits for deliveries still being forwarded, all within `drain_timeout`.

use crate::config::{Config, ServerConfig};
use crate::metrics::Metrics;
use crate::pipeline::{Gateway, Live};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running gateway.
pub struct Handle {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    gateway: Arc<Gateway>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    ready: Arc<AtomicBool>,
}

/// Binds the listeners of `config` and starts serving.
pub async fn start(config: Config) -> std::io::Result<Handle> {
    let listener = TcpListener::bind(config.server.listen).await?;
    let admin = match &config.admin {
        Some(a) => Some(TcpListener::bind(a.listen).await?),
        None => None,
    };
    start_on(listener, admin, config)
}

/// Starts serving on listeners that are already bound.
pub fn start_on(
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
) -> std::io::Result<Handle> {
    let addr = listener.local_addr()?;
    let server = config.server.clone();
    let metrics = Arc::new(Metrics::new());
    let gateway = Arc::new(Gateway::new(config, metrics)?);
    let stop = CancellationToken::new();
    let ready = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let mut admin_addr = None;
    if let Some(admin) = admin {
        admin_addr = Some(admin.local_addr()?);
        tasks.push(tokio::spawn(serve_admin(
            admin,
            gateway.clone(),
            ready.clone(),
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(serve_public(
        listener,
        gateway.clone(),
        server,
        stop.clone(),
    )));
    ready.store(true, Ordering::Release);
    Ok(Handle {
        addr,
        admin_addr,
        gateway,
        stop,
        tasks,
        ready,
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

    /// Swaps in the routes of a new, already validated configuration. Listener settings only change
    /// on restart; a change to them is reported and otherwise ignored.
    pub fn reload(&self, config: Config, previous: &ServerConfig) {
        if config.server.listen != previous.listen || config.server.tls != previous.tls {
            tracing::warn!(
                "server.listen and server.tls take effect on restart; reload kept the old listener"
            );
        }
        let routes = config.routes.len();
        self.gateway.swap(Live::new(config.routes, &config.server));
        self.gateway
            .metrics()
            .reloads
            .get_or_create(&crate::metrics::ResultLabels { result: "ok" })
            .inc();
        tracing::info!(routes, "configuration reloaded");
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

fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
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
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

async fn serve_public(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    server: ServerConfig,
    stop: CancellationToken,
) {
    let builder = http_builder(&server);
    let graceful = GracefulShutdown::new();
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
        serve_connection(stream, peer, &builder, &graceful, &gateway);
    }
    drop(listener);
    drain(graceful, &gateway, server.drain_timeout).await;
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    gateway: &Arc<Gateway>,
) {
    let _ = stream.set_nodelay(true);
    let metrics = gateway.metrics().clone();
    metrics.connections.inc();
    metrics.connections_open.inc();
    let gw = gateway.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let gw = gw.clone();
        async move { Ok::<_, Infallible>(gw.handle(req, peer).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let conn = graceful.watch(conn.into_owned());
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
        metrics.connections_open.dec();
    });
}

/// Waits for open connections, then for deliveries still being forwarded, up to `limit` in all.
async fn drain(graceful: GracefulShutdown, gateway: &Gateway, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let deliveries = gateway.deliveries();
    deliveries.close();
    let all = async {
        graceful.shutdown().await;
        deliveries.wait().await;
    };
    if tokio::time::timeout_at(deadline, all).await.is_err() {
        tracing::warn!(
            pending = deliveries.len(),
            "drain_timeout passed with requests still in flight; they are cut off unacknowledged"
        );
    }
}

/// The admin listener: `/metrics`, `/healthz`, `/readyz`.
async fn serve_admin(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    ready: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let gw = gateway.clone();
        let ready = ready.clone();
        let service = service_fn(move |req: Request<Incoming>| {
            let answer = admin_response(&req, &gw, &ready);
            async move { Ok::<_, Infallible>(answer) }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

fn admin_response(
    req: &Request<Incoming>,
    gateway: &Gateway,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        r
    };
    if req.method() != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let metrics = gateway.metrics();
            let dedupe = gateway.dedupe();
            metrics.dedupe_entries.set(dedupe.len() as i64);
            let seen = metrics.dedupe_evictions.get();
            metrics
                .dedupe_evictions
                .inc_by(dedupe.evictions().saturating_sub(seen));
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics.encode(),
            )
        }
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" if ready.load(Ordering::Acquire) => {
            text(StatusCode::OK, "text/plain", "ready\n".into())
        }
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}
