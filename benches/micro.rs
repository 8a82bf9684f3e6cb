//! Micro-benchmarks of the request path's pieces: `cargo bench --bench micro`.
//!
//! Verification per scheme against the physical limit, a plain HMAC-SHA256 of the same bytes with the
//! key prepared once; the dedupe claim and commit with a million events remembered; the CloudEvents
//! envelope, which splices the verified body rather than re-serializing it. Figures and what they
//! bought are in BENCHMARKS.md.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hookgate::envelope::{self, Attributes, Mode};
use hookgate::replay::{Claim, Dedupe, EventKey, Keys};
use hookgate::routes::Route;
use sha2::Sha256;
use std::time::Duration;

/// The allocator the gateway's binary uses (src/main.rs), so that allocations cost here what they
/// cost in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Every benchmark times batches of the same size, so that the baseline and the checks carry the
    // same timer overhead per iteration (divan would otherwise pick smaller batches for slower
    // functions). Command-line options still override these.
    divan::Divan::default()
        .sample_count(500)
        .sample_size(20)
        .config_with_args()
        .main();
}

const SIZES: [usize; 2] = [1024, 64 * 1024];
const SECRET: &str = "bench-secret";

/// A JSON event of about `size` bytes with an id, a type and a time.
fn body(size: usize) -> String {
    let head = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"invoice.paid","created":1767225600,"timestamp":"2026-01-01T00:00:00Z","data":{"object":{"customer":"cus_9s6XKzkNRiz8i3","pad":""#;
    let tail = r#""}}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    hex::encode(m.finalize().into_bytes())
}

/// A route verifying a hex HMAC of the body in `x-sig` (`sha256=` prefix), with `event` as its event
/// table (GitHub-like).
fn body_hmac_route(event: &str) -> String {
    format!(
        "[routes.b]\nsecrets = [\"{SECRET}\"]\n[routes.b.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"x-sig\"\nprefix = \"sha256=\"\n[routes.b.event]\n{event}"
    )
}

fn route(toml: &str) -> Route {
    // The route's own keys go right after its header, before any sub-table.
    let text = toml.replacen("[routes.b]\n", "[routes.b]\nupstream = \"stdout\"\n", 1);
    let mut config = hookgate::config::parse("bench.toml", &text, &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.routes.pop().unwrap()
}

struct Case {
    route: Route,
    parts: http::request::Parts,
    body: Bytes,
}

impl Case {
    fn new(route_toml: &str, headers: &[(&str, String)], body: String) -> Case {
        let mut b = http::Request::builder()
            .method("POST")
            .uri("/webhooks/b")
            .header("content-type", "application/json");
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        let case = Case {
            route: route(route_toml),
            parts: b.body(()).unwrap().into_parts().0,
            body: Bytes::from(body),
        };
        case.route
            .verifier
            .verify(&case.parts, case.body.clone())
            .expect("the bench delivery verifies");
        case
    }

    fn run(&self) {
        let v = self.route.verifier.verify(&self.parts, self.body.clone());
        divan::black_box(v.unwrap());
    }
}

/// The physical limit: HMAC-SHA256 of the body with the key schedule prepared once.
#[divan::bench(args = SIZES)]
fn hmac_sha256_baseline(bencher: divan::Bencher, size: usize) {
    let prepared = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    let body = Bytes::from(body(size));
    bencher
        .counter(divan::counter::BytesCount::new(size))
        .bench(|| {
            let mut m = prepared.clone();
            m.update(divan::black_box(&body));
            divan::black_box(m.finalize().into_bytes())
        });
}

mod verify {
    use super::*;

    /// HMAC of the raw body in a header, event fields from the body (GitHub, Chamelio, Shopify...).
    #[divan::bench(args = SIZES)]
    fn body_hmac_hex(bencher: divan::Bencher, size: usize) {
        let b = body(size);
        let sig = format!("sha256={}", hmac_hex(SECRET.as_bytes(), &[b.as_bytes()]));
        let case = Case::new(
            &body_hmac_route(
                "id = \"body:/id\"\ntype = \"body:/type\"\ntime = \"body:/timestamp\"",
            ),
            &[("x-sig", sig)],
            b,
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| case.run());
    }

    /// The signature check alone: a body HMAC in a header, no event fields to extract and a
    /// non-JSON body, so nothing but the MAC is computed over the body (the 1.2x target).
    #[divan::bench(args = SIZES)]
    fn signature_only(bencher: divan::Bencher, size: usize) {
        let b = body(size);
        let sig = format!("sha256={}", hmac_hex(SECRET.as_bytes(), &[b.as_bytes()]));
        let mut case = Case::new(
            &format!(
                "[routes.b]\nsecrets = [\"{SECRET}\"]\n[routes.b.event]\nid = \"header:x-id\"\n[routes.b.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"x-sig\"\nprefix = \"sha256=\""
            ),
            &[("x-sig", sig), ("x-id", "evt_1".to_string())],
            b,
        );
        case.parts.headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/octet-stream"),
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| case.run());
    }

    /// The prepared key's MAC of the body and its constant-time comparison with a decoded signature:
    /// what `signature_only` costs without reading the request.
    #[divan::bench(args = SIZES)]
    fn mac_and_compare(bencher: divan::Bencher, size: usize) {
        use hookgate::verify::mac::Algorithm;
        use hookgate::verify::{Encoding, Key};
        let key = Key::new(
            Algorithm::HmacSha256,
            &hookgate::secret::Secret::new(SECRET.as_bytes().to_vec()),
        );
        let b = Bytes::from(body(size));
        let sig = hmac_hex(SECRET.as_bytes(), &[&b]);
        let presented = [Encoding::Hex.decode_inline(&sig).unwrap()];
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| {
                let matched: Result<bool, ()> = key.matches_any(&presented, |sink| {
                    sink(divan::black_box(&b));
                    Ok(())
                });
                assert!(matched.unwrap());
            });
    }

    /// Stripe: `t=...,v1=...` with the timestamp signed before the body.
    #[divan::bench(args = SIZES)]
    fn stripe(bencher: divan::Bencher, size: usize) {
        let b = body(size);
        let t = "1767225600";
        let sig = hmac_hex(SECRET.as_bytes(), &[t.as_bytes(), b".", b.as_bytes()]);
        let case = Case::new(
            &format!("[routes.b]\nprovider = \"stripe\"\nsecrets = [\"{SECRET}\"]"),
            &[("stripe-signature", format!("t={t},v1={sig}"))],
            b,
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| case.run());
    }

    /// Standard Webhooks: base64 key, id and timestamp headers, base64 signature list.
    #[divan::bench(args = SIZES)]
    fn standard_webhooks(bencher: divan::Bencher, size: usize) {
        use base64::Engine;
        let b = body(size);
        let key = b"bench standard webhooks key 32by";
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        let (id, t) = ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "1767225600");
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(format!("{id}.{t}.").as_bytes());
        m.update(b.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
        let case = Case::new(
            &format!("[routes.b]\nprovider = \"standard-webhooks\"\nsecrets = [\"{secret}\"]"),
            &[
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", format!("v1,{sig}")),
            ],
            b,
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| case.run());
    }

    /// Discord: Ed25519 over timestamp and body.
    #[divan::bench(args = SIZES)]
    fn ed25519(bencher: divan::Bencher, size: usize) {
        use ed25519_dalek::{Signer, SigningKey};
        let b = body(size);
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let t = "1767225600";
        let sig = key.sign(format!("{t}{b}").as_bytes());
        let case = Case::new(
            &format!(
                "[routes.b]\nprovider = \"discord\"\npublic_key = \"{}\"",
                hex::encode(key.verifying_key().as_bytes())
            ),
            &[
                ("x-signature-timestamp", t.to_string()),
                ("x-signature-ed25519", hex::encode(sig.to_bytes())),
            ],
            b,
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| case.run());
    }

    /// A forged signature: what a flood of bad requests costs.
    #[divan::bench(args = SIZES)]
    fn rejection(bencher: divan::Bencher, size: usize) {
        let b = body(size);
        let good = format!("sha256={}", hmac_hex(SECRET.as_bytes(), &[b.as_bytes()]));
        let case = Case::new(&body_hmac_route("id = \"body:/id\""), &[("x-sig", good)], b);
        let mut parts = case.parts.clone();
        parts.headers.insert(
            "x-sig",
            format!("sha256={}", "0".repeat(64)).parse().unwrap(),
        );
        bencher
            .counter(divan::counter::BytesCount::new(size))
            .bench(|| {
                let r = case.route.verifier.verify(&parts, case.body.clone());
                divan::black_box(r.unwrap_err());
            });
    }
}

/// Claim and commit of a new event with a million events already remembered.
#[divan::bench(sample_count = 20, sample_size = 1000)]
fn dedupe_claim_commit_at_1m(bencher: divan::Bencher) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let dedupe = Dedupe::new();
    dedupe.configure(&[(std::sync::Arc::from("bench"), 1_100_000)]);
    let ttl = Duration::from_secs(86_400);
    runtime.block_on(async {
        for i in 0..1_000_000u64 {
            let key = Keys::id_only(EventKey::new("bench", &i.to_string()));
            if let Ok(Claim::Fresh(c)) = dedupe.claim("bench", key, ttl).await {
                c.commit(ttl);
            }
        }
    });
    let mut next = 1_000_000u64;
    bencher
        .with_inputs(|| {
            next += 1;
            Keys::id_only(EventKey::new("bench", &next.to_string()))
        })
        .bench_local_values(|key| {
            runtime.block_on(async {
                match dedupe.claim("bench", key, ttl).await {
                    Ok(Claim::Fresh(c)) => c.commit(ttl),
                    _ => panic!("fresh keys are fresh"),
                }
            })
        });
}

/// The CloudEvents envelope around a verified body.
#[divan::bench(args = SIZES)]
fn envelope_cloudevents(bencher: divan::Bencher, size: usize) {
    let b = body(size);
    let sig = format!("sha256={}", hmac_hex(SECRET.as_bytes(), &[b.as_bytes()]));
    let case = Case::new(
        &body_hmac_route("id = \"body:/id\"\ntype = \"body:/type\"\ntime = \"body:/timestamp\""),
        &[("x-sig", sig)],
        b,
    );
    let event = case
        .route
        .verifier
        .verify(&case.parts, case.body.clone())
        .unwrap();
    let attrs = Attributes {
        source: "bench",
        fallback_type: "hookgate.webhook",
    };
    bencher
        .counter(divan::counter::BytesCount::new(size))
        .bench(|| divan::black_box(envelope::build(Mode::CloudEvents, &event, &attrs)));
}
