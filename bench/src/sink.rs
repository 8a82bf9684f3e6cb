//! The upstream of the load benchmark: answers every POST with 204 and keeps count of what it was sent,
//! so the benchmark can check that each accepted delivery arrived exactly once.
//!
//! `sink ADDR`. `GET /stats` answers `{"total":N,"distinct":D}`: requests received, and distinct event
//! ids among them (the first `"id":"..."` of each body: the CloudEvents id in hookgate's envelopes, the
//! vendor's own id in the raw bodies the reference proxies forward), kept as 64-bit hashes. `POST /reset`
//! clears both.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::collections::HashSet;
use std::convert::Infallible;
use std::rc::Rc;

/// Distinct ids are kept as 64-bit hashes in a set sized up front, so that a long run never pauses to
/// rehash millions of entries (which would show up as latency of the gateway under test).
struct Seen {
    total: u64,
    ids: HashSet<u64>,
}

const EXPECTED_IDS: usize = 8 << 20;

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            total: 0,
            ids: HashSet::with_capacity(EXPECTED_IDS),
        }
    }
}

fn id_hash(id: &[u8]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(id)
}

fn event_id(body: &[u8]) -> Option<&[u8]> {
    let key = b"\"id\":\"";
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    Some(&body[start..start + len])
}

async fn handle(
    req: Request<Incoming>,
    seen: Rc<RefCell<Seen>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        Ok(r)
    };
    match (req.method().clone(), req.uri().path()) {
        (Method::GET, "/stats") => {
            let s = seen.borrow();
            reply(
                StatusCode::OK,
                format!("{{\"total\":{},\"distinct\":{}}}", s.total, s.ids.len()),
            )
        }
        (Method::POST, "/reset") => {
            *seen.borrow_mut() = Seen::default();
            reply(StatusCode::OK, String::new())
        }
        _ => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return reply(StatusCode::BAD_REQUEST, String::new()),
            };
            let mut s = seen.borrow_mut();
            s.total += 1;
            if let Some(id) = event_id(&body) {
                s.ids.insert(id_hash(id));
            }
            reply(StatusCode::NO_CONTENT, String::new())
        }
    }
}

fn main() {
    let addr: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9801".into())
        .parse()
        .expect("sink ADDR");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let seen = Rc::new(RefCell::new(Seen::default()));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let seen = seen.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| handle(req, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
