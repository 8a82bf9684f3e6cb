//! Envelope building around any verified body: the CloudEvent is always valid JSON, its data is the
//! body itself (as JSON when the body is JSON, else as text or base64), and the raw mode keeps the bytes.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use hookgate::envelope::{self, Attributes, Mode};
use hookgate::routes::Route;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn route() -> &'static Route {
    static ROUTE: OnceLock<Route> = OnceLock::new();
    ROUTE.get_or_init(|| {
        let text = "[routes.r]\nsecrets = [\"k\"]\nupstream = \"stdout\"\n[routes.r.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"x-sig\"\n[routes.r.event]\nid = \"header:x-id\"\ntype = \"header:x-type\"\n";
        hookgate::config::parse("fuzz.toml", text, &|_| None)
            .unwrap()
            .routes
            .pop()
            .unwrap()
    })
}

#[derive(Arbitrary, Debug)]
struct Input {
    content_type: String,
    id: String,
    kind: String,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
    mac.update(&input.body);
    let sig = hex::encode(mac.finalize().into_bytes());
    let mut b = http::Request::builder().method("POST").uri("/").header("x-sig", sig);
    for (name, value) in [("content-type", &input.content_type), ("x-id", &input.id), ("x-type", &input.kind)] {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            b = b.header(name, v);
        }
    }
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let event = route()
        .verifier
        .verify(&parts, Bytes::from(input.body.clone()))
        .expect("a correctly signed body verifies");
    let attrs = Attributes { source: "fuzz", fallback_type: "hookgate.webhook" };
    let ce = envelope::build(Mode::CloudEvents, &event, &attrs);
    let value: serde_json::Value =
        serde_json::from_slice(&ce.body).expect("the CloudEvent is JSON");
    assert_eq!(value["specversion"], "1.0");
    if event.is_json() {
        let body: serde_json::Value = serde_json::from_slice(&input.body).unwrap();
        assert_eq!(value["data"], body);
    } else if let Some(text) = value["data"].as_str() {
        assert_eq!(text.as_bytes(), &input.body[..]);
    } else {
        assert!(value["data_base64"].is_string());
    }
    let raw = envelope::build(Mode::Raw, &event, &attrs);
    assert_eq!(&raw.body[..], &input.body[..]);
});
