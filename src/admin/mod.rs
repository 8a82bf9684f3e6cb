//! The admin listener: metrics, health, readiness and reload, behind the access rules of `auth`.
//!
//! It shares the public listener's connection handling (header and idle timeouts, HTTP/1.1 and
//! HTTP/2) but nothing of the request pipeline. This module knows nothing about verification.

mod api;
mod auth;
mod stream;
mod ui;

pub use auth::Auth;

use crate::config::ServerConfig;
use crate::pipeline::Gateway;
use crate::server::{ReloadRequest, Timeouts, http_builder};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// What the admin endpoints read and act on.
pub struct State {
    pub gateway: Arc<Gateway>,
    pub ready: Arc<AtomicBool>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub auth: Auth,
}

/// Admin connections open at most; beyond this new ones are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// The admin listener: `GET /metrics`, `/healthz`, `/readyz`; `POST /reload`. Connections get the
/// public listener's header and idle timeouts, and at most `MAX_CONNECTIONS` are open.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    server: ServerConfig,
    stop: CancellationToken,
) {
    let builder = Arc::new(http_builder(&server));
    let timeouts = Timeouts {
        header: server.header_timeout,
        idle: server.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let state = state.clone();
        let builder = builder.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handler = move |req: Request<Incoming>, _gone: CancellationToken| {
                let state = state.clone();
                async move { respond(req, &state).await }
            };
            crate::server::serve(stream, peer, &builder, timeouts, stop, handler).await;
        });
    }
}

/// Every admin answer's body: whole (most), or a stream (`/api/stream`).
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A whole body.
pub fn whole(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into()).boxed()
}

async fn respond(req: Request<Incoming>, state: &State) -> Response<Body> {
    let text = |status: StatusCode, content_type: &'static str, body: String| {
        let mut r = Response::new(whole(body));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        r
    };
    let plain = "text/plain; charset=utf-8";
    if let Err(refused) = state
        .auth
        .check(req.method(), req.uri().path(), req.headers())
    {
        let mut r = text(refused.status, plain, refused.message.to_string());
        if refused.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"hookgate admin\""),
            );
        }
        return r;
    }
    let (parts, body) = req.into_parts();
    if let Some(answer) = ui::handle(&parts.method, parts.uri.path()) {
        return answer;
    }
    if let Some(answer) = api::handle(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        body,
        state,
    )
    .await
    {
        return answer;
    }
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/metrics") => {
            let gateway = &state.gateway;
            let metrics = gateway.metrics();
            metrics.record_dedupe(&gateway.dedupe().per_route());
            metrics.record_published(&gateway.published());
            metrics.in_flight.set(gateway.in_flight() as i64);
            metrics
                .stream_readers
                .set(gateway.recent().readers() as i64);
            metrics
                .record_store(gateway.store(), gateway.workers())
                .await;
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics.encode(),
            )
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, plain, "ok\n".into()),
        (&Method::GET, "/readyz") if state.ready.load(Ordering::Acquire) => {
            text(StatusCode::OK, plain, "ready\n".into())
        }
        (&Method::GET, "/readyz") => {
            text(StatusCode::SERVICE_UNAVAILABLE, plain, "not ready\n".into())
        }
        (&Method::POST, "/reload") => {
            let (tx, rx) = oneshot::channel();
            if state.reload.send(tx).await.is_err() {
                return text(
                    StatusCode::NOT_IMPLEMENTED,
                    plain,
                    "this gateway was not started from a file; nothing to reload\n".into(),
                );
            }
            match rx.await {
                Ok(Ok(done)) => text(StatusCode::OK, plain, format!("{done}\n")),
                Ok(Err(why)) => text(StatusCode::UNPROCESSABLE_ENTITY, plain, format!("{why}\n")),
                Err(_) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    "the gateway is shutting down\n".into(),
                ),
            }
        }
        (_, "/metrics" | "/healthz" | "/readyz") => {
            text(StatusCode::METHOD_NOT_ALLOWED, plain, "GET only\n".into())
        }
        (_, "/reload") => text(StatusCode::METHOD_NOT_ALLOWED, plain, "POST only\n".into()),
        _ => text(StatusCode::NOT_FOUND, plain, "not found\n".into()),
    }
}
