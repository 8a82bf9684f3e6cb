//! A bare forward proxy on hyper 1 and hyper-util's pooled client, verifying nothing: the limit of
//! hookgate's own stack, measured in the same run as hookgate.
//!
//! `bare-proxy LISTEN UPSTREAM_URL`: every request is sent on to UPSTREAM_URL with its method,
//! headers and body, and the upstream's answer is relayed. One thread (the benchmark pins it to one
//! core), HTTP/1.1 keep-alive on both sides.

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Pool = Client<HttpConnector, Full<Bytes>>;

async fn forward(
    req: Request<Incoming>,
    client: Pool,
    upstream: Uri,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    parts.uri = upstream;
    parts.headers.remove(http::header::HOST);
    let answer = match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(r) => r,
        Err(_) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::BAD_GATEWAY;
            return Ok(r);
        }
    };
    let (parts, body) = answer.into_parts();
    Ok(Response::from_parts(
        parts,
        Full::new(body.collect().await?.to_bytes()),
    ))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: std::net::SocketAddr = args
        .next()
        .expect("bare-proxy LISTEN UPSTREAM")
        .parse()
        .unwrap();
    let upstream: Uri = args
        .next()
        .expect("bare-proxy LISTEN UPSTREAM")
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client: Pool = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (client, upstream) = (client.clone(), upstream.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| forward(req, client.clone(), upstream.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
