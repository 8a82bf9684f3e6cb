//! Every preset against its test deliveries in `vectors.toml` (written by `tools/vectors.py`): the
//! vendors' own published examples where they exist, deliveries built from the vendors' documentation
//! by an independent implementation where they do not.
//!
//! Each delivery goes through the route that `hookgate providers show NAME` prints, with the delivery's
//! keys filled in, so the printed TOML is tested too. From each one the test derives the variants a
//! gateway must refuse: a tampered body, a wrong key, a malformed and a missing signature, and (where
//! the vendor signs a time) a stale and a future one. All failures are collected and reported at once.

use super::{EXAMPLE_URL, Preset, as_route_toml, needs, table};
use crate::replay::{WindowError, check_window};
use crate::routes::Route;
use crate::verify::{Source, VerifyError, body_hash};
use bytes::Bytes;
use http::request::Parts;
use jiff::SignedDuration;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    source: String,
    secret: Option<String>,
    secrets: Option<Vec<String>>,
    public_key: Option<String>,
    other_public_key: Option<String>,
    /// The key set the vendor publishes (a JSON Web Key Set), for routes that fetch it, and another.
    jwks: Option<String>,
    other_jwks: Option<String>,
    /// For tokens checked against a published key set: the audience and the sender's `sub`.
    audience: Option<String>,
    sender: Option<String>,
    public_url: Option<String>,
    /// The method the delivery comes by, when it is not POST.
    method: Option<String>,
    url: Option<String>,
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A replacement in the body that a valid signature must not survive, for schemes that sign fields
    /// rather than the whole body.
    tamper: Option<[String; 2]>,
    headers: Vec<[String; 2]>,
    body: String,
}

impl Vector {
    fn official(&self) -> bool {
        self.source.starts_with("official:")
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets
            .clone()
            .or_else(|| self.secret.clone().map(|s| vec![s]))
            .unwrap_or_default()
    }
}

