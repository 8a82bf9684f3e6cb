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
    // The signed URL's query goes along.
    assert_eq!(ce["webhookquery"], "foo=1&bar=2");

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

/// HubSpot v2 signs GET deliveries (method, URL and an empty body) and Zendesk webhooks set to
/// DELETE sign their timestamp: a route that lists those methods verifies and forwards them as a
/// POST of a CloudEvent that names the method; a route that does not answers 405.
#[tokio::test]
async fn signed_get_and_delete_deliveries_are_verified_and_forwarded_where_the_route_takes_them() {
    use base64::Engine;
    use hmac::Mac;
    use sha2::Digest;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.hubspot]\nprovider = \"hubspot-v2\"\nsecrets = [\"hs-secret\"]\n\
         public_url = \"https://hooks.example.com/webhooks/hubspot\"\nmethods = [\"POST\", \"GET\"]\n\
         upstream = \"{u}\"\n\
         [routes.zendesk]\nprovider = \"zendesk\"\nsecrets = [\"zd-secret\"]\nmethods = [\"DELETE\"]\n\
         upstream = \"{u}\"\n\
         [routes.posts]\nprovider = \"hubspot-v2\"\nsecrets = [\"hs-secret\"]\n\
         public_url = \"https://hooks.example.com/webhooks/posts\"\nupstream = \"{u}\"\n",
        u = upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let hubspot = |url: &str| {
        let digest = sha2::Sha256::digest(format!("hs-secret{}", url).as_bytes());
        hdrs(&[
            ("x-hubspot-signature-version", "v2"),
            ("x-hubspot-signature", &hex::encode(digest)),
        ])
    };

    // HubSpot: the query is signed, so it is forwarded; a retry is a duplicate.
    let signed = hubspot("GEThttps://hooks.example.com/webhooks/hubspot?objectId=123");
    let r = send(
        "GET",
        &gw.url("/webhooks/hubspot?objectId=123"),
        &signed,
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["webhookmethod"], "GET");
    assert_eq!(ce["webhookquery"], "objectId=123");
    assert_eq!(ce["source"], "hubspot");
    assert!(ce.get("data").is_none(), "{ce}");
    let again = send(
        "GET",
        &gw.url("/webhooks/hubspot?objectId=123"),
        &signed,
        "",
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(upstream.count(), 1, "a retry is not forwarded again");
    // Another query, or another method, is not what HubSpot signed.
    let r = send(
        "GET",
        &gw.url("/webhooks/hubspot?objectId=124"),
        &signed,
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(
        "POST",
        &gw.url("/webhooks/hubspot?objectId=123"),
        &signed,
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    // A route that takes only POST refuses a GET before reading it, naming what it takes.
    let r = send(
        "GET",
        &gw.url("/webhooks/posts"),
        &hubspot("GEThttps://hooks.example.com/webhooks/posts"),
        "",
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "POST");
    let r = send("PUT", &gw.url("/webhooks/hubspot"), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, POST");
    assert_eq!(upstream.count(), 1);

    // Zendesk: the timestamp is signed, the query is not, so it is not forwarded, and a replay that
    // changes it (with another, unsigned, invocation id) is still the same delivery.
    let stamp = rfc3339(0);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"zd-secret").unwrap();
    mac.update(stamp.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let zendesk = |invocation: &str| {
        hdrs(&[
            ("x-zendesk-webhook-invocation-id", invocation),
            ("x-zendesk-webhook-signature-timestamp", &stamp),
            ("x-zendesk-webhook-signature", &sig),
        ])
    };
    let r = send(
        "DELETE",
        &gw.url("/webhooks/zendesk?ticket=7"),
        &zendesk("inv-1"),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 2);
    let ce = got[1].json();
    assert_eq!(ce["webhookmethod"], "DELETE");
    assert_eq!(ce["id"], "inv-1");
    assert!(
        ce.get("webhookquery").is_none(),
        "an unsigned query is not forwarded: {ce}"
    );
    let r = send(
        "DELETE",
        &gw.url("/webhooks/zendesk?ticket=8"),
        &zendesk("inv-forged"),
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        upstream.count(),
        2,
        "the replay was recognised by what is signed"
    );
    // A body the signature does not cover, and a POST to a DELETE-only route, are refused.
    let r = send(
        "DELETE",
        &gw.url("/webhooks/zendesk"),
        &zendesk("inv-2"),
        "{}",
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send("POST", &gw.url("/webhooks/zendesk"), &zendesk("inv-3"), "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "DELETE");
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
}

/// Gitea's form deliveries sign the JSON in the `payload` field, not the form: that JSON is what
/// the upstream gets, and a form field added on the way is not forwarded.
#[tokio::test]
async fn a_gitea_form_delivery_forwards_the_signed_payload_and_nothing_else() {
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.gitea]\nprovider = \"gitea-form\"\nsecrets = [\"gitea-secret\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let payload = r#"{"ref":"refs/heads/main","after":"abc123"}"#;
    let headers = hdrs(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-gitea-delivery", "d-form-1"),
        ("x-gitea-event", "push"),
        (
            "x-gitea-signature",
            &hmac_sha256_hex("gitea-secret", payload.as_bytes()),
        ),
    ]);
    let form = |extra: &str| {
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("payload", payload);
        if !extra.is_empty() {
            f.append_pair("injected", extra);
        }
        f.finish()
    };
    let r = post(&gw.url("/webhooks/gitea"), &headers, form("unsigned")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["datacontenttype"], "application/json");
    assert_eq!(ce["data"]["after"], "abc123");
    assert_eq!(ce["id"], "d-form-1");
    assert_eq!(ce["type"], "push");
    assert!(!String::from_utf8_lossy(&got[0].body).contains("injected"));
    // A changed payload is not what Gitea signed.
    let tampered = form("").replace("abc123", "abc124");
    let h2 = hdrs(&[
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-gitea-delivery", "d-form-2"),
        (
            "x-gitea-signature",
            &hmac_sha256_hex("gitea-secret", payload.as_bytes()),
        ),
    ]);
    assert_eq!(
        post(&gw.url("/webhooks/gitea"), &h2, tampered).await.status,
        401
    );
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

/// Mercado Pago signs the query's `data.id`, `x-request-id` and a timestamp, not the body: the id is
/// the event's data, and the unsigned body never reaches the upstream.
#[tokio::test]
async fn a_mercado_pago_notification_forwards_the_signed_id_and_not_the_unsigned_body() {
    use hmac::Mac;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.mp]\nprovider = \"mercadopago\"\nsecrets = [\"mp-secret\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |manifest: &str| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"mp-secret").unwrap();
        mac.update(manifest.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    // Mercado Pago lowercases an alphanumeric id before signing it.
    let sig = sign(&format!("id:abc123;request-id:req-1;ts:{ts};"));
    let headers = hdrs(&[
        ("content-type", "application/json"),
        ("x-request-id", "req-1"),
        ("x-signature", &format!("ts={ts},v1={sig}")),
    ]);
    let body = r#"{"action":"payment.updated","data":{"id":"AbC123"},"forged":"unsigned"}"#;
    let r = post(
        &gw.url("/webhooks/mp?data.id=AbC123&type=payment"),
        &headers,
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["data"], "AbC123");
    assert_eq!(ce["datacontenttype"], "text/plain; charset=utf-8");
    assert_eq!(ce["id"], "req-1");
    assert_eq!(ce["type"], "payment");
    assert!(!String::from_utf8_lossy(&got[0].body).contains("unsigned"));
    // Another id in the query, or no request id, is not what Mercado Pago signed.
    let r = post(
        &gw.url("/webhooks/mp?data.id=AbC124&type=payment"),
        &headers,
        body,
    )
    .await;
    assert_eq!(r.status, 401);
    let without: Vec<_> = headers
        .iter()
        .filter(|(k, _)| k != "x-request-id")
        .cloned()
        .collect();
    let r = post(
        &gw.url("/webhooks/mp?data.id=AbC123&type=payment"),
        &without,
        body,
    )
    .await;
    // A signed part that is missing leaves nothing to check the signature against.
    assert_eq!(r.status, 401, "{:?}", r.body);
    assert_eq!(r.error(), "malformed_signature");
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

/// Atlassian Connect binds each token to its request: the `qsh` claim is the SHA-256 of the method,
/// the path after the app's base URL and the sorted query. A token replayed on another query, or
/// after its exp, is refused.
#[tokio::test]
async fn an_atlassian_connect_token_is_good_for_its_own_request_only() {
    use sha2::Digest;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.jira]\nprovider = \"atlassian-connect\"\nsecrets = [\"connect-shared-secret\"]\n\
         public_url = \"https://app.example.com/jira-app/hooks/issue\"\n\
         app_base_url = \"https://app.example.com/jira-app\"\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let now = jiff::Timestamp::now().as_second();
    // The canonical request as Atlassian's documentation builds it, written out by hand.
    let token = |canonical: &str, iat: i64, exp: i64| {
        let claims = serde_json::json!({
            "iss": "a1b2c3d4-client-key", "iat": iat, "exp": exp,
            "qsh": hex::encode(sha2::Sha256::digest(canonical.as_bytes())),
        });
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"connect-shared-secret"),
        )
        .unwrap();
        hdrs(&[
            ("content-type", "application/json"),
            ("authorization", &format!("JWT {t}")),
            ("x-atlassian-webhook-identifier", "wh-1"),
        ])
    };
    let body = r#"{"webhookEvent":"jira:issue_created","issue":{"key":"PRJ-1"}}"#;
    let good = token(
        "POST&/hooks/issue&lic=active&user_key=a%20b",
        now,
        now + 180,
    );
    let url = gw.url("/webhooks/jira?user_key=a+b&lic=active");
    let r = post(&url, &good, body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["id"], "wh-1");
    assert_eq!(ce["type"], "jira:issue_created");
    // The signed query goes along, without a jwt parameter (which qsh leaves out).
    assert_eq!(ce["webhookquery"], "user_key=a+b&lic=active");
    let with_jwt = gw.url("/webhooks/jira?user_key=a+b&jwt=xyz&lic=active");
    let again = token(
        "POST&/hooks/issue&lic=active&user_key=a%20b",
        now,
        now + 180,
    );
    let mut moved = again.clone();
    moved[2].1 = "wh-2".to_string();
    let second = r#"{"webhookEvent":"jira:issue_updated","issue":{"key":"PRJ-1"}}"#;
    assert_eq!(post(&with_jwt, &moved, second).await.status, 200);
    assert_eq!(
        upstream.received()[1].json()["webhookquery"],
        "user_key=a+b&lic=active"
    );

    // The same token on another query, or on the path without the base removed, is refused.
    let other = gw.url("/webhooks/jira?user_key=admin&lic=active");
    assert_eq!(post(&other, &good, body).await.status, 401);
    assert_eq!(upstream.count(), 2);
    let unbased = token(
        "POST&/jira-app/hooks/issue&lic=active&user_key=a%20b",
        now,
        now + 180,
    );
    assert_eq!(post(&url, &unbased, body).await.status, 401);
    // Expired (beyond jsonwebtoken's minute of leeway), and from the wrong secret.
    let expired = token(
        "POST&/hooks/issue&lic=active&user_key=a%20b",
        now - 900,
        now - 600,
    );
    assert_eq!(post(&url, &expired, body).await.status, 401);
    let mut forged = good.clone();
    forged[1].1 = forged[1].1.replace('a', "b");
    assert!(
        [400, 401].contains(&post(&url, &forged, body).await.status),
        "a changed token is refused"
    );
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
}

/// Twilio signs with a Webhooks Rule's SharedKey and HMAC-SHA256 when its settings header says so;
/// the same route still takes the auth token's HMAC-SHA1 deliveries.
#[tokio::test]
async fn a_twilio_route_takes_both_the_auth_token_and_a_webhooks_rule() {
    use base64::Engine;
    use hmac::Mac;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.twilio]\nprovider = \"twilio\"\nsecrets = [\"12345\", \"rule-shared-key\"]\n\
         public_url = \"https://mycompany.com/myapp.php\"\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let body = "CallSid=CA1&From=%2B14158675309";
    let signed = "https://mycompany.com/myapp.phpCallSidCA1From+14158675309";
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut sha256 = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"rule-shared-key").unwrap();
    sha256.update(signed.as_bytes());
    let sha256 = b64(&sha256.finalize().into_bytes());
    // A second call, signed the usual way: HMAC-SHA1 under the auth token.
    let body2 = "CallSid=CA2&From=%2B14158675309";
    let mut sha1 = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"12345").unwrap();
    sha1.update(b"https://mycompany.com/myapp.phpCallSidCA2From+14158675309");
    let sha1 = b64(&sha1.finalize().into_bytes());
    let form = ("content-type", "application/x-www-form-urlencoded");
    let settings = "x-twilio-webhooks-signature-settings";
    let url = gw.url("/webhooks/twilio");
    let rule = hdrs(&[
        form,
        (settings, "key=HK1,algorithm=HMAC_SHA256"),
        ("x-twilio-signature", &sha256),
    ]);
    assert_eq!(post(&url, &rule, body).await.status, 200);
    let plain = hdrs(&[form, ("x-twilio-signature", &sha1)]);
    assert_eq!(post(&url, &plain, body2).await.status, 200);
    // Relabelled as a rule's HMAC-SHA256, the SHA-1 delivery is not what Twilio signed.
    let relabelled = hdrs(&[
        form,
        (settings, "key=HK1,algorithm=HMAC_SHA256"),
        ("x-twilio-signature", &sha1),
    ]);
    assert!([400, 401].contains(&post(&url, &relabelled, body2).await.status));
    // The SHA-256 signature without its settings header, and an unknown algorithm, are refused.
    let bare = hdrs(&[form, ("x-twilio-signature", &sha256)]);
    assert!([400, 401].contains(&post(&url, &bare, body).await.status));
    let sha512 = hdrs(&[
        form,
        (settings, "key=HK1,algorithm=HMAC_SHA512"),
        ("x-twilio-signature", &sha256),
    ]);
    assert_eq!(post(&url, &sha512, body).await.status, 401);
    assert_eq!(upstream.count(), 2);
    gw.stop().await;
}

