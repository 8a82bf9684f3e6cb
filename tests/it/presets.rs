//! Presets through the running gateway: a form-encoded, URL-signed delivery (Twilio's published
//! example) and a header-identified one (GitHub's) arrive upstream as CloudEvents that carry the
//! vendor's body faithfully.

use crate::harness::*;

#[tokio::test]
async fn a_twilio_form_post_is_verified_against_the_public_url_and_forwarded_as_form_data() {
    let upstream = Upstream::start().await;
    // twilio-python tests/unit/test_request_validator.py: token 12345, the URL below with its query,
    // and these form parameters sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
    let routes = format!(
        "[routes.twilio]\nprovider = \"twilio\"\nsecrets = [\"12345\"]\n\
         public_url = \"https://mycompany.com/myapp.php\"\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let headers = hdrs(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-twilio-signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
    ]);
    let url = gw.url("/webhooks/twilio?foo=1&bar=2");
    let r = post(&url, &headers, body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["datacontenttype"], "application/x-www-form-urlencoded");
    assert_eq!(ce["data"], body);
    assert_eq!(ce["source"], "twilio");

    // The same parameters posted to a different query string are not what Twilio signed.
    let r = post(&gw.url("/webhooks/twilio?foo=1&bar=3"), &headers, body).await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_github_delivery_is_identified_by_its_delivery_header() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.github]\nprovider = \"github\"\nsecrets = [\"It's a Secret to Everybody\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let body = r#"{"zen":"Design for failure.","hook_id":1}"#;
    let headers = hdrs(&[
        ("content-type", "application/json"),
        ("x-github-event", "ping"),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        (
            "x-hub-signature-256",
            &format!(
                "sha256={}",
                hmac_sha256_hex("It's a Secret to Everybody", body.as_bytes())
            ),
        ),
    ]);
    assert_eq!(
        post(&gw.url("/webhooks/github"), &headers, body)
            .await
            .status,
        200
    );
    // A redelivery repeats the delivery id: acknowledged, not forwarded again.
    assert_eq!(
        post(&gw.url("/webhooks/github"), &headers, body)
            .await
            .status,
        200
    );
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(ce["type"], "ping");
    assert_eq!(ce["data"]["zen"], "Design for failure.");
    gw.stop().await;
}
