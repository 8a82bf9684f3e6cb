//! The request id and the in-flight bound; and the pipeline as a whole never panics: arbitrary
//! requests, some correctly signed, each end in one of the statuses of the table.

use super::*;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use proptest::prelude::*;

const SECRET: &str = "pipeline-secret";

#[test]
fn request_ids_are_the_senders_when_printable_else_fresh_hex() {
    let mut headers = http::HeaderMap::new();
    let fresh = request_id(&headers);
    assert_eq!(fresh.len(), 32);
    assert!(
        fresh
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(fresh, request_id(&headers), "each fresh id is new");
    headers.insert(REQUEST_ID, HeaderValue::from_static("req-123"));
    assert_eq!(request_id(&headers), "req-123");
    for bad in ["a b", "", &"x".repeat(129)] {
        headers.insert(REQUEST_ID, HeaderValue::from_str(bad).unwrap());
        assert_eq!(request_id(&headers).len(), 32, "{bad:?} is replaced");
    }
}

fn gateway() -> Arc<Gateway> {
    // Port 1 refuses connections, so forwarding fails fast instead of printing or waiting.
    let text = format!(
        r#"
[store]
kind = "memory"
[defaults]
delivery = "direct"
[routes.chamelio]
provider = "chamelio"
secrets = ["{SECRET}"]
upstream = "http://127.0.0.1:1/"
[routes.slack]
provider = "slack"
secrets = ["{SECRET}"]
upstream = "http://127.0.0.1:1/"
[routes.meta]
provider = "meta"
secrets = ["{SECRET}"]
verify_token = "tok"
upstream = "http://127.0.0.1:1/"
[routes.twilio]
provider = "twilio"
secrets = ["{SECRET}"]
public_url = "https://example.com/hook"
upstream = "http://127.0.0.1:1/"
"#
    );
    let config = crate::config::parse("t.toml", &text, &|_| None).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Arc::new(
        runtime
            .block_on(Gateway::new(config, Arc::new(Metrics::new())))
            .unwrap(),
    )
}

fn request() -> impl Strategy<Value = (String, String, Vec<(String, String)>, Vec<u8>, bool)> {
    (
        prop::sample::select(vec!["POST", "GET", "HEAD", "PUT", "OPTIONS"]).prop_map(str::to_string),
        prop_oneof![
            prop::sample::select(vec![
                "/webhooks/chamelio",
                "/webhooks/slack",
                "/webhooks/meta?hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1",
                "/webhooks/twilio?a=1",
                "/healthz",
            ])
            .prop_map(str::to_string),
            "/[a-z/%?=&]{0,30}",
        ],
        proptest::collection::vec(
            (
                prop::sample::select(vec![
                    "content-type",
                    "x-chamelio-signature",
                    "x-slack-signature",
                    "x-slack-request-timestamp",
                    "x-forwarded-for",
                    "x-request-id",
                    "content-length",
                    "x-twilio-signature",
                ])
                .prop_map(str::to_string),
                "[ -~]{0,80}",
            ),
            0..6,
        ),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            "\\{\"event\":\"[a-z.]{0,10}\",\"event_id\":\"[a-z0-9]{0,8}\",\"timestamp\":\"2026-01-01T00:00:00Z\"\\}"
                .prop_map(String::into_bytes),
        ],
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_request_makes_the_pipeline_panic((method, path, headers, body, sign) in request()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let gw = gateway();
        let mut b = Request::builder().method(method.as_str()).uri(path.as_str());
        for (k, v) in &headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if sign {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&body);
            b = b.header(
                "x-chamelio-signature",
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            );
        }
        let Ok(req) = b.body(Full::new(Bytes::from(body))) else {
            return Ok(()); // not a request hyper would hand over
        };
        let peer: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let status = runtime.block_on(gw.handle(req, peer, &CancellationToken::new())).status().as_u16();
        prop_assert!(
            [200, 400, 401, 403, 404, 405, 408, 413, 502, 503, 504].contains(&status),
            "status {}", status
        );
    }
}