/// A key server on loopback, standing in for a vendor's published keys: answers every request with
/// the status and document it is set to, and counts the requests.
struct KeyServer {
    addr: std::net::SocketAddr,
    answer: std::sync::Arc<std::sync::Mutex<(u16, String)>>,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The body of the last request (a POST asking for one key).
    last_body: std::sync::Arc<std::sync::Mutex<String>>,
}

impl KeyServer {
    async fn start() -> KeyServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = std::sync::Arc::new(std::sync::Mutex::new((500, String::new())));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let last_body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (a, r, l) = (answer.clone(), requests.clone(), last_body.clone());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (a, r, l) = (a.clone(), r.clone(), l.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    let end = loop {
                        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    };
                    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
                    let length: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while head.len() < end + length {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    *l.lock().unwrap() =
                        String::from_utf8_lossy(&head[end..end + length]).into_owned();
                    r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let (status, body) = a.lock().unwrap().clone();
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        KeyServer {
            addr,
            answer,
            requests,
            last_body,
        }
    }

    fn last_body(&self) -> serde_json::Value {
        serde_json::from_str(&self.last_body.lock().unwrap()).unwrap_or_default()
    }

    fn set(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An ES256 key with its id: the JWK to publish, and tokens signed with it.
struct TestKey {
    kid: &'static str,
    signing: p256::ecdsa::SigningKey,
}

impl TestKey {
    fn new(kid: &'static str, seed: u8) -> TestKey {
        let signing = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        TestKey { kid, signing }
    }

    fn jwk(&self) -> serde_json::Value {
        use base64::Engine;
        let point = self.signing.verifying_key().to_encoded_point(false);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        })
    }

    fn token(&self, aud: &str, email: &str) -> String {
        let now = jiff::Timestamp::now().as_second();
        self.sign(serde_json::json!({
            "iss": "https://accounts.google.com", "aud": aud, "email": email,
            "email_verified": true, "sub": "1137", "iat": now, "exp": now + 3600,
        }))
    }

    fn sign(&self, claims: serde_json::Value) -> String {
        use p256::pkcs8::EncodePrivateKey;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.to_string());
        let der = self.signing.to_pkcs8_der().unwrap();
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
        )
        .unwrap()
    }
}

