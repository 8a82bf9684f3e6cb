//! The five documented vendors end to end: a signed delivery arrives upstream once, as the right
//! CloudEvent; duplicates are acknowledged and not forwarded; retries of an old event are accepted where
//! the vendor signs the event time. Signatures are computed as each vendor's page shows (HMAC-SHA256 of
//! the raw body, hex), with the hmac crate directly.

use crate::harness::*;

/// How one vendor signs and shapes its deliveries, from `vendor-docs/`.
struct Vendor {
    preset: &'static str,
    header: &'static str,
    prefix: &'static str,
    /// A body for an event that happened at `time`; `n` makes it unique.
    body: fn(time: &str, n: u32) -> String,
    /// The CloudEvents id expected for that body (`None`: the body's SHA-256).
    id: fn(n: u32) -> Option<String>,
    kind: &'static str,
    /// Whether the signed time is the event's (kept on retries) rather than the attempt's.
    signs_event_time: bool,
    /// The CloudEvents `time` is the body's timestamp.
    has_time: bool,
}

const SECRET: &str = "vendor-secret-for-tests";

type Headers = Vec<(String, String)>;

fn vendors() -> Vec<Vendor> {
    vec![
        // vendor-docs/chamelio.txt: "X-Chamelio-Signature: sha256=<hmac_hex_digest>", common envelope.
        Vendor {
            preset: "chamelio",
            header: "X-Chamelio-Signature",
            prefix: "sha256=",
            body: |t, n| {
                format!(
                    r#"{{"event":"core.document.uploaded","event_id":"evt_01HXYZ{n:010}","organization_id":"org_abc123","timestamp":"{t}","data":{{"document_id":"doc_1"}}}}"#
                )
            },
            id: |n| Some(format!("evt_01HXYZ{n:010}")),
            kind: "core.document.uploaded",
            signs_event_time: true,
            has_time: true,
        },
        // vendor-docs/chamelingo.txt: payload format and "sha256=<HMAC-SHA256 hex digest>".
        Vendor {
            preset: "chamelingo",
            header: "X-Chamelingo-Signature",
            prefix: "sha256=",
            body: |t, n| {
                format!(
                    r#"{{"event":"deck.updated","timestamp":"{t}","data":{{"deck_id":"clxyz{n}","action":"created"}}}}"#
                )
            },
            id: |_| None,
            kind: "deck.updated",
            signs_event_time: true,
            has_time: true,
        },
        // vendor-docs/chameleon.txt: request body schema (id, sent_at, kind, data), hex signature.
        Vendor {
            preset: "chameleon",
            header: "X-Chameleon-Signature",
            prefix: "",
            body: |t, n| {
                format!(
                    r#"{{"id":"5f3c4232c712de66563{n:05}","sent_at":"{t}","kind":"response.finished","data":{{"response":{{"id":"r1"}}}}}}"#
                )
            },
            id: |n| Some(format!("5f3c4232c712de66563{n:05}")),
            kind: "response.finished",
            signs_event_time: false,
            has_time: false,
        },
        // vendor-docs/docintell.txt: document.processing.completed example, "sha256=..." header.
        Vendor {
            preset: "docintell",
            header: "X-DocIntell-Signature",
            prefix: "sha256=",
            body: |t, n| {
                format!(
                    r#"{{"event":"document.processing.completed","timestamp":"{t}","data":{{"document_id":"660e8400-e29b-41d4-a716-4466554{n:05}","status":"completed","page_count":12}}}}"#
                )
            },
            id: |_| None,
            kind: "document.processing.completed",
            signs_event_time: true,
            has_time: true,
        },
        // vendor-docs/archivus.txt: event payload (id, type, timestamp, data), "sha256=" comparison.
        Vendor {
            preset: "archivus",
            header: "X-Archivus-Signature",
            prefix: "sha256=",
            body: |t, n| {
                format!(
                    r#"{{"id":"event_abc{n}","type":"document.processed","timestamp":"{t}","data":{{"document_id":"doc_abc123","status":"completed"}}}}"#
                )
            },
            id: |n| Some(format!("event_abc{n}")),
            kind: "document.processed",
            signs_event_time: true,
            has_time: true,
        },
    ]
}

