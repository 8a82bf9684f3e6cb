//! Fault injection: an upstream that misbehaves on command, over real sockets. For every fault the
//! vendor gets a status that makes it retry (or stop, for a 4xx the upstream chose), the event is not
//! remembered as delivered unless the upstream accepted it, and the next delivery goes through.

use crate::harness::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "faults-secret";

/// What the faulty upstream does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A correct 200 on a keep-alive connection.
    Healthy,
    /// Reads the request, then resets the connection.
    Reset,
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Sends a status line and headers, then stalls.
    Stall,
    /// Answers this status.
    Status(u16),
    /// Answers 200 claiming keep-alive, then closes the connection at once.
    CloseAfterAnswer,
}

/// A raw-socket upstream that counts the requests it answered with 2xx.
struct FaultyUpstream {
    addr: std::net::SocketAddr,
    fault: Arc<Mutex<Fault>>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and Content-Length body); false at end of stream.
async fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

impl FaultyUpstream {
    async fn start() -> FaultyUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fault = Arc::new(Mutex::new(Fault::Healthy));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (f, a) = (fault.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                let (f, a) = (f.clone(), a.clone());
                tokio::spawn(async move {
                    while read_request(&mut s).await {
                        let fault = *f.lock().unwrap();
                        match fault {
                            Fault::Healthy => {
                                a.fetch_add(1, Ordering::SeqCst);
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                    .await;
                            }
                            Fault::Reset => {
                                let _ = s.set_zero_linger();
                                return;
                            }
                            Fault::Garbage => {
                                let _ = s
                                    .write_all(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff garbage\r\n\r\n")
                                    .await;
                                return;
                            }
                            Fault::Stall => {
                                let _ = s
                                    .write_all(
                                        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial",
                                    )
                                    .await;
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                return;
                            }
                            Fault::Status(code) => {
                                if (200..300).contains(&code) {
                                    a.fetch_add(1, Ordering::SeqCst);
                                }
                                let body = format!("{{\"status\":{code}}}");
                                let reply = format!(
                                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                let _ = s.write_all(reply.as_bytes()).await;
                            }
                            Fault::CloseAfterAnswer => {
                                a.fetch_add(1, Ordering::SeqCst);
                                let _ = s
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                    .await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        FaultyUpstream {
            addr,
            fault,
            accepted,
            task,
        }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn delivery(id: &str) -> (Vec<(String, String)>, String) {
    chamelio_delivery(SECRET, id)
}

async fn gateway(upstream: std::net::SocketAddr) -> Gateway {
    let routes = format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"http://{upstream}/events\"\nforward_timeout = \"1s\"\n"
    );
    Gateway::start(&routes, "", &[]).await
}

/// Sends one delivery while the upstream has `fault`; checks the vendor's answer; then heals the
/// upstream and checks that the vendor's retry of the same event is forwarded (it was not remembered)
/// and that a retry after that is a duplicate.
async fn fault_then_retry(fault: Fault, want_status: u16, want_error: Option<&str>) {
    let upstream = FaultyUpstream::start().await;
    let gw = gateway(upstream.addr).await;
    let url = gw.url("/webhooks/a");
    let id = format!("evt_fault_{fault:?}").replace(['(', ')'], "_");
    let (h, b) = delivery(&id);

    upstream.set(fault);
    let r = post(&url, &h, b.clone()).await;
    assert_eq!(
        r.status,
        want_status,
        "{fault:?}: {:?}",
        String::from_utf8_lossy(&r.body)
    );
    if let Some(e) = want_error {
        assert_eq!(r.error(), e, "{fault:?}");
    }
    let accepted_during_fault = upstream.accepted();

    upstream.set(Fault::Healthy);
    let r = post(&url, &h, b.clone()).await;
    if accepted_during_fault == 0 {
        assert_eq!(
            r.status, 200,
            "{fault:?}: the retry after the fault is forwarded"
        );
        assert_eq!(
            r.body.as_ref(),
            b"ok",
            "{fault:?}: and answered by the upstream"
        );
        assert_eq!(upstream.accepted(), 1);
    } else {
        // The upstream accepted it during the "fault": it is remembered, the retry is a duplicate.
        assert_eq!(r.json()["status"], "duplicate", "{fault:?}");
    }
    let r = post(&url, &h, b).await;
    assert_eq!(
        r.json()["status"],
        "duplicate",
        "{fault:?}: delivered once, then remembered"
    );
    assert_eq!(
        upstream.accepted(),
        1,
        "{fault:?}: exactly one accepted delivery"
    );
    gw.stop().await;
}

#[tokio::test]
async fn connection_refused_gives_502_and_the_retry_goes_through() {
    // A port nothing listens on, then the healthy upstream on a port of its own.
    let dead = free_port().await;
    let gw = gateway(dead).await;
    let (h, b) = delivery("evt_refused");
    let r = post(&gw.url("/webhooks/a"), &h, b).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.error(), "upstream_unreachable");
    assert!(
        !gw.handle()
            .gateway()
            .dedupe()
            .is_delivered("a", &hookgate::replay::EventKey::new("a", "evt_refused"))
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_reset_mid_request_gives_502_and_is_not_remembered() {
    fault_then_retry(Fault::Reset, 502, Some("upstream_failed")).await;
}

#[tokio::test]
async fn garbage_instead_of_http_gives_502_and_is_not_remembered() {
    fault_then_retry(Fault::Garbage, 502, Some("upstream_failed")).await;
}

#[tokio::test]
async fn headers_then_a_stall_gives_504_and_is_not_remembered() {
    fault_then_retry(Fault::Stall, 504, Some("upstream_timeout")).await;
}

#[tokio::test]
async fn an_upstream_5xx_is_relayed_and_not_remembered() {
    fault_then_retry(Fault::Status(503), 503, None).await;
}

#[tokio::test]
async fn an_upstream_4xx_is_relayed_so_the_vendor_stops_and_is_not_remembered() {
    fault_then_retry(Fault::Status(422), 422, None).await;
}

#[tokio::test]
async fn a_keep_alive_connection_closed_by_the_upstream_does_not_lose_the_next_delivery() {
    let upstream = FaultyUpstream::start().await;
    let gw = gateway(upstream.addr).await;
    let url = gw.url("/webhooks/a");
    upstream.set(Fault::CloseAfterAnswer);
    for i in 0..5 {
        let (h, b) = delivery(&format!("evt_close_{i}"));
        let r = post(&url, &h, b).await;
        // The pooled connection the gateway holds was closed under it after each answer; the next
        // request is not lost to it: the pool notices the close and connects afresh.
        assert!(
            r.status == 200 || r.status == 502,
            "delivery {i}: {}",
            r.status
        );
        if r.status == 200 {
            assert_eq!(r.body.as_ref(), b"ok");
        }
    }
    let forwarded = upstream.accepted();
    assert!(
        forwarded >= 4,
        "only {forwarded} of 5 went through a closing upstream"
    );
    // Every one acknowledged was accepted upstream, and nothing was accepted twice.
    upstream.set(Fault::Healthy);
    for i in 0..5 {
        let (h, b) = delivery(&format!("evt_close_{i}"));
        let _ = post(&url, &h, b).await;
    }
    assert_eq!(
        upstream.accepted(),
        5,
        "each event accepted upstream exactly once"
    );
    gw.stop().await;
}
