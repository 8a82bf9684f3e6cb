//! Endpoint-verification handshakes, end to end: each vendor's check gets the answer the vendor's
//! documentation asks for, from the gateway itself, and nothing reaches the upstream. The signed
//! handshakes are refused when unsigned.

use crate::harness::*;
use ed25519_dalek::{Signer, SigningKey};

const SECRET: &str = "handshake-secret";

/// A gateway with one route for `preset`, and the upstream it would forward to.
async fn gateway(preset: &str, extra: &str) -> (Gateway, Upstream) {
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.{preset}]\nprovider = \"{preset}\"\nupstream = \"{}\"\n{extra}\n",
        upstream.url()
    );
    (Gateway::start(&routes, "", &[]).await, upstream)
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_the_challenge() {
    let (gw, upstream) = gateway("slack", &format!("secrets = [\"{SECRET}\"]")).await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = now().to_string();
    let sig = format!(
        "v0={}",
        hmac_sha256_hex(SECRET, format!("v0:{ts}:{body}").as_bytes())
    );
    let signed = hdrs(&[
        ("content-type", "application/json"),
        ("x-slack-request-timestamp", &ts),
        ("x-slack-signature", &sig),
    ]);
    let r = post(&gw.url("/webhooks/slack"), &signed, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert_eq!(r.headers["content-type"], "text/plain");

    // Slack signs the challenge too; an unsigned one is refused like any unsigned delivery.
    let r = post(
        &gw.url("/webhooks/slack"),
        &hdrs(&[("content-type", "application/json")]),
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 0);

    // An ordinary event on the same route is forwarded as usual.
    let event = r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1767225600,"event":{"type":"app_mention"}}"#;
    let sig = format!(
        "v0={}",
        hmac_sha256_hex(SECRET, format!("v0:{ts}:{event}").as_bytes())
    );
    let signed = hdrs(&[
        ("content-type", "application/json"),
        ("x-slack-request-timestamp", &ts),
        ("x-slack-signature", &sig),
    ]);
    let r = post(&gw.url("/webhooks/slack"), &signed, event).await;
    assert_eq!(r.status, 200);
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.received()[0].json()["type"], "app_mention");
    gw.stop().await;
}

