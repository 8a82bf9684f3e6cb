//! The README's quickstart, followed as written: its commands, in order, against the built binary, and
//! the answers it shows. When the README and the product drift apart, this fails.

use crate::harness::{Launch, Proc};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One fenced block of the quickstart.
struct Block {
    lang: String,
    lines: Vec<String>,
}

fn quickstart() -> Vec<Block> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Quickstart")
        .expect("a Quickstart section");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for line in section.lines() {
        match (line.strip_prefix("```"), current.take()) {
            (Some(lang), None) => {
                current = Some(Block {
                    lang: lang.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(done)) => blocks.push(done),
            (None, Some(mut open)) => {
                open.lines.push(line.to_string());
                current = Some(open);
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Event ids are made at the moment of sending; the README shows one of them.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("evt_") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 4..];
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str("evt_ID");
        rest = &tail[hex..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_quickstart_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let blocks = quickstart();
    let shell: Vec<&Block> = blocks.iter().filter(|b| b.lang == "sh").collect();
    assert_eq!(shell.len(), 2, "two commands, one per terminal");

    // First terminal: the gateway on the example configuration, as the README runs it. The test
    // adds only what lets it run beside other tests: free ports and a data directory of its own.
    let serve: Vec<&str> = shell[0].lines[0].split_whitespace().collect();
    assert_eq!(
        &serve[..4],
        ["cargo", "run", "--release", "--"],
        "{serve:?}"
    );
    assert_eq!(&serve[4..6], ["serve", "--config"], "{serve:?}");
    assert_eq!(
        serve.len(),
        7,
        "the README's serve takes only --config: {serve:?}"
    );
    let config = serve[6];
    // Second terminal: the tests, which this is one of.
    assert_eq!(shell[1].lines, ["cargo test"]);

    let data = std::env::temp_dir().join(format!("hookgate-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_arg = data.display().to_string();
    let gateway = Proc::launch_with(
        config.into(),
        data.clone(),
        Launch {
            cwd: Some(root),
            env: &[],
            args: &[
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
                &data_arg,
            ],
        },
    );
    let url = format!("http://{}", gateway.addr);

    // Every console block: each `$ ./target/release/hookgate …` run with the built binary, in order,
    // its standard output exactly the lines the README shows under it.
    let mut commands = 0;
    for block in blocks.iter().filter(|b| b.lang == "console") {
        let mut steps: Vec<(String, Vec<String>)> = Vec::new();
        for line in &block.lines {
            match line.strip_prefix("$ ") {
                Some(command) => steps.push((command.to_string(), Vec::new())),
                None => steps
                    .last_mut()
                    .expect("output after a command")
                    .1
                    .push(line.clone()),
            }
        }
        for (command, shown) in steps {
            let args: Vec<&str> = command
                .strip_prefix("./target/release/hookgate ")
                .unwrap_or_else(|| panic!("not the release binary: {command}"))
                .split_whitespace()
                .collect();
            assert_eq!(args[0], "send", "{command}");
            let out = Command::new(env!("CARGO_BIN_EXE_hookgate"))
                .current_dir(root)
                .args(&args)
                .args(["--url", &url])
                .env_remove("DEMO_SECRET")
                .output()
                .unwrap();
            let printed = normalize(&String::from_utf8_lossy(&out.stdout));
            let want = normalize(&(shown.join("\n") + "\n"));
            assert_eq!(
                printed,
                want,
                "$ {command}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            commands += 1;
        }
    }
    assert!(
        commands >= 3,
        "the quickstart shows a delivery, a duplicate and a refusal"
    );

    // What the first terminal prints: the CloudEvent, once.
    let json: Vec<&Block> = blocks.iter().filter(|b| b.lang == "json").collect();
    assert_eq!(json.len(), 1);
    let mut want: serde_json::Value = serde_json::from_str(&json[0].lines.join("\n")).unwrap();
    want["id"] = "evt_ID".into();
    let started = Instant::now();
    let printed = loop {
        let lines = gateway.stdout.lock().unwrap().clone();
        if !lines.is_empty() {
            // Delivery is after the answer; give a second copy, were there one, time to show.
            std::thread::sleep(Duration::from_millis(300));
            break gateway.stdout.lock().unwrap().clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no envelope printed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(printed.len(), 1, "one event forwarded once: {printed:?}");
    let mut got: serde_json::Value = serde_json::from_str(&printed[0]).unwrap();
    got["id"] = "evt_ID".into();
    assert_eq!(got, want);
}
