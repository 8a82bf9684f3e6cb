//! Configuration tests: what valid files mean, and the exact message each mistake produces.

use super::*;
use crate::verify::Algorithm;
use std::collections::HashMap;

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env = env(vars);
    parse("hookgate.toml", text, &|k| env.get(k).cloned())
}

/// The whole error text for `text`.
fn errors(text: &str) -> String {
    match parse_with(text, &[("SET", "value")]) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn route<'a>(config: &'a Config, name: &str) -> &'a Route {
    config.routes.iter().find(|r| &*r.name == name).unwrap()
}

/// The configuration shown in the core issue, verbatim apart from the secrets' variables being set.
const ISSUE_EXAMPLE: &str = r#"
[server]
listen = "0.0.0.0:8080"
max_body = "1MiB"                   # integer bytes or a size with unit; larger bodies get 413
trusted_proxies = ["10.0.0.0/8"]     # X-Forwarded-For is honoured only from these peers (default: none)

[defaults]                           # any route key below may be set here for all routes
dedupe_ttl = "24h"                   # how long a delivered event id is remembered
forward_timeout = "5s"
tolerance = "5m"                     # how old a signed timestamp may be (where no preset says otherwise)
max_clock_skew = "5m"                # how far in the future a signed timestamp may be

[routes.chamelio]                    # the route's name; the path defaults to /webhooks/<name>
provider = "chamelio"                # a preset: header, scheme, where id/type/time live, vendor's status codes
secrets = ["${CHAMELIO_SECRET}"]     # ${VAR} is read from the environment; several secrets = rotation
upstream = "http://127.0.0.1:9000/events"
allow_ips = ["203.0.113.0/24", "198.51.100.7"]   # absent = any source address

[routes.acme]                        # a vendor with no preset: the same vocabulary, spelled out
path = "/hooks/acme"
secrets = ["${ACME_SECRET}"]
upstream = "http://billing.internal:8000/webhooks"
[routes.acme.verify]
algorithm = "hmac-sha256"            # hmac-sha1 | hmac-sha256 | hmac-sha512
header = "X-Acme-Signature"
prefix = "sha256="                   # stripped before decoding (default "")
encoding = "hex"                     # hex | base64
payload = "{timestamp}.{body}"       # what is signed (default "{body}"); {body} {timestamp} {id} {header:NAME}
timestamp = "header:X-Acme-Timestamp"   # or "body:/sent_at" (JSON pointer); absent = no timestamp check
[routes.acme.event]
id = "body:/event_id"                # or "header:X-Acme-Id"; absent = SHA-256 of the raw body
type = "body:/event"
time = "body:/timestamp"
"#;

#[test]
fn the_issue_example_means_what_it_says() {
    let c = parse_with(
        ISSUE_EXAMPLE,
        &[("CHAMELIO_SECRET", "c"), ("ACME_SECRET", "a")],
    )
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.server.max_body, 1024 * 1024);
    assert_eq!(c.server.trusted_proxies[0].to_string(), "10.0.0.0/8");
    let chamelio = route(&c, "chamelio");
    assert_eq!(chamelio.path, "/webhooks/chamelio");
    assert_eq!(chamelio.provider.as_deref(), Some("chamelio"));
    // The preset's tolerance wins over [defaults]: Chamelio signs the event time and retries for hours.
    assert_eq!(chamelio.tolerance, Duration::from_secs(12 * 3600));
    assert_eq!(chamelio.dedupe_ttl, Duration::from_secs(24 * 3600));
    assert_eq!(chamelio.forward_timeout, Duration::from_secs(5));
    assert_eq!(fixed(chamelio).len(), 2);
    let acme = route(&c, "acme");
    assert_eq!(acme.path, "/hooks/acme");
    assert_eq!(acme.tolerance, Duration::from_secs(300));
    assert_eq!(acme.verifier.payload().to_string(), "{timestamp}.{body}");
    assert_eq!(acme.verifier.signature().prefix, "sha256=");
    assert!(acme.allow_ips.is_none());
}

