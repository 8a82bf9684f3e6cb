//! Signature, timestamp and id headers of every kind of scheme, with any body: verification answers,
//! and never panics. Covers composite headers (`t=…,v1=…`, `ts=…;h1=…`), space-separated lists,
//! hex, base64 and base64url decoding, Ed25519, ECDSA, JWT, Basic credentials, form and URL signing,
//! and signatures carried in the body.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use hookgate::routes::Route;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const ROUTES: &str = r#"
[routes.stripe]
provider = "stripe"
secrets = ["whsec_x"]
upstream = "stdout"
[routes.standard]
provider = "standard-webhooks"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
upstream = "stdout"
[routes.paddle]
provider = "paddle"
secrets = ["s"]
upstream = "stdout"
[routes.persona]
provider = "persona"
secrets = ["s"]
upstream = "stdout"
[routes.box]
provider = "box"
secrets = ["a", "b"]
upstream = "stdout"
[routes.sendgrid]
provider = "sendgrid"
public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
upstream = "stdout"
[routes.discord]
provider = "discord"
public_key = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
upstream = "stdout"
[routes.netlify]
provider = "netlify"
secrets = ["s"]
upstream = "stdout"
[routes.postmark]
provider = "postmark"
secrets = ["u:p"]
upstream = "stdout"
[routes.twilio]
provider = "twilio"
secrets = ["12345"]
public_url = "https://example.com/hook"
upstream = "stdout"
[routes.mailgun]
provider = "mailgun"
secrets = ["s"]
upstream = "stdout"
[routes.adyen]
provider = "adyen"
secrets = ["44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"]
upstream = "stdout"
[routes.contentful]
provider = "contentful"
secrets = ["s"]
public_url = "https://example.com/hook"
upstream = "stdout"
"#;

fn routes() -> &'static Vec<Route> {
    static ROUTES_: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES_.get_or_init(|| {
        hookgate::config::parse("fuzz.toml", ROUTES, &|_| None)
            .expect("the fuzz routes are valid")
            .routes
    })
}

#[derive(Arbitrary, Debug)]
struct Input {
    route: u8,
    /// Values for the headers the scheme reads, in order; the rest are left out.
    values: Vec<String>,
    query: String,
    content_type: u8,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let routes = routes();
    let route = &routes[usize::from(input.route) % routes.len()];
    let v = &route.verifier;
    let mut names: Vec<http::HeaderName> = v.signature().headers().cloned().collect();
    for s in v.timestamp().iter().chain(&v.event().id) {
        if let hookgate::verify::Source::Header(h) = s {
            names.push(h.clone());
        }
    }
    names.push(http::HeaderName::from_static("x-contentful-signed-headers"));
    let content_type = ["application/json", "application/x-www-form-urlencoded", "text/plain"]
        [usize::from(input.content_type) % 3];
    let uri = format!("/hook?{}", input.query);
    let mut b = http::Request::builder()
        .method("POST")
        .header("content-type", content_type);
    b = match http::Uri::try_from(uri.as_str()) {
        Ok(u) => b.uri(u),
        Err(_) => b.uri("/hook"),
    };
    for (name, value) in names.iter().zip(&input.values) {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            b = b.header(name, v);
        }
    }
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let _ = v.verify(&parts, Bytes::from(input.body));
});