/// A route that checks tokens against keys its vendor publishes (Google's, for Pub/Sub push) fetches
/// them: deliveries wait (503) until the first fetch succeeds; a token naming a key the set lacks
/// makes it fetch again (a rotation); a failing fetch keeps the last good keys; the audience and the
/// sender are checked.
#[tokio::test]
async fn published_keys_are_fetched_followed_through_a_rotation_and_kept_when_a_fetch_fails() {
    let keys = KeyServer::start().await;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.pubsub]\nprovider = \"google-pubsub\"\njwt_audience = \"https://hooks.example.com/p\"\n\
         jwt_require_claims = {{ email = \"pusher@p.iam.gserviceaccount.com\" }}\nupstream = \"{}\"\n\
         [routes.pubsub.verify]\njwt_algorithm = \"ES256\"\njwks_url = \"http://{}/certs\"\n",
        upstream.url(),
        keys.addr
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/pubsub");
    let (a, b) = (TestKey::new("a", 7), TestKey::new("b", 9));
    let aud = "https://hooks.example.com/p";
    let email = "pusher@p.iam.gserviceaccount.com";
    let n = std::sync::atomic::AtomicUsize::new(0);
    let push = |token: String| {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let body = format!(
            r#"{{"message":{{"data":"SGk=","messageId":"m{n}","publishTime":"2026-01-01T00:00:00Z"}},"subscription":"projects/p/subscriptions/s"}}"#
        );
        let headers = hdrs(&[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {token}")),
        ]);
        let url = url.clone();
        async move { post(&url, &headers, body).await }
    };

    // The key server fails: nothing can be checked yet, and the vendor is asked to retry.
    let r = push(a.token(aud, email)).await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.json()["error"], "keys_unavailable");

    // It recovers: the fetcher's retry brings the keys.
    keys.set(200, &serde_json::json!({ "keys": [a.jwk()] }).to_string());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = push(a.token(aud, email)).await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(std::time::Instant::now() < deadline, "keys never fetched");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(upstream.count(), 1);
    let ce = upstream.received()[0].json();
    assert_eq!(
        ce["id"],
        format!("m{}", n.load(std::sync::atomic::Ordering::SeqCst))
    );

    // Google signs tokens for anyone: another audience or another sender is refused.
    assert_eq!(
        push(a.token("https://elsewhere.example", email))
            .await
            .status,
        401
    );
    assert_eq!(
        push(a.token(aud, "intruder@x.iam.gserviceaccount.com"))
            .await
            .status,
        401
    );

    // The key server fails again; a token with a new key is refused and asks for a fetch, which
    // fails: the last good key is kept.
    keys.set(500, "");
    let before = keys.requests();
    assert_eq!(push(b.token(aud, email)).await.status, 401);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while keys.requests() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no fetch was asked for"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(push(a.token(aud, email)).await.status, 200);

    // The vendor publishes the new key beside the old one: the rotation goes through.
    keys.set(
        200,
        &serde_json::json!({ "keys": [a.jwk(), b.jwk()] }).to_string(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = push(b.token(aud, email)).await.status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 401);
        assert!(
            std::time::Instant::now() < deadline,
            "the new key was never fetched"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(upstream.count(), 3);
    gw.stop().await;
}

/// A route whose allowlist is fetched from where the vendor publishes it (`allow_ips = "url:…"`):
/// until a fetch has brought the list, deliveries are answered 503 (the vendor retries, nothing is
/// lost); then the listed addresses are admitted and others refused 403; a reload keeps the list in
/// force while the new route fetches its own, and a bad document keeps the last good list.
#[tokio::test]
async fn a_fetched_allowlist_admits_nobody_until_fetched_then_follows_the_published_list() {
    let lists = KeyServer::start().await;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.c]\nprovider = \"chamelio\"\nsecrets = [\"s3cret\"]\nupstream = \"{}\"\n\
         allow_ips = \"url:http://{}/ips\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        upstream.url(),
        lists.addr
    );
    let mut gw = Gateway::start(&routes, "", &[]).await;
    let series = |name: &str, result: Option<&str>| {
        let result = result
            .map(|r| format!(",result=\"{r}\""))
            .unwrap_or_default();
        format!(
            "hookgate_{name}{{what=\"source addresses\",url=\"http://{}/ips\"{result}}}",
            lists.addr
        )
    };
    let url = gw.url("/webhooks/c");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let deliver = || {
        let id = format!(
            "evt_{}",
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let (headers, body) = chamelio_delivery("s3cret", &id);
        let url = url.clone();
        async move { post(&url, &headers, body).await }
    };
    let limit = std::time::Duration::from_secs(60);
    let until_status = |want: u16, what: &'static str| {
        let deliver = &deliver;
        async move {
            let deadline = std::time::Instant::now() + limit;
            loop {
                let r = deliver().await;
                if r.status == want {
                    return r;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{what}: still {}",
                    r.status
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };

    // The list server fails: no address is known to be the vendor's, and the vendor is asked to retry.
    let r = deliver().await;
    assert_eq!(r.status, 503, "{:?}", r.body);
    assert_eq!(r.json()["error"], "allow_ips_unavailable");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(upstream.count(), 0);
    let m = gw.metrics().await;
    assert_eq!(sample(&m, &series("published_loaded", None)), 0.0, "{m}");
    assert!(sample(&m, &series("published_fetches_total", Some("failed"))) >= 1.0);

    // It recovers, publishing this machine's address (as text, one per line): the retry goes through.
    lists.set(
        200,
        "# the vendor's webhook senders\n127.0.0.1\n192.0.2.0/24\n",
    );
    until_status(200, "the list was never fetched").await;
    assert_eq!(upstream.count(), 1);
    let m = gw.metrics().await;
    assert_eq!(sample(&m, &series("published_loaded", None)), 1.0, "{m}");
    assert_eq!(
        sample(&m, &series("published_fetches_total", Some("ok"))),
        1.0
    );

    // A reload: the new route starts with the list in force, and its own first fetch brings a
    // document that is no list, which is refused whole (not taken in part); the last good list stays.
    lists.set(200, "192.0.2.1\nnot-an-address\n");
    let before = lists.requests();
    gw.reload(&routes, "").unwrap();
    assert_eq!(deliver().await.status, 200);
    until(
        limit,
        || lists.requests() > before,
        || "no fetch after the reload".to_string(),
    )
    .await;
    assert_eq!(deliver().await.status, 200);

    // The vendor's list moves elsewhere (JSON this time); after a reload's fetch this address is refused.
    lists.set(200, r#"["192.0.2.0/24", "2001:db8::/32"]"#);
    gw.reload(&routes, "").unwrap();
    // (Until its fetch, the new route admits by the list in force.)
    let r = until_status(403, "the new list was never fetched").await;
    assert_eq!(r.json()["error"], "forbidden");
    let delivered = upstream.count();
    assert!(delivered >= 3);
    assert_eq!(deliver().await.status, 403);
    assert_eq!(upstream.count(), delivered);
    gw.stop().await;
}

/// Dropbox Sign posts its event as the JSON in a multipart form field, and retries until it reads
/// "Hello API Event Received": the JSON (not the form) goes upstream, and that text comes back, for
/// the first delivery and for a retry alike.
#[tokio::test]
async fn a_dropbox_sign_callback_forwards_its_json_and_is_acknowledged_as_dropbox_sign_asks() {
    let upstream = Upstream::start().await;
    let key = "dropbox-sign-api-key";
    let routes = format!(
        "[routes.sign]\nprovider = \"dropbox-sign\"\nsecrets = [\"{key}\"]\nupstream = \"{}\"\n",
        upstream.url()
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/sign");
    let event = |time: i64, kind: &str, hash_kind: &str| {
        let hash = hmac_sha256_hex(key, format!("{time}{hash_kind}").as_bytes());
        format!(
            r#"{{"event":{{"event_time":"{time}","event_type":"{kind}","event_hash":"{hash}"}},"signature_request":{{"signature_request_id":"sr1"}}}}"#
        )
    };
    let form = |json: &str, boundary: &str| {
        (
            hdrs(&[(
                "content-type",
                &format!("multipart/form-data; boundary={boundary}"),
            )]),
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{json}\r\n--{boundary}--\r\n"
            ),
        )
    };
    let now = jiff::Timestamp::now().as_second();
    let json = event(now, "signature_request_signed", "signature_request_signed");
    let (headers, body) = form(&json, "b-one");
    let r = post(&url, &headers, body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(&r.body[..], b"Hello API Event Received");
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let ce = got[0].json();
    assert_eq!(ce["type"], "signature_request_signed");
    assert_eq!(
        ce["data"]["signature_request"]["signature_request_id"],
        "sr1"
    );
    assert_eq!(ce["datacontenttype"], "application/json");

    // A retry, in a form with another boundary, is the same event: acknowledged, not forwarded.
    let (headers, body) = form(&json, "b-two");
    let r = post(&url, &headers, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"Hello API Event Received");
    assert_eq!(upstream.count(), 1);

    // Another event type under the first one's hash, or no json field, is refused.
    let forged = event(
        now,
        "signature_request_all_signed",
        "signature_request_signed",
    );
    let (headers, body) = form(&forged, "b-three");
    assert_eq!(post(&url, &headers, body).await.status, 401);
    let (headers, _) = form(&json, "b-four");
    let r = post(&url, &headers, format!("--b-four\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{json}\r\n--b-four--\r\n")).await;
    assert_eq!(r.status, 401);
    assert_eq!(upstream.count(), 1);
    gw.stop().await;
}

/// Plaid hands out its webhook keys one at a time, by the id a token names, to a request carrying
/// the route's client id and secret: the first delivery under a key waits (503) for it, later ones
/// pass; a rotation to a new key is fetched the same way.
#[tokio::test]
async fn plaid_keys_are_fetched_by_the_id_each_token_names() {
    use sha2::Digest;
    let keys = KeyServer::start().await;
    let upstream = Upstream::start().await;
    let routes = format!(
        "[routes.plaid]\nprovider = \"plaid\"\nkey_request = {{ client_id = \"cid-1\", secret = \"plaid-secret\" }}\n\
         upstream = \"{}\"\n[routes.plaid.verify]\nkey_url = \"http://{}/webhook_verification_key/get\"\n",
        upstream.url(),
        keys.addr
    );
    let gw = Gateway::start(&routes, "", &[]).await;
    let url = gw.url("/webhooks/plaid");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let deliver = |key: &TestKey| {
        let n = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = format!(
            r#"{{"webhook_type":"TRANSACTIONS","webhook_code":"SYNC_UPDATES_AVAILABLE","item_id":"item-{n}"}}"#
        );
        let token = key.sign(serde_json::json!({
            "iat": jiff::Timestamp::now().as_second(),
            "request_body_sha256": hex::encode(sha2::Sha256::digest(body.as_bytes())),
        }));
        let headers = hdrs(&[
            ("content-type", "application/json"),
            ("plaid-verification", &token),
        ]);
        let url = url.clone();
        async move { post(&url, &headers, body).await.status }
    };
    let answer =
        |key: &TestKey| serde_json::json!({ "key": key.jwk(), "request_id": "r1" }).to_string();
    let until_accepted = async |key: &TestKey| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let status = deliver(key).await;
            if status == 200 {
                return;
            }
            assert_eq!(status, 503, "waits for its key");
            assert!(
                std::time::Instant::now() < deadline,
                "the key was never fetched"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };

    let (a, b) = (TestKey::new("plaid-a", 11), TestKey::new("plaid-b", 13));
    keys.set(200, &answer(&a));
    until_accepted(&a).await;
    let asked = keys.last_body();
    assert_eq!(asked["key_id"], "plaid-a");
    assert_eq!(asked["client_id"], "cid-1");
    assert_eq!(asked["secret"], "plaid-secret");
    assert_eq!(deliver(&a).await, 200, "the key is kept");
    let fetched = keys.requests();

    // Plaid rotates: the new key is asked for by its id.
    keys.set(200, &answer(&b));
    until_accepted(&b).await;
    assert_eq!(keys.last_body()["key_id"], "plaid-b");
    assert!(keys.requests() > fetched);
    // A token under a key that is not Plaid's (the answer names another key) never passes.
    let forged = TestKey::new("plaid-b", 17);
    assert_ne!(deliver(&forged).await, 200);
    gw.stop().await;
}