#[test]
fn precedence_is_route_then_preset_then_defaults_then_built_in() {
    let text = r#"
[defaults]
tolerance = "1m"
forward_timeout = "9s"
max_clock_skew = "2m"
[routes.a]
provider = "chameleon"          # preset says tolerance 5m, forward_timeout 5s
secrets = ["s"]
upstream = "stdout"
[routes.b]
provider = "chameleon"
secrets = ["s"]
upstream = "stdout"
tolerance = "30s"
[routes.b.verify]
header = "X-Other-Signature"    # one key of the preset's verify table replaced
[routes.c]
secrets = ["s"]
upstream = "stdout"
[routes.c.verify]
algorithm = "hmac-sha1"
header = "X-Sig"
"#;
    let c = parse_with(text, &[]).unwrap();
    let (a, b, cc) = (route(&c, "a"), route(&c, "b"), route(&c, "c"));
    assert_eq!(
        a.tolerance,
        Duration::from_secs(300),
        "preset over defaults"
    );
    assert_eq!(
        a.forward_timeout,
        Duration::from_secs(5),
        "preset over defaults"
    );
    assert_eq!(
        a.max_clock_skew,
        Duration::from_secs(120),
        "defaults over built-in"
    );
    assert_eq!(cc.dedupe_ttl, Duration::from_secs(86400), "built-in");
    assert_eq!(b.tolerance, Duration::from_secs(30), "route over preset");
    assert_eq!(
        b.verifier.signature().headers().next().unwrap(),
        "x-other-signature"
    );
    assert_eq!(
        b.verifier.algorithm(),
        Algorithm::HmacSha256,
        "rest of the preset's verify table kept"
    );
    assert_eq!(
        b.status.signature,
        Some(http::StatusCode::BAD_REQUEST),
        "preset's statuses kept"
    );
    assert_eq!(cc.tolerance, Duration::from_secs(60), "defaults");
    assert_eq!(cc.forward_timeout, Duration::from_secs(9));
    assert_eq!(
        cc.verifier.signature().encoding,
        crate::verify::Encoding::Hex
    );
}

#[test]
fn a_route_takes_signed_deliveries_by_the_methods_it_lists() {
    let text = |methods: &str| {
        format!(
            "[routes.a]\nprovider = \"zendesk\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n{methods}"
        )
    };
    let c = parse_with(&text(""), &[]).unwrap();
    assert_eq!(route(&c, "a").methods, [http::Method::POST]);
    assert_eq!(route(&c, "a").allow, "POST");
    let c = parse_with(&text("methods = [\"POST\", \"DELETE\", \"GET\"]\n"), &[]).unwrap();
    let r = route(&c, "a");
    assert_eq!(
        r.methods,
        [http::Method::POST, http::Method::DELETE, http::Method::GET]
    );
    assert_eq!(r.allow, "DELETE, GET, POST");
}

#[test]
fn sizes_may_be_integers_or_have_units() {
    let text = |v: &str| format!("[server]\nmax_body = {v}\n");
    for (v, want) in [
        ("1024", 1024),
        ("\"1MiB\"", 1 << 20),
        ("\"512 KiB\"", 512 << 10),
        ("\"2MB\"", 2_000_000),
    ] {
        assert_eq!(
            parse_with(&text(v), &[]).unwrap().server.max_body,
            want,
            "{v}"
        );
    }
}