/// One request: target, headers and body.
#[derive(Clone)]
struct Delivery {
    method: http::Method,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Delivery {
    /// The vector as a request to `route`: at the vector's URL, or else the route's path.
    fn of(v: &Vector, route: &Route) -> Delivery {
        Delivery {
            method: v
                .method
                .as_deref()
                .unwrap_or("POST")
                .parse()
                .expect("a method"),
            uri: v.url.clone().unwrap_or_else(|| route.path.clone()),
            headers: v
                .headers
                .iter()
                .map(|[k, h]| (k.clone(), h.clone()))
                .collect(),
            body: v.body.clone(),
        }
    }

    fn parts(&self) -> Parts {
        let mut b = http::Request::builder()
            .method(self.method.clone())
            .uri(&self.uri);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(())
            .expect("vector requests are valid")
            .into_parts()
            .0
    }
}

fn vectors() -> BTreeMap<String, Vec<Vector>> {
    toml::from_str(include_str!("vectors.toml")).expect("vectors.toml parses")
}

/// A TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The route `hookgate providers show` prints for the preset, with the vector's keys put in.
fn build_route(
    p: &Preset,
    v: &Vector,
    secrets: &[String],
    public_key: Option<&str>,
) -> Result<Route, String> {
    let mut text = String::new();
    for line in as_route_toml(p).lines() {
        let line = if line.starts_with("secrets = ") {
            format!("secrets = {}", list(secrets))
        } else if line.starts_with("public_key = ") {
            match public_key {
                Some(key) => format!("public_key = [{}]", quoted(key)),
                // The preset's own (the vendor's published key) stays.
                None if needs(&p.name).key_built_in => line.to_string(),
                None => return Err("the vector has no public_key".to_string()),
            }
        } else if line.starts_with("public_url = ") {
            let url = v
                .public_url
                .as_deref()
                .ok_or("the vector has no public_url")?;
            assert!(line.contains(EXAMPLE_URL));
            format!("public_url = {}", quoted(url))
        } else if line.starts_with("jwt_audience = ") {
            let aud = v.audience.as_deref().ok_or("the vector has no audience")?;
            format!("jwt_audience = {}", quoted(aud))
        } else if line.starts_with("jwt_require_claims = ") {
            let sender = v.sender.as_deref().ok_or("the vector has no sender")?;
            format!("jwt_require_claims = {{ sub = {} }}", quoted(sender))
        } else if line.starts_with("upstream = ") {
            "upstream = \"stdout\"".to_string()
        } else {
            line.to_string()
        };
        text.push_str(&line);
        text.push('\n');
    }
    // Verify tokens and the fields of a key request: values only the route's user knows.
    let env = |name: &str| Some(format!("value-of-{name}"));
    let mut config =
        crate::config::parse("vector.toml", &text, &env).map_err(|e| format!("{e}\n{text}"))?;
    // A preset's own settings must not be ones `check` warns about.
    if !config.warnings.is_empty() {
        return Err(format!("warnings: {}", config.warnings));
    }
    let route = config.routes.pop().ok_or_else(|| "no route".to_string())?;
    // Keys the vendor publishes: as its fetcher would have loaded them.
    if let Some(set) = route.verifier.key_set() {
        let document = v.jwks.as_deref().ok_or("the vector has no jwks")?;
        set.replace(set.parse(document.as_bytes())?);
    }
    Ok(route)
}

/// Changes one byte of a value without changing its kind: a letter to its neighbour within a pair
/// (a↔b, so hex stays hex), a digit likewise.
fn flip(c: u8) -> u8 {
    match c {
        b'a'..=b'z' => b'a' + ((c - b'a') ^ 1),
        b'A'..=b'Z' => b'A' + ((c - b'A') ^ 1),
        b'0'..=b'9' => b'0' + ((c - b'0') ^ 1),
        _ => c,
    }
}

/// The body with its last letter or digit changed (or a space appended when it has none).
fn tampered_body(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    match bytes.iter().rposition(u8::is_ascii_alphanumeric) {
        Some(i) => bytes[i] = flip(bytes[i]),
        None => bytes.push(b' '),
    }
    String::from_utf8(bytes).expect("ASCII change keeps UTF-8")
}

/// A secret with one character changed near its middle, past any `whsec_`-style prefix, keeping its
/// encoding valid.
fn wrong_secret(secret: &str) -> String {
    let mut bytes = secret.as_bytes().to_vec();
    let from = bytes.len() / 2;
    let i = (from..bytes.len())
        .chain(0..from)
        .find(|&i| bytes[i].is_ascii_alphanumeric())
        .expect("secrets have a letter or digit");
    bytes[i] = flip(bytes[i]);
    String::from_utf8(bytes).expect("ASCII change keeps UTF-8")
}

/// The delivery with every signature the scheme reads replaced (`Some(text)`) or removed (`None`).
fn with_signature(route: &Route, d: &Delivery, replacement: Option<&str>) -> Delivery {
    let mut out = d.clone();
    for source in &route.verifier.signature().sources {
        match source {
            Source::Header(h) => {
                if let Some(text) = replacement {
                    for (k, v) in out.headers.iter_mut() {
                        if k.eq_ignore_ascii_case(h.as_str()) {
                            *v = text.to_string();
                        }
                    }
                } else {
                    out.headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case(h.as_str()));
                }
            }
            Source::Body(p) => {
                // The JSON document: the whole body, or the one JSON part of a form (body_from).
                let (start, end) = match serde_json::from_str::<serde_json::Value>(&out.body) {
                    Ok(_) => (0, out.body.len()),
                    Err(_) => (
                        out.body.find('{').expect("a JSON document in the form"),
                        out.body.rfind('}').expect("a JSON document in the form") + 1,
                    ),
                };
                let mut json: serde_json::Value =
                    serde_json::from_str(&out.body[start..end]).expect("JSON body");
                let text = p.text();
                let (parent, last) = text.rsplit_once('/').expect("pointer has a token");
                let holder = json.pointer_mut(parent).and_then(|v| v.as_object_mut());
                let holder = holder.expect("the signature's parent object exists");
                match replacement {
                    Some(t) => {
                        holder.insert(last.to_string(), t.into());
                    }
                    None => {
                        holder.remove(last);
                    }
                }
                out.body = format!("{}{json}{}", &out.body[..start], &out.body[end..]);
            }
            Source::Query(name) => {
                let (path, query) = out.uri.split_once('?').unwrap_or((&out.uri, ""));
                out.uri = format!("{path}?{}", with_pair(query, name, replacement));
            }
            Source::Form(name) => out.body = with_pair(&out.body, name, replacement),
            Source::Signature(_) | Source::Claim(_) => unreachable!("not a signature source"),
        }
    }
    out
}