impl Vendor {
    fn route(&self, upstream: &str) -> String {
        format!(
            "[routes.{p}]\nprovider = \"{p}\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{upstream}\"\n",
            p = self.preset
        )
    }

    fn sign(&self, body: &str) -> Vec<(String, String)> {
        let sig = format!(
            "{}{}",
            self.prefix,
            hmac_sha256_hex(SECRET, body.as_bytes())
        );
        vec![
            ("content-type".into(), "application/json".into()),
            (self.header.into(), sig),
        ]
    }

    fn path(&self) -> String {
        format!("/webhooks/{}", self.preset)
    }
}

#[tokio::test]
async fn each_vendor_delivery_arrives_once_as_the_right_cloudevent() {
    let upstream = Upstream::start().await;
    let routes: String = vendors().iter().map(|v| v.route(&upstream.url())).collect();
    let gw = Gateway::start(&routes, "", &[]).await;
    for (i, v) in vendors().iter().enumerate() {
        let n = i as u32;
        let time = rfc3339(-10);
        let body = (v.body)(&time, n);
        let reply = post(&gw.url(&v.path()), &v.sign(&body), body.clone()).await;
        assert_eq!(reply.status, 200, "{}: {:?}", v.preset, reply.body);
        assert_eq!(
            upstream.count(),
            i + 1,
            "{}: forwarded exactly once",
            v.preset
        );

        let got = upstream.received().pop().unwrap();
        assert_eq!(got.path, "/events");
        assert_eq!(got.headers["content-type"], "application/cloudevents+json");
        let ce = got.json();
        let expected_id = (v.id)(n).unwrap_or_else(|| hookgate::verify::body_hash(body.as_bytes()));
        assert_eq!(ce["specversion"], "1.0", "{}", v.preset);
        assert_eq!(ce["id"], expected_id.as_str(), "{}", v.preset);
        assert_eq!(ce["source"], v.preset, "{}", v.preset);
        assert_eq!(ce["type"], v.kind, "{}", v.preset);
        assert_eq!(ce["datacontenttype"], "application/json", "{}", v.preset);
        if v.has_time {
            assert_eq!(ce["time"], time.as_str(), "{}", v.preset);
        } else {
            assert!(ce.get("time").is_none(), "{}", v.preset);
        }
        let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(ce["data"], sent, "{}: data is the vendor's body", v.preset);
        // Byte for byte: the body text appears verbatim inside the envelope.
        assert!(
            std::str::from_utf8(&got.body).unwrap().contains(&body),
            "{}: the body was re-serialized",
            v.preset
        );
        // Nothing the vendor signed with reaches the upstream.
        assert!(got.headers.get(v.header).is_none());
    }
    gw.stop().await;
}

#[tokio::test]
async fn duplicate_is_acknowledged_and_not_forwarded() {
    let upstream = Upstream::start().await;
    let routes: String = vendors().iter().map(|v| v.route(&upstream.url())).collect();
    let gw = Gateway::start(&routes, "", &[]).await;
    for (i, v) in vendors().iter().enumerate() {
        let body = (v.body)(&rfc3339(-5), 100 + i as u32);
        let first = post(&gw.url(&v.path()), &v.sign(&body), body.clone()).await;
        assert_eq!(first.status, 200, "{}", v.preset);
        let again = post(&gw.url(&v.path()), &v.sign(&body), body.clone()).await;
        assert_eq!(again.status, 200, "{}", v.preset);
        assert_eq!(again.json()["status"], "duplicate", "{}", v.preset);
        assert_eq!(
            upstream.count(),
            i + 1,
            "{}: the duplicate was forwarded",
            v.preset
        );
    }
}