#[tokio::test]
async fn zoom_url_validation_returns_the_hmac_of_the_plain_token_only_when_signed() {
    let (gw, upstream) = gateway("zoom", &format!("secrets = [\"{SECRET}\"]")).await;
    let body = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let ts = now().to_string();
    let sig = format!(
        "v0={}",
        hmac_sha256_hex(SECRET, format!("v0:{ts}:{body}").as_bytes())
    );
    let signed = hdrs(&[
        ("content-type", "application/json"),
        ("x-zm-request-timestamp", &ts),
        ("x-zm-signature", &sig),
    ]);
    let r = post(&gw.url("/webhooks/zoom"), &signed, body).await;
    assert_eq!(r.status, 200);
    let answer = r.json();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        hmac_sha256_hex(SECRET, b"qgg8vlvZRS6UYooatFL8Aw")
    );

    // Unsigned, it would be an oracle for HMACs under the secret: refused.
    let r = post(
        &gw.url("/webhooks/zoom"),
        &hdrs(&[("content-type", "application/json")]),
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn twitch_callback_verification_returns_the_challenge() {
    let (gw, upstream) = gateway("twitch", &format!("secrets = [\"{SECRET}\"]")).await;
    let body = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","type":"channel.follow"}}"#;
    let id = "e76c6bd4-55c9-4987-8304-da1588d8988b";
    let ts = rfc3339(0);
    let sig = format!(
        "sha256={}",
        hmac_sha256_hex(SECRET, format!("{id}{ts}{body}").as_bytes())
    );
    let headers = hdrs(&[
        ("content-type", "application/json"),
        ("twitch-eventsub-message-id", id),
        ("twitch-eventsub-message-timestamp", &ts),
        (
            "twitch-eventsub-message-type",
            "webhook_callback_verification",
        ),
        ("twitch-eventsub-subscription-type", "channel.follow"),
        ("twitch-eventsub-message-signature", &sig),
    ]);
    let r = post(&gw.url("/webhooks/twitch"), &headers, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(text(&r), "pogchamp-kappa-360noscope-vohiyo");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn discord_ping_is_answered_with_a_pong_and_bad_signatures_get_401() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let public = hex::encode(key.verifying_key().as_bytes());
    let (gw, upstream) = gateway("discord", &format!("public_key = \"{public}\"")).await;
    let body = r#"{"id":"1107467845563785216","application_id":"1107447473394597938","type":1,"version":1}"#;
    let ts = now().to_string();
    let sig = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    let headers = hdrs(&[
        ("content-type", "application/json"),
        ("x-signature-timestamp", &ts),
        ("x-signature-ed25519", &sig),
    ]);
    let r = post(&gw.url("/webhooks/discord"), &headers, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"type": 1}));

    // Discord sends bad signatures on purpose and expects 401.
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let forged = hex::encode(other.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    let headers = hdrs(&[
        ("content-type", "application/json"),
        ("x-signature-timestamp", &ts),
        ("x-signature-ed25519", &forged),
    ]);
    let r = post(&gw.url("/webhooks/discord"), &headers, body).await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn meta_subscription_check_needs_the_verify_token() {
    let extra = format!("secrets = [\"{SECRET}\"]\nverify_token = \"meta-verify-token\"");
    let (gw, upstream) = gateway("meta", &extra).await;
    let ok = "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meta-verify-token";
    let r = send("GET", &gw.url(ok), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(text(&r), "1158201444");

    let wrong = "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
    let r = send("GET", &gw.url(wrong), &[], "").await;
    assert_eq!(r.status, 403);
    assert!(!text(&r).contains("1158201444"));

    // Any other GET is not something this route serves.
    let r = send("GET", &gw.url("/webhooks/meta"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn dropbox_challenge_is_echoed_with_nosniff() {
    let (gw, upstream) = gateway("dropbox", &format!("secrets = [\"{SECRET}\"]")).await;
    let r = send(
        "GET",
        &gw.url("/webhooks/dropbox?challenge=Zm9vYmFy"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(text(&r), "Zm9vYmFy");
    assert_eq!(r.headers["content-type"], "text/plain");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn okta_verification_is_answered_as_json() {
    let (gw, upstream) = gateway("okta", "secrets = [\"okta-auth-value\"]").await;
    let r = send(
        "GET",
        &gw.url("/webhooks/okta"),
        &hdrs(&[("x-okta-verification-challenge", "X8pq1DSNGa4eSUNwUcpn")]),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"verification": "X8pq1DSNGa4eSUNwUcpn"})
    );
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn trello_head_check_gets_200() {
    let (gw, upstream) = gateway(
        "trello",
        &format!(
            "secrets = [\"{SECRET}\"]\npublic_url = \"https://hooks.example.com/webhooks/trello\""
        ),
    )
    .await;
    let r = send("HEAD", &gw.url("/webhooks/trello"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

#[tokio::test]
async fn asana_handshake_echoes_the_hook_secret() {
    let (gw, upstream) = gateway("asana", &format!("secrets = [\"{SECRET}\"]")).await;
    let r = post(
        &gw.url("/webhooks/asana"),
        &hdrs(&[("x-hook-secret", "b537207f20cbfa02357cf448134da559")]),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["x-hook-secret"],
        "b537207f20cbfa02357cf448134da559"
    );
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}

/// A route with `learn_secret` keeps the secret Asana's handshake brings (mode 0600), verifies
/// events with it, refuses a second handshake that brings another, and still has it after a restart.
#[tokio::test]
async fn asanas_handshake_secret_is_kept_by_a_route_that_learns_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("learn-asana");
    let file = dir.path().join("asana.secret");
    let extra = format!("learn_secret = \"{}\"", file.display());
    let (gw, upstream) = gateway("asana", &extra).await;
    let url = gw.url("/webhooks/asana");
    let event = r#"{"events":[{"action":"changed","resource":{"gid":"1"}}]}"#;
    let signed = |secret: &str| {
        hdrs(&[
            ("content-type", "application/json"),
            (
                "x-hook-signature",
                &hmac_sha256_hex(secret, event.as_bytes()),
            ),
        ])
    };
    // Before the handshake, no event verifies.
    assert_eq!(
        post(&url, &signed("hook-secret-1"), event).await.status,
        401
    );

    let shake = |secret: &str| hdrs(&[("x-hook-secret", secret)]);
    let r = post(&url, &shake("hook-secret-1"), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["x-hook-secret"], "hook-secret-1");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hook-secret-1");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    assert_eq!(
        post(&url, &signed("hook-secret-1"), event).await.status,
        200
    );
    assert_eq!(upstream.count(), 1);
    // Asana retrying its handshake is answered again; anyone else's secret is refused.
    assert_eq!(post(&url, &shake("hook-secret-1"), "").await.status, 200);
    let r = post(&url, &shake("attacker-secret"), "").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"], "setup_secret_taken");
    assert!(r.headers.get("x-hook-secret").is_none());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hook-secret-1");
    let other = r#"{"events":[{"action":"added","resource":{"gid":"2"}}]}"#;
    let forged = hdrs(&[
        ("content-type", "application/json"),
        (
            "x-hook-signature",
            &hmac_sha256_hex("attacker-secret", other.as_bytes()),
        ),
    ]);
    assert_eq!(post(&url, &forged, other).await.status, 401);
    gw.stop().await;

    // A new process reads the kept secret back.
    let (gw, upstream) = gateway("asana", &extra).await;
    let url = gw.url("/webhooks/asana");
    let again = r#"{"events":[{"action":"removed","resource":{"gid":"3"}}]}"#;
    let signed = hdrs(&[
        ("content-type", "application/json"),
        (
            "x-hook-signature",
            &hmac_sha256_hex("hook-secret-1", again.as_bytes()),
        ),
    ]);
    assert_eq!(post(&url, &signed, again).await.status, 200);
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

/// Notion's first request carries its verification_token, unsigned: a learning route keeps it and
/// verifies later events with it; it is neither forwarded nor refused.
#[tokio::test]
async fn notions_verification_token_is_kept_by_a_route_that_learns_it() {
    let dir = TempDir::new("learn-notion");
    let file = dir.path().join("notion.secret");
    let (gw, upstream) = gateway("notion", &format!("learn_secret = \"{}\"", file.display())).await;
    let url = gw.url("/webhooks/notion");
    let json = ("content-type", "application/json");
    let r = post(
        &url,
        &hdrs(&[json]),
        r#"{"verification_token":"secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(upstream.count(), 0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
    );
    let event = r#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2026-01-01T00:00:00.000Z","type":"page.created","entity":{"id":"p1","type":"page"}}"#;
    let sig = format!(
        "sha256={}",
        hmac_sha256_hex(
            "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl",
            event.as_bytes()
        )
    );
    let r = post(&url, &hdrs(&[json, ("x-notion-signature", &sig)]), event).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.received()[0].json()["type"], "page.created");
    gw.stop().await;
}

#[tokio::test]
async fn front_and_smartsheet_challenges_are_echoed_as_json() {
    let (gw, upstream) = gateway("front", &format!("secrets = [\"{SECRET}\"]")).await;
    let r = post(
        &gw.url("/webhooks/front"),
        &hdrs(&[("x-front-challenge", "c8f1b6e0-front")]),
        "{}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"challenge": "c8f1b6e0-front"}));
    assert_eq!(upstream.count(), 0);
    gw.stop().await;

    let (gw, upstream) = gateway("smartsheet", &format!("secrets = [\"{SECRET}\"]")).await;
    let body = r#"{"nonce":"4b2b3e0a","timestamp":"2026-01-01T00:00:00.000+00:00","webhookId":1,"scope":"sheet","challenge":"d1ee2ea6-f3cc-4b1e"}"#;
    let r = post(
        &gw.url("/webhooks/smartsheet"),
        &hdrs(&[("smartsheet-hook-challenge", "d1ee2ea6-f3cc-4b1e")]),
        body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"smartsheetHookResponse": "d1ee2ea6-f3cc-4b1e"})
    );
    assert_eq!(r.headers["smartsheet-hook-response"], "d1ee2ea6-f3cc-4b1e");
    assert_eq!(upstream.count(), 0);
    gw.stop().await;
}
