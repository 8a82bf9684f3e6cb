//! The admin API over the store, over real sockets: list and filter events, show one with its
//! signature masked, replay one, a range, and a route's dead letters; and the `hookgate events`
//! commands against a running gateway.

use crate::harness::*;
use std::time::Duration;

const SECRET: &str = "events-secret-never-shown";
const TOKEN: &str = "events-admin-token-0123456789";

fn routes(upstream: &Upstream, dir: &TempDir) -> String {
    format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\nretry_schedule = [\"100ms\"]\n\
         [routes.b]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n{}",
        upstream.url(),
        upstream.url(),
        dir.store("")
    )
}

async fn api(gw: &Gateway, method: &str, path: &str, body: &str) -> Reply {
    let admin = gw.handle().admin_addr().unwrap();
    let h = hdrs(&[
        ("authorization", &format!("Bearer {TOKEN}")),
        ("content-type", "application/json"),
    ]);
    send(
        method,
        &format!("http://{admin}{path}"),
        &h,
        body.to_string(),
    )
    .await
}

async fn settled(gw: &Gateway, route: &str, id: &str, state: &str) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let r = api(gw, "GET", &format!("/api/events/{route}/{id}"), "").await;
        if r.status == 200 && r.json()["event"]["state"] == state {
            return r.json();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} never {state}: {:?}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn events_are_listed_shown_without_secrets_and_replayed() {
    let dir = TempDir::new("events-api");
    let upstream = Upstream::start().await;
    let gw = Gateway::start(&routes(&upstream, &dir), "", &[]).await;
    for (route, id) in [("a", "evt_e1"), ("a", "evt_e2"), ("b", "evt_e3")] {
        let (h, b) = chamelio_delivery(SECRET, id);
        assert_eq!(
            post(&gw.url(&format!("/webhooks/{route}")), &h, b)
                .await
                .status,
            200
        );
    }
    settled(&gw, "b", "evt_e3", "delivered").await;
    settled(&gw, "a", "evt_e2", "delivered").await;

    // The list: newest first, filtered by route, by id, paged.
    let all = api(&gw, "GET", "/api/events", "").await.json();
    let ids: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["evt_e3", "evt_e2", "evt_e1"]);
    let a = api(&gw, "GET", "/api/events?route=a&limit=1", "")
        .await
        .json();
    assert_eq!(a["events"][0]["id"], "evt_e2");
    let next = a["next"].as_u64().unwrap();
    let page2 = api(
        &gw,
        "GET",
        &format!("/api/events?route=a&limit=1&before={next}"),
        "",
    )
    .await
    .json();
    assert_eq!(page2["events"][0]["id"], "evt_e1");
    let by_id = api(&gw, "GET", "/api/events?id=e3&state=delivered", "")
        .await
        .json();
    assert_eq!(by_id["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        api(&gw, "GET", "/api/events?state=nope", "").await.status,
        400
    );

    // One event: the signature header is masked, the body and the envelope are there.
    let detail = api(&gw, "GET", "/api/events/a/evt_e1", "").await;
    let text = String::from_utf8_lossy(&detail.body).to_string();
    assert!(!text.contains(SECRET), "{text}");
    let headers = detail.json()["request"]["headers"].clone();
    let sig = headers
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-chamelio-signature")
        .unwrap();
    assert!(sig[1].as_str().unwrap().starts_with("(masked, "), "{sig}");
    assert!(!text.contains(&hmac_sha256_hex(SECRET, b"")[..8]));
    let d = detail.json();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(d["request"]["body"]["text"].as_str().unwrap())
            .unwrap()["event_id"],
        "evt_e1"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(d["envelope"]["body"]["text"].as_str().unwrap())
            .unwrap()["id"],
        "evt_e1"
    );
    assert_eq!(d["attempts"][0]["status"], 200);
    assert_eq!(api(&gw, "GET", "/api/events/a/nope", "").await.status, 404);

    // Replaying a delivered event delivers it again, on purpose.
    let before = upstream.count();
    let r = api(&gw, "POST", "/api/events/a/evt_e1/replay", "").await;
    assert_eq!(r.json()["replayed"], 1);
    until(
        Duration::from_secs(20),
        || upstream.count() == before + 1,
        || format!("{}", upstream.count()),
    )
    .await;
    let d = settled(&gw, "a", "evt_e1", "delivered").await;
    assert_eq!(d["event"]["replays"], 1);
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2);

    // The dead letters of a route, replayed together once the upstream is back.
    upstream.set(Behavior::Answer(500));
    for id in ["evt_d1", "evt_d2"] {
        let (h, b) = chamelio_delivery(SECRET, id);
        assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
    }
    settled(&gw, "a", "evt_d1", "dead").await;
    settled(&gw, "a", "evt_d2", "dead").await;
    let dead = api(&gw, "GET", "/api/events?route=a&state=dead", "")
        .await
        .json();
    assert_eq!(dead["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        sample(&gw.metrics().await, "hookgate_dead_events{route=\"a\"} "),
        2.0
    );
    upstream.set(Behavior::Answer(200));
    assert_eq!(
        api(&gw, "POST", "/api/replay", "{}").await.status,
        400,
        "replaying everything is refused"
    );
    let r = api(
        &gw,
        "POST",
        "/api/replay",
        r#"{"route":"a","state":"dead"}"#,
    )
    .await;
    assert_eq!(r.json()["replayed"], 2);
    settled(&gw, "a", "evt_d1", "delivered").await;
    settled(&gw, "a", "evt_d2", "delivered").await;
    let text = gw.metrics().await;
    assert_eq!(sample(&text, "hookgate_replays_total{route=\"a\"} "), 3.0);
    assert!(
        sample(
            &text,
            "hookgate_delivery_attempts_total{route=\"a\",result=\"dead\"} "
        ) >= 2.0
    );
    assert_eq!(sample(&text, "hookgate_dead_events{route=\"a\"} "), 0.0);

    // Without the token, nothing changes state.
    let admin = gw.handle().admin_addr().unwrap();
    let r = send(
        "POST",
        &format!("http://{admin}/api/events/a/evt_e1/replay"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    gw.stop().await;
}

fn hookgate(args: &[&str], admin: std::net::SocketAddr) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookgate"))
        .args(args)
        .args(["--admin", &admin.to_string()])
        .env("HOOKGATE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_commands_list_show_and_replay_through_the_running_gateway() {
    let dir = TempDir::new("events-cli");
    let upstream = Upstream::start().await;
    upstream.set(Behavior::Answer(410));
    let gw = Gateway::start(&routes(&upstream, &dir), "", &[]).await;
    let admin = gw.handle().admin_addr().unwrap();
    let (h, b) = chamelio_delivery(SECRET, "evt_cli");
    assert_eq!(post(&gw.url("/webhooks/a"), &h, b).await.status, 200);
    settled(&gw, "a", "evt_cli", "dead").await;
    let run = |args: Vec<&'static str>| tokio::task::spawn_blocking(move || hookgate(&args, admin));

    let (code, out, err) = run(vec!["events", "list", "--route", "a", "--state", "dead"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().starts_with("RECEIVED"), "{out}");
    assert!(
        out.contains("evt_cli") && out.contains("dead") && out.contains("410"),
        "{out}"
    );

    let (code, out, _) = run(vec!["events", "show", "a", "evt_cli"]).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.contains("a evt_cli (dead)"), "{out}");
    assert!(out.contains("x-chamelio-signature: (masked,"), "{out}");
    assert!(out.contains("\"event_id\": \"evt_cli\""), "{out}");
    assert!(out.contains("status 410"), "{out}");
    assert!(!out.contains(SECRET));

    upstream.set(Behavior::Answer(200));
    let (code, out, err) = run(vec!["events", "replay", "--route", "a", "--state", "dead"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "replayed 1 event");
    settled(&gw, "a", "evt_cli", "delivered").await;

    let (code, _, err) = run(vec!["events", "show", "a", "evt_missing"])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    gw.stop().await;
}
