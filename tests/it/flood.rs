//! Availability under a flood, over real sockets: HTTP/2 connections that open every stream they may
//! and never finish a body cannot lock genuine vendors out, during the attack or after it, because a
//! client holds at most its share of the places and a closed connection gives its places back at once.

use crate::harness::*;
use bytes::Bytes;
use http_body::{Body, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const SECRET: &str = "flood-secret";

/// A request body that sends one byte of the thousand it announced, then nothing, forever.
struct Stall {
    sent: bool,
}

impl Body for Stall {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
    }
}

/// One attacking h2c connection from 127.0.0.2, with `streams` stalled requests open on it. Aborting
/// the returned tasks closes the connection.
async fn attack(gateway: SocketAddr, streams: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(gateway).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Stall>(TokioIo::new(stream))
        .await
        .unwrap();
    let mut tasks = vec![tokio::spawn(async move {
        let _ = conn.await;
    })];
    for _ in 0..streams {
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::post(format!("http://{gateway}/webhooks/a"))
                .header("content-type", "application/json")
                .header("content-length", "1000")
                .body(Stall { sent: false })
                .unwrap();
            if sender.ready().await.is_ok() {
                let _ = sender.send_request(req).await;
            }
        }));
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_http2_streams_cannot_lock_vendors_out_during_or_after_the_attack() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    // The default limits, with a body timeout long enough that only a closed connection can explain
    // places coming back within the test.
    let gw = Gateway::start(&routes, "body_timeout = \"120s\"", &[]).await;
    let admission = gw.handle().gateway().admission().clone();

    // 17 connections of 256 streams each: more than every place the gateway has.
    let mut attackers = Vec::new();
    for _ in 0..17 {
        attackers.push(attack(gw.addr, 256).await);
    }
    let share = 512;
    until(
        Duration::from_secs(60),
        || admission.receiving() >= share,
        || format!("{} receiving", admission.receiving()),
    )
    .await;
    // The attacker holds its whole share and no more; genuine deliveries from another address go
    // through while it does.
    assert_eq!(admission.receiving(), share);
    for i in 0..20 {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_during_{i}"));
        let r = post(&gw.url("/webhooks/a"), &h, b).await;
        assert_eq!(r.status, 200, "during the attack: {:?}", r.body);
    }
    assert_eq!(
        admission.receiving(),
        share,
        "the attack is still under way"
    );

    // The attacker hangs up: every place it held is given back at once, not at the body timeout.
    let closed = Instant::now();
    for task in attackers.iter().flatten() {
        task.abort();
    }
    until(
        Duration::from_secs(10),
        || admission.receiving() == 0 && admission.in_flight() == 0,
        || {
            format!(
                "{} receiving, {} in flight",
                admission.receiving(),
                admission.in_flight()
            )
        },
    )
    .await;
    eprintln!(
        "places given back {:?} after the attacker hung up",
        closed.elapsed()
    );
    for i in 0..20 {
        let (h, b) = chamelio_delivery(SECRET, &format!("evt_after_{i}"));
        assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
    }
    assert_eq!(
        upstream.count(),
        40,
        "nothing of the attack reached the upstream"
    );
    gw.stop().await;
}