/// Form-encoded `pairs` with `name`'s value replaced (`Some`) or the pair removed (`None`).
fn with_pair(pairs: &str, name: &str, replacement: Option<&str>) -> String {
    let kept = form_urlencoded::parse(pairs.as_bytes())
        .into_owned()
        .filter_map(|(k, v)| match (k == name, replacement) {
            (true, Some(t)) => Some((k, t.to_string())),
            (true, None) => None,
            (false, _) => Some((k, v)),
        });
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
}

/// Checks one delivery and its variants; returns what went wrong.
fn check(p: &Preset, n: usize, v: &Vector) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail =
        |what: &str, detail: String| failures.push(format!("{}[{n}] {what}: {detail}", p.name));
    let needs = needs(&p.name);
    let route = match build_route(p, v, &v.secrets(), v.public_key.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            fail("route", e);
            return failures;
        }
    };
    let delivery = Delivery::of(v, &route);
    let verify = |d: &Delivery| {
        route
            .verifier
            .verify(&d.parts(), Bytes::from(d.body.clone()))
    };

    // The delivery as sent.
    let verified = match verify(&delivery) {
        Ok(ok) => ok,
        Err(e) => {
            fail("genuine delivery", format!("refused: {e:?}"));
            return failures;
        }
    };
    match v.id.as_deref() {
        Some("body-sha256") => {
            if !verified.id_is_body_hash() || verified.id() != body_hash(v.body.as_bytes()) {
                fail(
                    "id",
                    format!("expected the body hash, got {:?}", verified.id()),
                );
            }
        }
        Some("document-sha256") => {
            // The form field that holds the vendor's document (body_from): its hash, whatever
            // boundary the form around it had.
            if !verified.id_is_body_hash() || verified.id() != body_hash(verified.body()) {
                fail(
                    "id",
                    format!("expected the document's hash, got {:?}", verified.id()),
                );
            }
            if verified.body().len() >= v.body.len() {
                fail(
                    "data",
                    "the form around the document was forwarded".to_string(),
                );
            }
        }
        Some("request-sha256") => {
            let digest = verified.request_line().map(|l| hex::encode(l.digest));
            if !verified.id_is_body_hash() || digest.as_deref() != Some(verified.id()) {
                fail(
                    "id",
                    format!("expected the request digest, got {:?}", verified.id()),
                );
            }
        }
        Some(id) if verified.id() != id => {
            fail("id", format!("expected {id:?}, got {:?}", verified.id()))
        }
        Some(_) => {}
        None => fail("id", "the vector names no expected id".to_string()),
    }
    if let Some(kind) = &v.kind
        && verified.kind() != Some(kind.as_str())
    {
        fail(
            "type",
            format!("expected {kind:?}, got {:?}", verified.kind()),
        );
    }

    // The window, where the vendor signs a time.
    if !route.verifier.timestamp().is_empty() {
        match verified.signed_at() {
            None => fail(
                "timestamp",
                "the scheme has a signed time but none was read".to_string(),
            ),
            Some(at) => {
                let tolerance = SignedDuration::try_from(route.tolerance).unwrap();
                let skew = SignedDuration::try_from(route.max_clock_skew).unwrap();
                let second = SignedDuration::from_secs(1);
                let window = |now| check_window(at, now, route.tolerance, route.max_clock_skew);
                if window(at) != Ok(()) {
                    fail("window", "refused at its own signing time".to_string());
                }
                if window(at + tolerance + second) != Err(WindowError::Stale) {
                    fail("stale", "accepted after the tolerance".to_string());
                }
                if window(at - skew - second) != Err(WindowError::Future) {
                    fail("future", "accepted beyond the clock skew".to_string());
                }
            }
        }
    }

    // A tampered body.
    let tampered = match &v.tamper {
        Some([from, to]) => {
            if !v.body.contains(from.as_str()) {
                fail("tamper", format!("{from:?} is not in the body"));
            }
            Some(v.body.replacen(from.as_str(), to, 1))
        }
        None if route.verifier.covers_body() => Some(tampered_body(&v.body)),
        None => None,
    };
    if let Some(body) = tampered {
        let d = Delivery {
            body,
            ..delivery.clone()
        };
        let got = verify(&d).map(|_| ());
        if got != Err(VerifyError::InvalidSignature) {
            fail(
                "tampered body",
                format!("expected InvalidSignature, got {got:?}"),
            );
        }
    }

    // Another query, where the scheme signs it.
    if route.verifier.covers_query() {
        let sep = if delivery.uri.contains('?') { '&' } else { '?' };
        let d = Delivery {
            uri: format!("{}{sep}added=1", delivery.uri),
            ..delivery.clone()
        };
        let got = verify(&d).map(|_| ());
        if got != Err(VerifyError::InvalidSignature) {
            fail(
                "another query",
                format!("expected InvalidSignature, got {got:?}"),
            );
        }
    }

    // Another method, where the scheme signs it.
    if route.verifier.covers_method() {
        let other = if delivery.method == http::Method::POST {
            http::Method::PUT
        } else {
            http::Method::POST
        };
        let d = Delivery {
            method: other,
            ..delivery.clone()
        };
        let got = verify(&d).map(|_| ());
        if got != Err(VerifyError::InvalidSignature) {
            fail(
                "another method",
                format!("expected InvalidSignature, got {got:?}"),
            );
        }
    }

    // Another signature version or algorithm than the one the scheme requires, or none.
    for (name, _) in route.verifier.require_headers() {
        for value in [Some("2"), None] {
            let mut d = delivery.clone();
            d.headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case(name.as_str()));
            if let Some(v) = value {
                d.headers.push((name.to_string(), v.to_string()));
            }
            let got = verify(&d).map(|_| ());
            if got != Err(VerifyError::InvalidSignature) {
                fail(
                    "required header",
                    format!("{name}: {value:?}: expected InvalidSignature, got {got:?}"),
                );
            }
        }
    }

    // The wrong key.
    let wrong = if let Some(other) = &v.other_jwks {
        build_route(p, v, &v.secrets(), None).and_then(|r| {
            let set = r.verifier.key_set().ok_or("other_jwks, but no key set")?;
            set.replace(set.parse(other.as_bytes())?);
            Ok(r)
        })
    } else if needs.public_key || needs.key_built_in {
        match &v.other_public_key {
            Some(other) => route_for_key(p, v, other),
            None => Err("the vector has no other_public_key".to_string()),
        }
    } else {
        let secrets: Vec<String> = v.secrets().iter().map(|s| wrong_secret(s)).collect();
        build_route(p, v, &secrets, None)
    };
    match wrong {
        Ok(other) => {
            let got = other
                .verifier
                .verify(&delivery.parts(), Bytes::from(delivery.body.clone()))
                .map(|_| ());
            if got != Err(VerifyError::InvalidSignature) {
                fail(
                    "wrong key",
                    format!("expected InvalidSignature, got {got:?}"),
                );
            }
        }
        Err(e) => fail("wrong key", e),
    }

    // A signature that is not one, and none at all.
    let token = route.verifier.algorithm() == crate::verify::Algorithm::Token;
    let want = if token {
        VerifyError::InvalidSignature
    } else {
        VerifyError::MalformedSignature
    };
    let got = verify(&with_signature(&route, &delivery, Some("!"))).map(|_| ());
    if got != Err(want) {
        fail(
            "malformed signature",
            format!("expected {want:?}, got {got:?}"),
        );
    }
    let got = verify(&with_signature(&route, &delivery, None)).map(|_| ());
    if got != Err(VerifyError::MissingSignature) {
        fail(
            "missing signature",
            format!("expected MissingSignature, got {got:?}"),
        );
    }
    failures
}