#[test]
fn env_defaults_and_secret_files() {
    let dir = std::env::temp_dir().join(format!("hookgate-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, "from-file\n").unwrap();
    let text = format!(
        r#"
[routes.a]
provider = "chamelio"
secrets = ["${{UNSET:-fallback}}", "file:{}", "pre-${{SET}}-post"]
upstream = "stdout"
"#,
        file.display()
    );
    let c = parse_with(&text, &[("SET", "x")]).unwrap();
    assert_eq!(route(&c, "a").verifier.key_count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each mistake and the whole message it must produce.
#[test]
fn mistakes_are_reported_with_file_line_column_key_and_fix() {
    let cases: &[(&str, &str)] = &[
        (
            "[routes.a]\nprovider = \"google-pubsub\"\nupstream = \"stdout\"\n",
            "hookgate.toml:1:1: routes.a.jwt_audience: not set; a token checked against a published key set proves only who issued it, and its issuer signs tokens for others too: set the audience the vendor puts in your tokens\nhookgate.toml:1:1: routes.a.jwt_require_claims: not set; a token checked against a published key set proves only who issued it, and its issuer signs tokens for others too: name the claims that identify your sender, as in { email = \"pusher@project.iam.gserviceaccount.com\" }",
        ),
        (
            "[routes.a]\nprovider = \"google-pubsub\"\nupstream = \"stdout\"\njwt_audience = \"a\"\njwt_require_claims = { email = \"e\" }\n[routes.a.verify]\njwks_url = \"http://keys.example.com/certs\"\n",
            "hookgate.toml:7:12: routes.a.verify.jwks_url: \"http://keys.example.com/certs\" must be an https:// URL: keys fetched in the clear could be anyone's",
        ),
        (
            "[routes.a]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nlearn_secret = \"/tmp/github.secret\"\n",
            "hookgate.toml:5:16: routes.a.learn_secret: this route's vendor hands over no secret in a handshake (a preset that does, such as asana or notion, says learn = ...); set secrets instead",
        ),
        (
            "[routes.a]\nprovider = \"asana\"\nupstream = \"stdout\"\nlearn_secret = \"/nonexistent-hookgate-dir/asana.secret\"\n",
            "hookgate.toml:4:16: routes.a.learn_secret: the directory /nonexistent-hookgate-dir does not exist; create it (writable by the gateway's user only)",
        ),
        (
            "[routes.a]\nprovider = \"asana\"\nupstream = \"stdout\"\n",
            "hookgate.toml:1:1: routes.a.secrets: not set; add secrets = [\"${VENDOR_SECRET}\"], or learn_secret = \"/var/lib/hookgate/a.secret\" to keep the secret this vendor's handshake brings",
        ),
        (
            "[routes.a]\nprovider = \"atlassian-connect\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
            "hookgate.toml:1:1: routes.a.public_url: not set; the token's query hash covers the path the vendor calls: set public_url to the URL it calls, as registered",
        ),
        (
            "[routes.a]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\napp_base_url = \"https://app.example.com\"\n",
            "hookgate.toml:5:16: routes.a.app_base_url: is used only by tokens with a query hash claim (jwt_query_hash_claim, Atlassian Connect's qsh); remove it",
        ),
        (
            "[routes.a]\nprovider = \"atlassian-connect\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\npublic_url = \"https://app.example.com/hooks/jira\"\napp_base_url = \"https://other.example.com\"\n",
            "hookgate.toml:6:16: routes.a.app_base_url: https://other.example.com/ is not on the host of public_url https://app.example.com/hooks/jira; set the app's baseUrl from its descriptor",
        ),
        (
            "[routes.a]\nprovider = \"atlassian-connect\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\npublic_url = \"https://app.example.com/hooks/jira\"\napp_base_url = \"https://app.example.com/jira-app\"\n",
            "hookgate.toml:6:16: routes.a.app_base_url: public_url https://app.example.com/hooks/jira is not under https://app.example.com/jira-app: the vendor calls the app's baseUrl followed by the webhook's path",
        ),
        (
            "[routes.a]\nprovider = \"twilio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\npublic_url = \"https://h.example/t\"\n[routes.a.verify]\nalgorithm_names = { HMAC_SHA256 = \"ed25519\" }\n",
            "hookgate.toml:7:19: routes.a.verify.algorithm_names: \"HMAC_SHA256\" maps to ed25519, but a header can choose only among HMAC algorithms, which share the route's secrets",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"X-Sig\"\nalgorithm_header = \"X-Alg\"\n",
            "hookgate.toml:7:20: routes.a.verify.algorithm_header: names where the algorithm is chosen, but algorithm_names is not set; add algorithm_names = { NAME = \"hmac-sha256\" } for each name the vendor sends",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.verify]\nalgorithm = \"token\"\nheader = \"X-Sig\"\nalgorithm_header = \"X-Alg\"\nalgorithm_names = { A = \"hmac-sha1\" }\n",
            "hookgate.toml:7:20: routes.a.verify.algorithm_header: a header can choose among HMAC algorithms only, and this route's algorithm is token",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"X-Sig\"\npayload = \"{form:other}\"\ndata_from = \"form:payload\"\n",
            "hookgate.toml:8:13: routes.a.verify.data_from: form:payload is not covered by the signature (payload = \"{form:other}\"), so it could carry anything; add {form:payload} to payload",
        ),
        (
            "[routes.a]\nprovider = \"zendesk\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nmethods = [\"POST\", \"DELET\"]\n",
            "hookgate.toml:5:11: routes.a.methods: \"DELET\" is not one of \"POST\", \"PUT\", \"PATCH\", \"DELETE\", \"GET\"; did you mean \"DELETE\"?",
        ),
        (
            "[routes.a]\nprovider = \"zendesk\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nmethods = [\"GET\", \"GET\"]\n",
            "hookgate.toml:5:11: routes.a.methods: \"GET\" is listed twice; list each method once",
        ),
        (
            "[routes.a]\nprovider = \"zendesk\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nmethods = []\n",
            "hookgate.toml:5:11: routes.a.methods: is empty, so no delivery could arrive; list at least one method, such as [\"POST\"]",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\ntolerence = \"5m\"\n",
            "hookgate.toml:3:1: routes.a.tolerence: unknown key \"tolerence\"; did you mean \"tolerance\"? (valid keys are provider, path, methods, secrets, upstream, upstream_secret, allow_ips, delivery, retry_schedule, max_delivery_age, dead_letter_on, delivery_concurrency, upstream_4xx, dedupe_ttl, dedupe_capacity, forward_timeout, tolerance, max_clock_skew, retry_horizon, vendor_timeout, max_body, envelope, source, public_key, public_url, app_base_url, learn_secret, acknowledge, key_request, jwt_audience, jwt_require_claims, verify_token, verify, event, status, handshake)",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"${MISSING}\"]\nupstream = \"stdout\"\n",
            "hookgate.toml:3:12: routes.a.secrets[0]: environment variable MISSING is not set; export it, or write \"${MISSING:-default}\" to give a fallback",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nallow_ips = [\"10.0.0.0/33\"]\n",
            "hookgate.toml:5:14: routes.a.allow_ips[0]: \"10.0.0.0/33\" is not an IP address or CIDR block (for example \"203.0.113.0/24\" or \"2001:db8::1\")",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nallow_ips = \"url:ftp://lists.example/ips\"\n",
            "hookgate.toml:5:13: routes.a.allow_ips: \"ftp://lists.example/ips\" is not an http or https URL; write allow_ips = \"url:https://stripe.com/files/ips/ips_webhooks.txt\"",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nallow_ips = \"url:https://api.github.com/meta#hooks\"\n",
            "hookgate.toml:5:13: routes.a.allow_ips: \"#hooks\" is not a JSON Pointer; after # name the list in the document, as in https://api.github.com/meta#/hooks",
        ),
        (
            "[routes.a]\nprovider = \"chamelo\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
            "hookgate.toml:2:12: routes.a.provider: unknown provider \"chamelo\"; did you mean \"chamelio\"?; run `hookgate providers` for the list",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
            "hookgate.toml:1:1: routes.a: has neither a provider nor a verify table; add provider = \"...\" (see `hookgate providers`) or a [routes.a.verify] table",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\ndedupe_ttl = \"1h\"\n",
            "hookgate.toml:5:14: routes.a.dedupe_ttl: dedupe_ttl 1h (2h 52m with the vendor's retry horizon) is shorter than tolerance 12h: a replay inside the window would be neither rejected as stale nor recognised as a duplicate; raise dedupe_ttl to at least 12h or lower tolerance",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.verify]\nalgorithm = \"hmac-sha256\"\nheader = \"X-Sig\"\ntimestamp = \"header:X-Ts\"\n",
            "hookgate.toml:7:13: routes.a.verify.timestamp: header x-ts is not covered by the signature (payload = \"{body}\"), so a replayed request could carry any timestamp; take the timestamp from a signed part or add {timestamp} to payload",
        ),
        (
            "[routes.a]\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.verify]\nalgorithm = \"hmac-sha265\"\nheader = \"X-Sig\"\n",
            "hookgate.toml:5:13: routes.a.verify.algorithm: \"hmac-sha265\" is not one of \"hmac-md5\", \"hmac-sha1\", \"hmac-sha256\", \"hmac-sha512\", \"sha1\", \"sha256\", \"token\", \"basic\", \"ed25519\", \"ecdsa-p256-sha256\", \"rsa-sha256\", \"rsa-sha1\", \"jwt\"; did you mean \"hmac-sha256\"?",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\n",
            "hookgate.toml:1:1: routes.a.upstream: not set; add upstream = \"http://service.internal/path\" (or \"stdout\" to print events)",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nupstream = \"stdout\"\n",
            "hookgate.toml:1:1: routes.a.secrets: not set; add secrets = [\"${VENDOR_SECRET}\"]",
        ),
        (
            "[server]\nlisten = \"8080\"\n",
            "hookgate.toml:2:10: server.listen: \"8080\" is not an address to listen on; write it like \"0.0.0.0:8080\" or \"[::]:8080\"",
        ),
        (
            "[server]\nmax_body = \"lots\"\n",
            "hookgate.toml:2:12: server.max_body: \"lots\" is not a size; write a number of bytes or a size like \"512KiB\" or \"1MiB\"",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\ntolerance = \"five minutes\"\n",
            "hookgate.toml:5:13: routes.a.tolerance: \"five minutes\" is not a duration; write it like \"500ms\", \"30s\", \"5m\", \"24h\" or \"7d\"",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = \"s\"\n",
            "hookgate.toml:3:11: routes.a.secrets: expected a list, such as [\"...\"], found text in quotes; put the value in brackets: [\"...\"]",
        ),
        (
            "[routes.a]\nprovider = \"standard-webhooks\"\nsecrets = [\"whsec_!!!\"]\nupstream = \"stdout\"\n",
            "hookgate.toml:3:12: routes.a.secrets[0]: the secret is not valid base64 after the \"whsec_\" prefix; this vendor's secrets are base64 encoded",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"ftp://x\"\n",
            "hookgate.toml:4:12: routes.a.upstream: \"ftp://x\" must be an http:// or https:// URL with a host, or \"stdout\"",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.a.status]\nsignature = 200\n",
            "hookgate.toml:6:13: routes.a.status.signature: 200 is not a 4xx or 5xx status code",
        ),
        (
            "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.b]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\npath = \"/webhooks/a\"\n",
            "hookgate.toml:5:1: routes.b.path: /webhooks/a is already the path of route \"a\"; each route needs its own path",
        ),
        (
            "[routes.a\n",
            "hookgate.toml:1:10: routes.a: close the table name with ]: [routes.NAME]",
        ),
        (
            "[surver]\n",
            "hookgate.toml:1:2: surver: unknown key \"surver\"; did you mean \"server\"? (valid keys are server, admin, store, defaults, routes)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&errors(text), want, "for:\n{text}");
    }
}

#[test]
fn every_syntax_type_and_unknown_key_mistake_comes_at_once_in_file_order() {
    // serde stops at the first wrong type or unknown key; every one of them is reported, in the
    // order of the file, each with its fix.
    let text = "[server]\nlisten = 8080\ntolerence = \"5m\"\n\
                [routes.a]\nprovider = \"chamelio\"\nsecrets = \"abc\"\nupstream = \"stdout\"\nretry_schedule = \"5s\"\n\
                [routes.b]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = [\"stdout\"]\ndelivery_concurrency = \"many\"\n\
                [[routes.b.handshake]]\nmatch = \"header:x\"\nstatus = \"ok\"\n";
    let lines: Vec<String> = parse_with(text, &[])
        .unwrap_err()
        .to_string()
        .lines()
        .map(|l| l.split(": ").take(2).collect::<Vec<_>>().join(": "))
        .collect();
    assert_eq!(
        lines,
        [
            "hookgate.toml:2:10: server.listen",
            "hookgate.toml:3:1: server.tolerence",
            "hookgate.toml:6:11: routes.a.secrets",
            "hookgate.toml:8:18: routes.a.retry_schedule",
            "hookgate.toml:12:12: routes.b.upstream",
            "hookgate.toml:13:24: routes.b.delivery_concurrency",
            "hookgate.toml:15:1: routes.b.handshake[0].match",
            "hookgate.toml:16:10: routes.b.handshake[0].status",
        ]
    );
    let all = parse_with(text, &[]).unwrap_err().to_string();
    assert!(all.contains("put the value in quotes"), "{all}");
    assert!(all.contains("write the number without quotes"), "{all}");
    assert!(!all.contains("abc"), "a secret was echoed: {all}");

    // Syntax errors come together too, each under its key, with a fix and without the value.
    let text = "[server]\nlisten = 127.0.0.1:8080\nmax_body = \"1MiB\n[routes.a]\nsecrets = [hunter2secret]\nupstream \"stdout\"\nallow_ips = [\"a\" \"b\"]\n";
    let all = parse_with(text, &[]).unwrap_err().to_string();
    let want = [
        (
            "hookgate.toml:2:",
            "server.listen: a value must be quoted text",
        ),
        (
            "hookgate.toml:3:",
            "server.max_body: the quoted text is not closed",
        ),
        (
            "hookgate.toml:5:",
            "routes.a.secrets: a value must be quoted text",
        ),
        ("hookgate.toml:6:", "routes.a.upstream: write key = value"),
        (
            "hookgate.toml:7:",
            "routes.a.allow_ips: separate a list's items with commas",
        ),
    ];
    for (at, what) in want {
        assert!(
            all.lines().any(|l| l.starts_with(at) && l.contains(what)),
            "{at} {what} missing from:\n{all}"
        );
    }
    assert!(!all.contains("hunter2"), "a secret was echoed: {all}");
    let twice = "[routes.a]\nprovider = \"chamelio\"\nprovider = \"github\"\n[routes.a]\n";
    let all = parse_with(twice, &[]).unwrap_err().to_string();
    assert!(
        all.contains(
            "hookgate.toml:3:1: routes.a.provider: this key is set twice in its table; keep one"
        ),
        "{all}"
    );
    assert!(
        all.contains("hookgate.toml:4:") && all.contains("routes.a: this table is written twice"),
        "{all}"
    );
}

#[test]
fn every_mistake_is_reported_not_just_the_first() {
    let text = r#"
[routes.a]
provider = "chamelio"
secrets = ["${NOPE}"]
upstream = "stdout"
allow_ips = ["not-an-ip"]

[routes.b]
provider = "githubb"
secrets = ["s"]
upstream = "stdout"
"#;
    let e = parse_with(text, &[]).unwrap_err();
    assert_eq!(e.len(), 3, "{e}");
    let text = e.to_string();
    assert!(text.contains("routes.a.secrets[0]"), "{text}");
    assert!(text.contains("routes.a.allow_ips[0]"), "{text}");
    assert!(text.contains("routes.b.provider"), "{text}");
}

#[test]
fn an_upstream_secret_builds_a_standard_webhooks_signer() {
    let text = r#"
[routes.a]
provider = "chamelio"
secrets = ["s"]
upstream = "stdout"
upstream_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#;
    let c = parse_with(text, &[]).unwrap();
    let signer = route(&c, "a").upstream_signer.as_ref().unwrap();
    // The Standard Webhooks published vector (see verify/tests.rs for its source).
    let at = jiff::Timestamp::from_second(1614265330).unwrap();
    let headers = signer
        .sign(
            br#"{"test": 2432232314}"#,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            at,
        )
        .unwrap();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        get("webhook-signature"),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    assert_eq!(get("webhook-id"), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    assert_eq!(get("webhook-timestamp"), Some("1614265330"));
}

#[test]
fn every_shipped_configuration_file_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in ["config", "examples", "examples/compose"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                // What the files expect the environment to provide without a fallback.
                let env = |var: &str| {
                    (var == "HOOKGATE_ADMIN_TOKEN")
                        .then(|| "a-token-of-sixteen-or-more".to_string())
                };
                if let Err(e) = parse(&path.display().to_string(), &text, &env) {
                    panic!("{}:\n{e}", path.display());
                }
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked, 2,
        "expected config/hookgate.toml and examples/compose/hookgate.toml"
    );
}

/// A route with a signed timestamp (Chamelio's), its vendor's retry horizon cleared, plus `extra`.
fn timed(extra: &str) -> String {
    format!(
        "[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nretry_horizon = \"0s\"\n{extra}"
    )
}

/// A route whose vendor signs no timestamp (GitHub's), plus `extra`.
fn untimed(extra: &str) -> String {
    format!("[routes.a]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n{extra}")
}

#[test]
fn settings_that_cannot_work_are_refused_with_their_fix() {
    let cases = [
        (
            timed("tolerance = \"0s\"\n"),
            "hookgate.toml:6:13: routes.a.tolerance: tolerance 0s refuses every delivery (any signed time before now is stale) while still accepting ones stamped up to max_clock_skew ahead; set the vendor's documented tolerance, such as \"5m\"",
        ),
        (
            untimed("dedupe_ttl = \"0s\"\nretry_horizon = \"0s\"\n"),
            "hookgate.toml:5:14: routes.a.dedupe_ttl: dedupe_ttl 0s on a route whose vendor signs no timestamp leaves it no replay protection at all: every captured delivery would be forwarded again; remove dedupe_ttl (the default is 24h) or set the vendor's retry horizon",
        ),
        (
            timed("tolerance = \"5M\"\n"),
            "hookgate.toml:6:13: routes.a.tolerance: \"5M\" uses the unit \"M\", which is not accepted here; \"M\" means months: write \"m\" for minutes, or days (\"30d\") for a month",
        ),
        (
            timed("dedupe_ttl = \"1 year\"\n"),
            "hookgate.toml:6:14: routes.a.dedupe_ttl: \"1 year\" uses the unit \"year\", which is not accepted here; write days instead, such as \"30d\" or \"365d\"",
        ),
        (
            "[server]\ndedupe_capacity = 0\n".to_string(),
            "hookgate.toml:2:19: server.dedupe_capacity: must be at least 1",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&errors(&text), want, "for:\n{text}");
    }
}

/// The warnings of a valid configuration, one per line.
fn warnings(text: &str) -> String {
    match parse_with(text, &[]) {
        Ok(c) => c.warnings.to_string(),
        Err(e) => panic!("expected a valid configuration, got:\n{e}\nfor:\n{text}"),
    }
}

#[test]
fn settings_that_weaken_a_route_are_warned_about_with_their_fix() {
    let cases = [
        (
            timed("max_clock_skew = \"36500d\"\n"),
            "hookgate.toml:6:18: routes.a.max_clock_skew: max_clock_skew 36500d accepts deliveries stamped that far in the future, and each stays replayable (and remembered) until 12h after its stamp; vendors' clocks are off by seconds, so keep it at a few minutes (the default is 5m)",
        ),
        (
            "[routes.a]\nprovider = \"chameleon\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nforward_timeout = \"10s\"\ndelivery = \"direct\"\n".to_string(),
            "hookgate.toml:5:19: routes.a.forward_timeout: forward_timeout 10s is not below the vendor's own timeout of 7s: the vendor gives up before hookgate can answer and retries a delivery that may have succeeded; lower forward_timeout below 7s",
        ),
        (
            "[server]\ndedupe_capacity = 1\n".to_string() + &timed(""),
            "hookgate.toml: routes.a: remembers only 1 delivered events (its share of server.dedupe_capacity (1 over 1 routes)): more deliveries than that within its dedupe_ttl of 1d make it forget the oldest early, and their replays would be forwarded; raise it to the deliveries the vendor sends in one dedupe_ttl",
        ),
        (timed("tolerance = \"5m\"\n"), ""),
    ];
    for (text, want) in cases {
        assert_eq!(&warnings(&text), want, "for:\n{text}");
    }
}

#[test]
fn a_route_that_learns_its_secret_is_warned_about_until_it_has_one_or_allow_ips() {
    let file =
        std::env::temp_dir().join(format!("hookgate-learn-warn-{}.secret", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let route = |extra: &str| {
        format!(
            "[routes.a]\nprovider = \"asana\"\nupstream = \"stdout\"\nlearn_secret = \"{}\"\n{extra}",
            file.display()
        )
    };
    assert_eq!(
        warnings(&route("")),
        format!(
            "hookgate.toml:4:16: routes.a.learn_secret: {} holds no secret yet, and the first setup request that reaches this route will set it; until the vendor's has, restrict the route to the vendor's addresses with allow_ips",
            file.display()
        )
    );
    assert_eq!(warnings(&route("allow_ips = [\"203.0.113.0/24\"]\n")), "");
    std::fs::write(&file, "the-vendors-secret").unwrap();
    assert_eq!(warnings(&route("")), "");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn ids_are_remembered_for_at_least_the_vendors_retry_horizon() {
    // Chameleon retries for 43 h: a route keeping the 24 h default remembers ids for 43 h and a tenth.
    let c = parse_with(
        "[routes.a]\nprovider = \"chameleon\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n",
        &[],
    )
    .unwrap();
    let r = route(&c, "a");
    assert_eq!(r.dedupe_ttl, Duration::from_secs(47 * 3600 + 18 * 60));
    assert_eq!(
        r.dedupe_ttl_reason.as_deref(),
        Some(
            "dedupe_ttl 1d raised to 1d 23h 18m to outlast the vendor's retries (9 attempts over 43 hours, each with a fresh sent_at; retry_horizon 1d 19h)"
        )
    );
    // A longer configured ttl is kept as it is.
    let c = parse_with(
        "[routes.a]\nprovider = \"chameleon\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\ndedupe_ttl = \"3d\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(route(&c, "a").dedupe_ttl, Duration::from_secs(3 * 86400));
    assert_eq!(route(&c, "a").dedupe_ttl_reason, None);
}

#[test]
fn every_preset_records_its_vendors_retry_horizon() {
    let table = crate::presets::table().unwrap();
    let layers = preset_layers().as_ref().unwrap();
    for p in &table.presets {
        assert!(p.retries.is_some(), "{}: no `retries`", p.name);
        assert!(
            layers[&p.name].retry_horizon.is_some(),
            "{}: no retry_horizon",
            p.name
        );
    }
}

#[test]
fn every_preset_forwards_within_its_vendors_timeout() {
    let layers = preset_layers().as_ref().unwrap();
    for (name, layer) in layers {
        if let Some(vendor) = &layer.vendor_timeout {
            let forward = layer
                .forward_timeout
                .as_ref()
                .map_or(route::builtin::FORWARD_TIMEOUT, |f| f.value);
            assert!(
                forward < vendor.value,
                "{name}: forward_timeout {forward:?} is not below vendor_timeout {:?}",
                vendor.value
            );
        }
    }
}

#[test]
fn dedupe_capacity_is_shared_among_routes_that_do_not_set_their_own() {
    let text = "[server]\ndedupe_capacity = 900\n[routes.a]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n[routes.b]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\ndedupe_capacity = 5000\n[routes.c]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n";
    let c = parse_with(text, &[]).unwrap();
    assert_eq!(route(&c, "a").dedupe_capacity, 450);
    assert_eq!(route(&c, "b").dedupe_capacity, 5000);
    assert_eq!(route(&c, "c").dedupe_capacity, 450);
}

#[test]
fn a_redis_lease_must_outlast_two_attempts_and_events_outlive_every_max_delivery_age() {
    let store = "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\nlease = \"20s\"\n";
    let too_short = format!("{store}{}", timed("forward_timeout = \"15s\"\n"));
    assert_eq!(
        errors(&too_short),
        "hookgate.toml:5:1: routes.a.forward_timeout: store.lease 20s is not twice forward_timeout 15s: an attempt still under way when its lease ends is taken over by another replica and delivered twice; raise store.lease to at least 30s or lower forward_timeout"
    );
    let fine = format!(
        "{store}{}[routes.b]\nprovider = \"github\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nmax_delivery_age = \"9d\"\n",
        timed("forward_timeout = \"10s\"\nmax_delivery_age = \"2d\"\n")
    );
    let c = parse_with(&fine, &[]).unwrap();
    match &c.store.kind {
        StoreKind::Redis(r) => assert_eq!(r.max_age, Duration::from_secs(9 * 86_400)),
        other => panic!("not a Redis store: {other:?}"),
    }
}

/// The route's allowlist, which must be a list fixed at load.
fn fixed(r: &crate::routes::Route) -> &[ipnet::IpNet] {
    match &r.allow_ips {
        Some(crate::client_ip::Allowlist::Fixed(nets)) => nets,
        other => panic!("not a fixed list: {other:?}"),
    }
}

#[test]
fn allow_ips_fetched_from_a_url_is_empty_until_fetched_and_preset_fetches_where_the_vendor_asks() {
    let base = "[routes.a]\nprovider = \"pagerduty\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n";
    let fetched = |text: &str| {
        let c = parse_with(&format!("{base}{text}"), &[]).unwrap();
        match &route(&c, "a").allow_ips {
            Some(crate::client_ip::Allowlist::Fetched(list)) => {
                assert!(list.nets().is_none(), "nothing is fetched at load");
                list.url().to_string()
            }
            other => panic!("not fetched: {other:?}"),
        }
    };
    // PagerDuty asks that its list be fetched: "preset" fetches its US region's.
    assert_eq!(
        fetched("allow_ips = \"preset\"\n"),
        "https://developer.pagerduty.com/ip-safelists/webhooks-us-service-region-json"
    );
    assert_eq!(
        fetched("allow_ips = \"url:https://api.github.com/meta#/hooks\"\n"),
        "https://api.github.com/meta"
    );
}

#[test]
fn allow_ips_takes_a_list_the_vendors_published_addresses_or_a_file() {
    let base = "[routes.a]\nprovider = \"stripe\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\n";
    // "preset": the 15 webhook addresses Stripe publishes, with a warning once the built-in list is
    // older than presets::SOURCE_IPS_STALE_DAYS (this one is of 2026-05-15).
    let c = parse_with(&format!("{base}allow_ips = \"preset\"\n"), &[]).unwrap();
    let nets = fixed(route(&c, "a"));
    assert_eq!(nets.len(), 15);
    assert!(
        nets.iter()
            .any(|n| n.contains(&"54.187.174.169".parse::<std::net::IpAddr>().unwrap()))
    );
    let stale = jiff::Zoned::now().date()
        > jiff::civil::date(2026, 5, 15).saturating_add(jiff::Span::new().days(180));
    let warned = c.warnings.to_string();
    assert_eq!(
        warned.contains(
            "routes.a.allow_ips: the built-in list of Stripe's source addresses is from 2026-05-15"
        ),
        stale,
        "{warned}"
    );

    // A file: one per line, comments and blank lines skipped; relative to the configuration.
    let dir = std::env::temp_dir().join(format!("hookgate-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ok.txt"),
        "# Stripe\n54.187.174.169\n\n203.0.113.0/24 # ours\n",
    )
    .unwrap();
    std::fs::write(dir.join("bad.txt"), "203.0.113.0/24\nnot-an-address\n").unwrap();
    std::fs::write(dir.join("empty.txt"), "# nothing yet\n").unwrap();
    let name = dir.join("hookgate.toml").display().to_string();
    let parse_at = |text: &str| crate::config::parse(&name, text, &|_| None);
    let c = parse_at(&format!("{base}allow_ips = \"file:ok.txt\"\n")).unwrap();
    assert_eq!(fixed(route(&c, "a")).len(), 2);
    let e = parse_at(&format!("{base}allow_ips = \"file:bad.txt\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("routes.a.allow_ips:")
            && e.contains("bad.txt:2: \"not-an-address\" is not an IP address"),
        "{e}"
    );
    let e = parse_at(&format!("{base}allow_ips = \"file:empty.txt\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lists no address, which would refuse every delivery"),
        "{e}"
    );
    let e = parse_at(&format!("{base}allow_ips = \"file:missing.txt\"\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read the address list"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    // A preset without a published list, and text that is none of the three forms.
    let e = parse_with("[routes.a]\nprovider = \"chamelio\"\nsecrets = [\"s\"]\nupstream = \"stdout\"\nallow_ips = \"preset\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("the chamelio preset has none"), "{e}");
    let e = parse_with(&format!("{base}allow_ips = \"anywhere\"\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"anywhere\" is not a list of addresses"), "{e}");
    let e = parse_with(&format!("{base}allow_ips = 5\n"), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected a list of addresses"), "{e}");
}
