//! Whole requests as the server reads them: any bytes are parsed with httparse (hyper's own parser)
//! into a request head and a body, and a parsed request goes through the gateway's pipeline (routing,
//! client address and X-Forwarded-For, request id, handshakes, body limits, verification, window).
//! Every request ends in a status of the table; nothing panics.
#![no_main]

use bytes::Bytes;
use hookgate::pipeline::Gateway;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const ROUTES: &str = r#"
[server]
trusted_proxies = ["10.0.0.0/8"]
max_body = "4KiB"
[store]
kind = "memory"
[defaults]
delivery = "direct"
[routes.chamelio]
provider = "chamelio"
secrets = ["s"]
upstream = "http://127.0.0.1:1/"
[routes.github]
provider = "github"
secrets = ["s"]
upstream = "http://127.0.0.1:1/"
allow_ips = ["10.1.0.0/16"]
[routes.twilio]
provider = "twilio"
secrets = ["s"]
public_url = "https://hooks.example.com/webhooks/twilio"
upstream = "http://127.0.0.1:1/"
[routes.meta]
provider = "meta"
secrets = ["s"]
verify_token = "tok"
upstream = "http://127.0.0.1:1/"
[routes.slack]
provider = "slack"
secrets = ["s"]
upstream = "http://127.0.0.1:1/"
[routes.zoom]
provider = "zoom"
secrets = ["s"]
upstream = "http://127.0.0.1:1/"
"#;

struct World {
    runtime: tokio::runtime::Runtime,
    gateway: Arc<Gateway>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = hookgate::config::parse("fuzz.toml", ROUTES, &|_| None).unwrap();
        let metrics = Arc::new(hookgate::metrics::Metrics::new());
        let gateway = runtime.block_on(async { Arc::new(Gateway::new(config, metrics).await.unwrap()) });
        World { runtime, gateway }
    })
}

const STATUSES: &[u16] = &[200, 204, 400, 401, 403, 404, 405, 408, 413, 502, 503, 504];

fuzz_target!(|data: &[u8]| {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(data) else {
        return;
    };
    let (Some(method), Some(path)) = (parsed.method, parsed.path) else {
        return;
    };
    let mut builder = http::Request::builder().method(method).uri(path);
    for h in parsed.headers.iter() {
        builder = builder.header(h.name, h.value);
    }
    let body = Bytes::copy_from_slice(&data[head_len..]);
    // What hyper would refuse before the service sees it is not a request the pipeline gets.
    let Ok(req) = builder.body(http_body_util::Full::new(body)) else {
        return;
    };
    let w = world();
    let peer = if data.len() % 2 == 0 { "10.0.0.1:5000" } else { "203.0.113.9:5000" };
    let gone = tokio_util::sync::CancellationToken::new();
    let response = w
        .runtime
        .block_on(w.gateway.handle(req, peer.parse().unwrap(), &gone));
    let status = response.status().as_u16();
    assert!(STATUSES.contains(&status), "status {status}");
});
