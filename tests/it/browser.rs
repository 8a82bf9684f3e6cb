//! The inspector in a real headless browser (tests/browser/inspector.mjs, playwright-core driving
//! Debian's chromium): this test runs the gateway and two upstreams, the script plays the vendor and
//! the operator, and this test then checks what the upstreams received.
//!
//! Needs `node`, `/usr/bin/chromium` (or `CHROMIUM`), and `npm ci --prefix tests/browser`; `.ci/run`
//! installs all three when missing.

use crate::harness::*;
use std::path::Path;
use std::time::Duration;

const SECRET: &str = "browser-test-vendor-secret";
const TOKEN: &str = "browser-test-admin-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_deliveries_arrive_finds_why_one_was_refused_and_replays_a_dead_letter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/inspector.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (.ci/run does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (.ci/run does), or set CHROMIUM"
    );

    let dir = TempDir::new("browser");
    let ok = Upstream::start().await;
    let gone = Upstream::start().await;
    gone.set(Behavior::First(1, 410));
    let config = format!(
        "[routes.docs]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n\
         [routes.gone]\nprovider = \"chamelio\"\nsecrets = [\"{SECRET}\"]\nupstream = \"{}\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n{}",
        ok.url(),
        gone.url(),
        dir.store("")
    );
    let gw = Gateway::start(&config, "", &[]).await;
    let admin = gw.handle().admin_addr().unwrap();
    let screenshot = std::env::var("SCREENSHOT")
        .unwrap_or_else(|_| dir.path().join("inspector.png").display().to_string());

    let run = tokio::process::Command::new("node")
        .arg(&script)
        .env("HOOKGATE_URL", format!("http://{}", gw.addr))
        .env("ADMIN_URL", format!("http://{admin}"))
        .env("ADMIN_TOKEN", TOKEN)
        .env("VENDOR_SECRET", SECRET)
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    // Generous: the script's own steps each wait at most 20 s.
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser test did not finish within 240 s")
        .expect("node could not be started: install Node.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok - screenshot written"), "{stdout}");
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // What the script saw, the upstreams confirm: one delivery, and the dead letter twice (its 410,
    // then the replay); the forged request reached nobody.
    let ids = |u: &Upstream| -> Vec<String> {
        u.received()
            .iter()
            .map(|r| r.json()["id"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(ids(&ok), ["evt_browser_delivered"]);
    assert_eq!(ids(&gone), ["evt_browser_dead", "evt_browser_dead"]);
    gw.stop().await;
}