#[tokio::test]
async fn a_retry_forty_minutes_after_the_event_is_accepted_where_the_event_time_is_signed() {
    let upstream = Upstream::start().await;
    let routes: String = vendors().iter().map(|v| v.route(&upstream.url())).collect();
    let gw = Gateway::start(&routes, "", &[]).await;
    for (i, v) in vendors().iter().enumerate() {
        let body = (v.body)(&rfc3339(-40 * 60), 200 + i as u32);
        let before = upstream.count();
        // The first attempt failed at the upstream; the vendor retries the same bytes 40 minutes on.
        upstream.set(Behavior::Answer(503));
        let first = post(&gw.url(&v.path()), &v.sign(&body), body.clone()).await;
        upstream.set(Behavior::Answer(200));
        let retry = post(&gw.url(&v.path()), &v.sign(&body), body.clone()).await;
        if v.signs_event_time {
            assert_eq!(
                first.status, 503,
                "{}: the upstream's status is relayed",
                v.preset
            );
            assert_eq!(
                retry.status, 200,
                "{}: the retry must be accepted",
                v.preset
            );
            assert_eq!(upstream.count(), before + 2, "{}", v.preset);
        } else {
            // Chameleon stamps sent_at on each attempt, so a 40-minute-old sent_at is a replay.
            assert_eq!(first.status, 400, "{}", v.preset);
            assert_eq!(first.error(), "stale_timestamp", "{}", v.preset);
            assert_eq!(upstream.count(), before, "{}", v.preset);
        }
    }
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused_and_not_forwarded() {
    let upstream = Upstream::start().await;
    let routes: String = vendors().iter().map(|v| v.route(&upstream.url())).collect();
    let gw = Gateway::start(&routes, "", &[]).await;
    for (i, v) in vendors().iter().enumerate() {
        let too_old = if v.signs_event_time {
            -13 * 3600
        } else {
            -6 * 60
        };
        for (offset, kind) in [(too_old, "stale_timestamp"), (6 * 60, "future_timestamp")] {
            let body = (v.body)(&rfc3339(offset), 300 + i as u32);
            let reply = post(&gw.url(&v.path()), &v.sign(&body), body).await;
            assert_eq!(reply.status, 400, "{} {kind}", v.preset);
            assert_eq!(reply.error(), kind, "{}", v.preset);
        }
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test]
async fn signature_failures_get_the_status_each_vendor_documents() {
    let upstream = Upstream::start().await;
    let routes: String = vendors().iter().map(|v| v.route(&upstream.url())).collect();
    let gw = Gateway::start(&routes, "", &[]).await;
    for (i, v) in vendors().iter().enumerate() {
        // Chameleon asks for 400 on a bad signature; the others answer 401.
        let status = if v.preset == "chameleon" { 400 } else { 401 };
        let body = (v.body)(&rfc3339(-5), 400 + i as u32);
        let good = v.sign(&body);
        let tampered = body.replacen("data", "dat\\u0061", 1);
        let wrong_secret = format!(
            "{}{}",
            v.prefix,
            hmac_sha256_hex("not-the-secret", body.as_bytes())
        );
        let malformed = format!("{}not-hex", v.prefix);
        let cases: Vec<(&str, Headers, String, &str)> = vec![
            (
                "missing",
                hdrs(&[("content-type", "application/json")]),
                body.clone(),
                "missing_signature",
            ),
            ("tampered body", good.clone(), tampered, "invalid_signature"),
            (
                "wrong secret",
                hdrs(&[(v.header, &wrong_secret)]),
                body.clone(),
                "invalid_signature",
            ),
            (
                "malformed",
                hdrs(&[(v.header, &malformed)]),
                body.clone(),
                "malformed_signature",
            ),
        ];
        for (case, headers, body, kind) in cases {
            let reply = post(&gw.url(&v.path()), &headers, body).await;
            assert_eq!(reply.status, status, "{} {case}", v.preset);
            assert_eq!(reply.error(), kind, "{} {case}", v.preset);
        }
    }
    assert_eq!(
        upstream.count(),
        0,
        "nothing unverified reaches the upstream"
    );
}