fn route_for_key(p: &Preset, v: &Vector, key: &str) -> Result<Route, String> {
    build_route(p, v, &[], Some(key))
}

#[test]
fn every_preset_verifies_its_deliveries_and_refuses_their_variants() {
    let table = table().expect("preset table");
    let vectors = vectors();
    let mut failures = Vec::new();
    for name in vectors.keys() {
        if !table.presets.iter().any(|p| &p.name == name) {
            failures.push(format!(
                "vectors.toml has deliveries for unknown preset {name}"
            ));
        }
    }
    for p in &table.presets {
        match vectors.get(&p.name) {
            None => failures.push(format!("{}: no test delivery in vectors.toml", p.name)),
            Some(list) => {
                for (n, v) in list.iter().enumerate() {
                    failures.extend(check(p, n, v));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_catalogue_is_broad_and_backed_by_vendors_own_examples() {
    let table = table().expect("preset table");
    assert!(
        table.presets.len() >= 150,
        "{} presets",
        table.presets.len()
    );
    let vectors = vectors();
    let official: Vec<&String> = vectors
        .iter()
        .filter(|(_, list)| list.iter().any(Vector::official))
        .map(|(name, _)| name)
        .collect();
    // The presets whose vendor publishes a worked example or an SDK test vector (see vectors.toml).
    assert!(
        official.len() >= 40,
        "only {} presets have an official example: {official:?}",
        official.len()
    );
    for name in [
        "github",
        "slack",
        "twilio",
        "sendgrid",
        "square",
        "adyen",
        "box",
        "paddle",
        "standard-webhooks",
        "hubspot",
        "workos",
        "dropbox-sign",
        "modern-treasury",
        "line",
        "viber",
        "pagerduty",
        "buildkite",
        "wise-sandbox",
    ] {
        assert!(
            official.contains(&&name.to_string()),
            "{name} lost its official example"
        );
    }
}

#[test]
fn wise_routes_verify_with_the_key_wise_publishes_for_their_environment() {
    // Neither route is given a key: each has the one Wise publishes for its environment. Wise's own
    // sandbox delivery (the official vector) passes the sandbox route and fails the production one.
    let table = table().expect("preset table");
    let v = &vectors()["wise-sandbox"][0];
    let verify = |name: &str| {
        let p = table.presets.iter().find(|p| p.name == name).unwrap();
        assert!(needs(name).key_built_in && !needs(name).public_key);
        let route = build_route(p, v, &[], None).unwrap();
        let d = Delivery::of(v, &route);
        route
            .verifier
            .verify(&d.parts(), Bytes::from(d.body.clone()))
            .map(|_| ())
    };
    assert_eq!(verify("wise-sandbox"), Ok(()));
    assert_eq!(verify("wise"), Err(VerifyError::InvalidSignature));
}

#[test]
fn the_legacy_sha1_signature_is_accepted_only_by_the_route_that_opts_in() {
    // A delivery that carries only X-Hub-Signature (SHA-1), as older GitHub Enterprise Servers send:
    // the github-sha1 preset accepts it (every_preset_verifies… checks that), the github preset
    // answers that the signature it requires is missing.
    let table = table().expect("preset table");
    let v = &vectors()["github-sha1"][0];
    let github = table.presets.iter().find(|p| p.name == "github").unwrap();
    let route = build_route(github, v, &v.secrets(), None).unwrap();
    let delivery = Delivery::of(v, &route);
    let got = route
        .verifier
        .verify(&delivery.parts(), bytes::Bytes::from(v.body.clone()))
        .map(|_| ());
    assert_eq!(got, Err(crate::verify::VerifyError::MissingSignature));
}

#[test]
fn a_json_web_token_past_its_exp_or_before_its_nbf_is_refused() {
    // MessageBird's (and Netlify's) tokens are checked for exp and nbf when they carry them:
    // a captured delivery replayed after its token expired is refused, whatever it carries.
    let table = table().expect("preset table");
    let v = &vectors()["messagebird"][0];
    let preset = table
        .presets
        .iter()
        .find(|p| p.name == "messagebird")
        .unwrap();
    let route = build_route(preset, v, &v.secrets(), None).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let token = |nbf: i64, exp: i64| {
        let claims = serde_json::json!({
            "iss": "MessageBird", "nbf": nbf, "exp": exp,
            "payload_hash": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(v.body.as_bytes())),
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(v.secrets()[0].as_bytes()),
        )
        .unwrap()
    };
    let verify = |t: String| {
        let mut d = Delivery::of(v, &route);
        for (k, value) in d.headers.iter_mut() {
            if k.eq_ignore_ascii_case("MessageBird-Signature-JWT") {
                *value = t.clone();
            }
        }
        route
            .verifier
            .verify(&d.parts(), bytes::Bytes::from(v.body.clone()))
            .map(|_| ())
    };
    assert_eq!(verify(token(now - 60, now + 300)), Ok(()));
    // jsonwebtoken allows 60 seconds of leeway either side.
    let refused = Err(VerifyError::InvalidSignature);
    assert_eq!(verify(token(now - 3600, now - 600)), refused, "expired");
    assert_eq!(
        verify(token(now + 600, now + 3600)),
        refused,
        "not yet valid"
    );
}

#[test]
fn twilio_checks_the_algorithm_its_settings_header_names_and_no_other() {
    // The Webhooks Rules delivery (HMAC-SHA256 under the rule's SharedKey) is accepted by
    // every_preset_verifies…; here, each way of presenting it under the wrong scheme is refused.
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let table = table().expect("preset table");
    let list = &vectors()["twilio"];
    let v = list
        .iter()
        .find(|v| v.headers.iter().any(|[k, _]| k.contains("Settings")))
        .expect("the Webhooks Rules delivery");
    let twilio = table.presets.iter().find(|p| p.name == "twilio").unwrap();
    let route = build_route(twilio, v, &v.secrets(), None).unwrap();
    let settings = "X-Twilio-Webhooks-Signature-Settings";
    let verify = |settings_values: &[&str], signature: Option<&str>| {
        let mut d = Delivery::of(v, &route);
        d.headers.retain(|(k, _)| k != settings);
        for s in settings_values {
            d.headers.push((settings.to_string(), s.to_string()));
        }
        if let Some(sig) = signature {
            for (k, value) in d.headers.iter_mut() {
                if k == "X-Twilio-Signature" {
                    *value = sig.to_string();
                }
            }
        }
        route
            .verifier
            .verify(&d.parts(), Bytes::from(v.body.clone()))
            .map(|_| ())
    };
    let sha256 = "key=HK-rule-1,algorithm=HMAC_SHA256";
    assert_eq!(verify(&[sha256], None), Ok(()));
    // The same signature without the header is checked as HMAC-SHA1, and a SHA-256 MAC is not one.
    assert_eq!(verify(&[], None), Err(VerifyError::MalformedSignature));
    // An algorithm the route does not know, as Twilio's SDKs refuse it (403 there).
    assert_eq!(
        verify(&["key=HK-rule-1,algorithm=HMAC_SHA512"], None),
        Err(VerifyError::InvalidSignature)
    );
    // Settings without an algorithm, and two settings headers, are not something Twilio sends.
    assert_eq!(
        verify(&["key=HK-rule-1"], None),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        verify(&[sha256, sha256], None),
        Err(VerifyError::MalformedSignature)
    );
    // A genuine SHA-1 signature under the auth token, relabelled as HMAC_SHA256, is refused; labelled
    // HMAC_SHA1 (a rule that keeps SHA-1), it is checked as SHA-1 and accepted.
    let signed = "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212";
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"12345").unwrap();
    mac.update(signed.as_bytes());
    let sha1 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(verify(&[], Some(&sha1)), Ok(()), "the plain SHA-1 delivery");
    assert_eq!(
        verify(&[sha256], Some(&sha1)),
        Err(VerifyError::MalformedSignature),
        "a 20-byte MAC is no SHA-256 signature"
    );
    assert_eq!(
        verify(&["key=HK-rule-1,algorithm=HMAC_SHA1"], Some(&sha1)),
        Ok(())
    );
}

#[test]
fn paddle_classic_refuses_a_field_added_twice_or_a_body_that_is_no_form() {
    // PHP keeps one value of a repeated field and the consumer might read the other, so a delivery
    // with a field repeated is refused even though one of its values is the signed one.
    let table = table().expect("preset table");
    let v = &vectors()["paddle-classic"][0];
    let p = table
        .presets
        .iter()
        .find(|p| p.name == "paddle-classic")
        .unwrap();
    let route = build_route(p, v, &[], v.public_key.as_deref()).unwrap();
    let verify = |body: String, form: bool| {
        let mut d = Delivery::of(v, &route);
        d.body = body;
        if !form {
            d.headers = vec![("Content-Type".into(), "application/json".into())];
        }
        route
            .verifier
            .verify(&d.parts(), Bytes::from(d.body.clone()))
            .map(|_| ())
    };
    assert_eq!(verify(v.body.clone(), true), Ok(()));
    assert_eq!(
        verify(format!("status=cancelled&{}", v.body), true),
        Err(VerifyError::MalformedSignature)
    );
    // Not a form: its signature field is not there to be read.
    assert_eq!(
        verify(v.body.clone(), false),
        Err(VerifyError::MissingSignature)
    );
}
