#!/usr/bin/env python3
"""Writes src/presets/vectors.toml: one or more test deliveries for every preset.

Two kinds of delivery:
- official: a vendor's own published example (its docs' worked example or an official SDK's test
  vector), copied as published, with where it came from;
- constructed: a delivery built here, with Python's own hmac/hashlib/cryptography, from what the
  vendor's documentation says it signs. This is an implementation independent of hookgate's Rust code,
  so a preset that misreads the docs in the same way twice is the only failure it cannot catch.

The Rust test `presets::vectors` verifies every delivery with the preset as `hookgate providers show`
prints it, and derives tampered-body, wrong-secret, malformed, missing, stale and future variants.

Run from the repository root: python3 tools/vectors.py   (needs: pip install cryptography)
Asymmetric keys come from fixed seeds and signatures are deterministic, so the output is stable.
"""

import base64
import hashlib
import hmac
import json
import random
import sys
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

# The signing time of constructed deliveries: 2026-01-01T00:00:00Z.
T = 1767225600
T_MS = T * 1000 + 250
T_RFC = "2026-01-01T00:00:00Z"

VECTORS = []


def sha(name):
    return {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}[name]


def mac(alg, key, msg):
    key = key.encode() if isinstance(key, str) else key
    msg = msg.encode() if isinstance(msg, str) else msg
    return hmac.new(key, msg, sha(alg)).digest()


def hx(b):
    return b.hex()


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def js(obj):
    """Compact JSON, as most vendors send it."""
    return json.dumps(obj, separators=(",", ":"))


def add(preset, source, body, headers, id=None, type=None, **extra):
    v = {"preset": preset, "source": source, "body": body, "headers": headers}
    if id is not None:
        v["id"] = id
    if type is not None:
        v["type"] = type
    v.update(extra)
    VECTORS.append(v)


def docs(url):
    return f"constructed from {url}"


JSON = ("Content-Type", "application/json")
FORM = ("Content-Type", "application/x-www-form-urlencoded")

# ---------------------------------------------------------------- keys (fixed seeds)

def ed25519_key(seed_text):
    seed = hashlib.sha256(seed_text.encode()).digest()
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def ed_public_raw(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def p256_key(seed_text):
    n = int.from_bytes(hashlib.sha256(seed_text.encode()).digest(), "big")
    return ec.derive_private_key(n % (2**255), ec.SECP256R1())


def spki_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _probable_prime(bits, rng):
    def miller_rabin(n):
        if n < 4:
            return n in (2, 3)
        d, r = n - 1, 0
        while d % 2 == 0:
            d //= 2
            r += 1
        for _ in range(40):
            a = rng.randrange(2, n - 1)
            x = pow(a, d, n)
            if x in (1, n - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                return False
        return True

    while True:
        c = rng.getrandbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if c % 65537 != 1 and miller_rabin(c):
            return c


def rsa_key(seed_text):
    rng = random.Random(seed_text)
    p = _probable_prime(1024, rng)
    q = _probable_prime(1024, rng)
    e = 65537
    n = p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, n)
    )
    return numbers.private_key()


def jwt(header, claims, sign):
    signing_input = b64url(js(header).encode()) + "." + b64url(js(claims).encode())
    return signing_input + "." + b64url(sign(signing_input.encode()))


def jwt_hs256(secret, claims):
    return jwt({"alg": "HS256", "typ": "JWT"}, claims, lambda m: mac("sha256", secret, m))


def jwt_es256(key, claims, kid):
    def sign(m):
        der = key.sign(m, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return jwt({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims, sign)


# ---------------------------------------------------------------- official examples

# go-buildkite's TestValidatePayload body, byte for byte.
BUILDKITE_BODY = ('{"event":"ping","service":{"id":"c9f8372d-c0cd-43dc-9274-768a875cf6ca","provider":"webhook","settings":{"url":"https://server.com/webhooks"}},"organization":{"id":"49801950-1df0-474f-bb56-ad6a930c5cb9","graphql_id":"T3JnYW5pemF0aW9uLS0tZTBmMzk3MgsTksGkxOWYtZTZjNzczZTJiYjEy","url":"https://api.buildkite.com/v2/organizations/acme-inc","web_url":"https://buildkite.com/acme-inc","name":"ACME Inc","slug":"acme-inc","agents_url":"https://api.buildkite.com/v2/organizations/acme-inc/agents","emojis_url":"https://api.buildkite.com/v2/organizations/acme-inc/emojis","created_at":"2021-02-03T20:34:10.486Z","pipelines_url":"https://api.buildkite.com/v2/organizations/acme-inc/pipelines"},"sender":{"id":"c9f8372d-c0cd-43dc-9269-bcbb7f308e3f","name":"ACME Man"}}')

# go-pagerduty's webhookv3 test body, byte for byte.
PAGERDUTY_BODY = ('{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}')


def official():
    add(
        "github",
        "official: GitHub docs, 'Validating webhook deliveries', testing the webhook payload validation "
        "(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries)",
        "Hello, World!",
        [("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
         ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), ("X-GitHub-Event", "ping")],
        id="72d3162e-cc78-11e3-81ab-4c9367dc0958", type="ping",
        secret="It's a Secret to Everybody",
    )
    add(
        "slack",
        "official: Slack docs, 'Verifying requests from Slack', step-by-step walk-through "
        "(https://api.slack.com/authentication/verifying-requests-from-slack)",
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        [FORM, ("X-Slack-Request-Timestamp", "1531420618"),
         ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")],
        id="body-sha256",
        secret="8f742231b10e8888abcd99yyyzzz85a5",
    )
    twilio_form = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
                   ("From", "+12349013030"), ("To", "+18005551212")]
    add(
        "twilio",
        "official: twilio-python tests/unit/test_request_validator.py (the example in Twilio's "
        "'Webhooks security' docs): form parameters signed with the URL",
        urllib.parse.urlencode(twilio_form),
        [FORM, ("X-Twilio-Signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")],
        id="body-sha256", secret="12345",
        public_url="https://mycompany.com/myapp.php", url="/webhooks/twilio?foo=1&bar=2",
    )
    add(
        "twilio",
        "official: twilio-python tests/unit/test_request_validator.py, test_validation_of_body_succeeds: "
        "a JSON body covered by the bodySHA256 parameter of the signed URL",
        '{"property": "value", "boolean": true}',
        [JSON, ("X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4=")],
        id="body-sha256", secret="12345", public_url="https://mycompany.com/myapp.php",
        url="/webhooks/twilio?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
    )
    add(
        "twilio",
        "official: twilio-python tests/unit/test_request_validator.py, test_compute_signature_duplicate_query_dict: "
        "a repeated parameter is signed with its values sorted (Digits 1234 before 5678), not in arrival order",
        "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
        [FORM, ("X-Twilio-Signature", "IK+Dwps556ElfBT0I3Rgjkr1wJU=")],
        id="body-sha256", secret="12345",
        public_url="https://mycompany.com/myapp.php", url="/webhooks/twilio?foo=1&bar=2",
    )
    add(
        "twilio",
        "official: twilio-python tests/unit/test_request_validator.py, test_validation_removes_port_on_https: "
        "the URL registered with a port, the signature made without it",
        urllib.parse.urlencode([("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
                                ("To", "+18005551212"), ("Caller", "+14158675309")]),
        [FORM, ("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")],
        id="body-sha256", secret="12345",
        public_url="https://mycompany.com:1234/myapp.php", url="/webhooks/twilio?foo=1&bar=2",
    )
    add(
        "hubspot-v1",
        "official: HubSpot docs, 'v1 request validation', example for a request with a body "
        "(https://legacydocs.hubspot.com/docs/faq/v1-request-validation)",
        '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
        '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
        '"changeFlag":"NEW","appId":54321}]',
        [JSON, ("X-HubSpot-Signature-Version", "v1"),
         ("X-HubSpot-Signature", "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de")],
        id="body-sha256", secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
    )
    add(
        "hubspot-v2",
        "official: HubSpot docs, 'v2 request validation', example for a request with a body "
        "(https://legacydocs.hubspot.com/docs/faq/v2-request-validation)",
        '{"example_field":"example_value"}',
        [JSON, ("X-HubSpot-Signature-Version", "v2"),
         ("X-HubSpot-Signature", "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900")],
        id="body-sha256", secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        public_url="https://www.example.com/webhook_uri",
    )
    add(
        "hubspot-v2",
        "official: HubSpot's Python SDK, signature test 'v2, GET method' "
        "(hubspot-api-python tests/spec/utils/test_signature.py, test_is_valid__v2_get_method)",
        "",
        [("X-HubSpot-Signature-Version", "v2"),
         ("X-HubSpot-Signature", "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e")],
        id="request-sha256", secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        public_url="https://www.example.com/webhook_uri", method="GET",
    )
    svix = dict(
        body='{"test": 2432232314}',
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id="msg_p5jXN8AQM9LWM0D4loKWxJek",
    )
    svix_src = ("official: the Standard Webhooks / Svix libraries' test vector (svix-webhooks "
                "javascript/src/index.test.ts; standard-webhooks libraries)")
    add("standard-webhooks", svix_src, svix["body"],
        [JSON, ("webhook-id", svix["id"]), ("webhook-timestamp", "1614265330"),
         ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")],
        id=svix["id"], secret=svix["secret"])
    for vendor in ["clerk", "resend", "stytch"]:
        add(vendor, svix_src + f"; {vendor} delivers its webhooks through Svix", svix["body"],
            [JSON, ("svix-id", svix["id"]), ("svix-timestamp", "1614265330"),
             ("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")],
            id=svix["id"], secret=svix["secret"])
    # Vendors whose documentation says they send Standard Webhooks (webhook-* headers): the
    # specification's own published vector is a delivery each of them must accept.
    for vendor in ["brex", "incident-io", "lithic", "liveblocks", "loops", "openai", "render", "replicate"]:
        add(vendor, svix_src + f"; {vendor} documents that it sends Standard Webhooks", svix["body"],
            [JSON, ("webhook-id", svix["id"]), ("webhook-timestamp", "1614265330"),
             ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")],
            id=svix["id"], secret=svix["secret"])
    add(
        "sendgrid",
        "official: sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js (valid signature; "
        "the wrong key is the spec's 'invalid key')",
        js({"category": "example_payload", "event": "test_event", "message_id": "message_id"}),
        [JSON, ("X-Twilio-Email-Event-Webhook-Timestamp", "1588788367"),
         ("X-Twilio-Email-Event-Webhook-Signature",
          "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=")],
        id="body-sha256",
        public_key="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
        other_public_key="MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==",
    )
    add(
        "square",
        "official: square-python-sdk tests/utilities/test_webhooks_helper.py",
        '{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",'
        '"created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}',
        [JSON, ("x-square-hmacsha256-signature", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=")],
        id="ac3ac95b-f97d-458c-a6e6-18981597e05f", type="webhooks.test_notification",
        secret="Ibxx_5AKakO-3qeNVR61Dw",
        public_url="https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
    )
    add(
        "adyen",
        "official: Adyen's HMAC example (docs 'Verify HMAC signatures'; adyen-ruby spec/utils/hmac_validator_spec.rb)",
        js({"live": "false", "notificationItems": [{"NotificationRequestItem": {
            "additionalData": {"hmacSignature": "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="},
            "amount": {"value": 1130, "currency": "EUR"}, "pspReference": "7914073381342284",
            "eventCode": "AUTHORISATION", "eventDate": "2019-05-06T17:15:34.121+02:00",
            "merchantAccountCode": "TestMerchant", "merchantReference": "TestPayment-1407325143704",
            "paymentMethod": "visa", "success": "true"}}]}),
        [JSON], id="body-sha256", type="AUTHORISATION",
        secret="44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
        tamper=['"value":1130', '"value":1131'],
    )
    add(
        "box",
        "official: box-python-sdk test/unit/object/test_webhook.py (signed with SamplePrimaryKey and "
        "SampleSecondaryKey)",
        '{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED",'
        '"source":{"id":"1234567890","type":"file","name":"Test.txt"}}',
        [JSON, ("box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"),
         ("box-delivery-timestamp", "2020-01-01T00:00:00-07:00"), ("box-signature-algorithm", "HmacSHA256"),
         ("box-signature-primary", "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI="),
         ("box-signature-secondary", "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo="),
         ("box-signature-version", "1")],
        id="f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f", type="FILE.UPLOADED",
        secrets=["SamplePrimaryKey", "SampleSecondaryKey"],
    )
    add(
        "razorpay",
        "official: razorpay-node test/utils/razorpay-utils.spec.js, validateWebhookSignature",
        '{"a":1,"b":2,"c":{"d":3}}',
        [JSON, ("X-Razorpay-Signature", "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc"),
         ("x-razorpay-event-id", "EvtRzp0000001")],
        id="EvtRzp0000001", secret="123456",
    )
    add(
        "coinbase-commerce",
        "official: coinbase-commerce-node test/testWebhook.spec.js",
        '{"id":1,"scheduled_for":"2017-01-31T20:50:02Z","attempt_number":1,"event":{"id":"24934862-d980-46cb-9402-43c81b0cdba6",'
        '"type":"charge:created","api_version":"2018-03-22","created_at":"2017-01-31T20:49:02Z","data":{"code":"66BEOV2A",'
        '"name":"The Sovereign Individual","description":"Mastering the Transition to the Information Age",'
        '"hosted_url":"https://commerce.coinbase.com/charges/66BEOV2A","created_at":"2017-01-31T20:49:02Z",'
        '"expires_at":"2017-01-31T21:04:02Z","timeline":[{"time":"2017-01-31T20:49:02Z","status":"NEW"}],'
        '"metadata":{},"pricing_type":"no_price","payments":[],"addresses":{"bitcoin":"0000000000000000000000000000000000",'
        '"ethereum":"0x0000000000000000000000000000000000000000","litecoin":"3000000000000000000000000000000000",'
        '"bitcoincash":"bitcoincash:000000000000000000000000000000000000000000"}}}}',
        [JSON, ("X-CC-Webhook-Signature", "8be7742c7d372f08a6a3224edadf18a22b65fa9e28f3f2de97376cdaa092590d")],
        id="24934862-d980-46cb-9402-43c81b0cdba6", type="charge:created",
        secret="30291a20-0bd1-4267-9b0f-e6e7b123c0bf",
    )
    add(
        "mux",
        "official: mux-node-sdk test/unit/webhooks/resources/verify_header.spec.js (generated by Mux's backend)",
        '{"test":"body"}',
        [JSON, ("Mux-Signature", "t=1565125718,v1=854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7")],
        id="body-sha256", secret="SuperSecret123",
    )
    for secret, body, header in [
        ("test", '{"_id":"resume"}', "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0"),
        ("try-me", '{"title":"GROQ-Hooks are neat"}', "t=1633518820676,v1=e7C9h2sfbFfc4V7TEz7PSOp4IoNzl0UdVsBV-1wgdeA"),
    ]:
        add("sanity", "official: sanity-io/webhook-toolkit test/signature.test.ts", body,
            [JSON, ("sanity-webhook-signature", header), ("idempotency-key", "msg-" + secret)],
            id="msg-" + secret, secret=secret)
    add(
        "paddle",
        "official: paddle-node-sdk src/__tests__/notifications/webhooks-validator.node.test.ts, 'Valid signature'",
        '{"data": ["1", "2"]}',
        [JSON, ("Paddle-Signature", "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9")],
        id="body-sha256", secret="VALID_SECRET",
    )
    add(
        "paddle",
        "official: paddle-node-sdk src/__tests__/notifications/webhooks-validator.node.test.ts, "
        "'Valid signature with multiple hashes'",
        '{"data": "value"}',
        [JSON, ("Paddle-Signature", "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;"
                "h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH")],
        id="body-sha256", secret="VALID_SECRET",
    )
    add(
        "onfido",
        "official: onfido-python tests/test_webhook_event_verifier.py",
        '{"payload":{"resource_type":"check","action":"check.completed","object":{"id":"check-123",'
        '"status":"complete","completed_at_iso8601":"2020-01-01T00:00:00Z","href":"https://api.onfido.com/v3/checks/check-123"}}}',
        [JSON, ("X-SHA2-Signature", "a0082d7481f9f0a2907583dbe1f344d6d4c0d9989df2fd804f98479f60cd760e")],
        id="body-sha256", type="check.completed", secret="_ABC123abc123ABC123abc123ABC123_",
    )
    add(
        "gocardless",
        "official: gocardless-nodejs src/webhooks.spec.ts with src/fixtures/webhook_body.json (minified)",
        '{"events":[{"id":"EV00BD05S5VM2T","created_at":"2018-07-05T09:13:51.404Z","resource_type":"subscriptions",'
        '"action":"created","links":{"subscription":"SB0003JJQ2MR06"},"details":{"origin":"api","cause":"subscription_created",'
        '"description":"Subscription created via the API."},"metadata":{}},{"id":"EV00BD05TB8K63","created_at":"2018-07-05T09:13:56.893Z",'
        '"resource_type":"mandates","action":"created","links":{"mandate":"MD000AMA19XGEC"},"details":{"origin":"api",'
        '"cause":"mandate_created","description":"Mandate created via the API."},"metadata":{}}]}',
        [JSON, ("Webhook-Signature", "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e")],
        id="body-sha256", secret="ED7D658C-D8EB-4941-948B-3973214F2D49",
    )
    add(
        "nightfall",
        "official: nightfall-python-sdk tests, test_validate_webhook",
        "hello world foo bar goodnight moon",
        [("X-Nightfall-Timestamp", "1633368645"),
         ("X-Nightfall-Signature", "1bb7619a9504474ffc14086d0423ad15db42606d3ca52afccb4a5b2125d7b703")],
        id="body-sha256", secret="super-secret-shhhh",
    )
    add(
        "pusher",
        "official: pusher-http-node tests/integration/pusher/webhook.js (app key 123456789, secret beef)",
        js({"time_ms": 1403175510755, "events": [{"channel": "test_channel", "name": "channel_vacated"}]}),
        [JSON, ("X-Pusher-Key", "123456789"),
         ("X-Pusher-Signature", "df1465f5ff93f83238152fd002cb904f9562d39569e68f00a6bfa0d8ccf88334")],
        id="body-sha256", secret="beef",
    )
    add(
        "cloudinary",
        "official: cloudinary_java cloudinary-core src/test/java/com/cloudinary/utils/SignatureVerifierTest.java",
        "zxcxzcxzcxzcz",
        [("X-Cld-Timestamp", "1574690915597"), ("X-Cld-Signature", "468E696AD79F6E805FD36E308BC14D7C3BB11CE0")],
        id="body-sha256", secret="apiSecret",
    )
    add(
        "cloudinary",
        "official: cloudinary_java src/test/java/com/cloudinary/api/signing/NotificationRequestSignatureVerifierTest.java",
        "{}",
        [JSON, ("X-Cld-Timestamp", "0"), ("X-Cld-Signature", "f9aa4471d2a88ff244424cca2444edf7d7ac3596")],
        id="body-sha256", secret="someApiSecret",
    )


# ---------------------------------------------------------------- constructed deliveries

ENC = {"hex": hx, "base64": b64, "base64url": b64url}


def body_mac(preset, url, alg, header, enc, body, secret, prefix="", headers=(), key=None, **kw):
    """A vendor that signs the raw body with an HMAC and sends it in one header."""
    sig = prefix + ENC[enc](mac(alg, key if key is not None else secret, body))
    add(preset, docs(url), body, [JSON, *headers, (header, sig)], secret=secret, **kw)


def constructed():
    # Vendors that sign the raw body only.
    body_mac("airtable", "https://airtable.com/developers/web/api/webhooks-overview", "sha256",
             "X-Airtable-Content-MAC", "hex", js({"base": {"id": "appXYZ"}, "webhook": {"id": "achABC"},
                                                  "timestamp": T_RFC}),
             secret=b64(b"airtable mac secret"), key=b"airtable mac secret", prefix="hmac-sha256=",
             id="body-sha256")
    body_mac("adyen-platform", "https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures",
             "sha256", "HmacSignature", "base64",
             js({"data": {"balancePlatform": "YOUR_PLATFORM", "accountHolder": {"id": "AH3227C223222B5"}},
                 "environment": "test", "timestamp": T_RFC, "type": "balancePlatform.accountHolder.created"}),
             secret="44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
             key=bytes.fromhex("44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"),
             id="body-sha256", type="balancePlatform.accountHolder.created")
    body_mac("alchemy", "https://docs.alchemy.com/reference/notify-api-faq", "sha256",
             "X-Alchemy-Signature", "hex",
             js({"webhookId": "wh_octjglnywaupz6th", "id": "whevt_ogrc5v64myey69ux", "createdAt": T_RFC,
                 "type": "ADDRESS_ACTIVITY", "event": {"network": "ETH_MAINNET", "activity": []}}),
             secret="whsec_alchemy_signing_key", id="whevt_ogrc5v64myey69ux", type="ADDRESS_ACTIVITY")
    anet = js({"notificationId": "d0e8e7fe-c3e7-4add-a480-27bc5ce28934", "eventType":
               "net.authorize.payment.authcapture.created", "eventDate": T_RFC, "webhookId":
               "0b2e7e1a-2c2e-4d7a-b3c1-1f1e8f0e7a11", "payload": {"responseCode": 1, "entityName": "transaction",
                                                                  "id": "60020981676"}})
    body_mac("authorize-net", "https://developer.authorize.net/api/reference/features/webhooks.html", "sha512",
             "X-ANET-Signature", "hex", anet, secret="8A1B" * 32, prefix="sha512=",
             id="d0e8e7fe-c3e7-4add-a480-27bc5ce28934", type="net.authorize.payment.authcapture.created")
    # Authorize.net sends the hex in upper case.
    add("authorize-net", docs("https://developer.authorize.net/api/reference/features/webhooks.html"), anet,
        [JSON, ("X-ANET-Signature", "sha512=" + hx(mac("sha512", "8A1B" * 32, anet)).upper())],
        secret="8A1B" * 32, id="d0e8e7fe-c3e7-4add-a480-27bc5ce28934", type="net.authorize.payment.authcapture.created")
    add("line", "official: line-bot-sdk-python tests/test_signature.py, TestSignatureValidator.test_validate",
        "bodybodybodybody", [("Content-Type", "text/plain"),
                             ("x-line-signature", "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=")],
        id="body-sha256", secret="channel_secret")
    body_mac("line", "https://developers.line.biz/en/docs/messaging-api/verify-webhook-signature", "sha256",
             "x-line-signature", "base64",
             js({"destination": "U1234567890abcdef1234567890abcdef", "events": [
                 {"type": "message", "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR", "timestamp": T * 1000,
                  "deliveryContext": {"isRedelivery": False}, "mode": "active",
                  "message": {"type": "text", "id": "444573844083572737", "text": "Hello"}}]}),
             secret="line-channel-secret", id="01FZ74A0TDDPYRVKNK77XKC3ZR", type="message")
    gh = js({"zen": "Keep it logically awesome.", "hook_id": 1})
    body_mac("github-sha1", "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
             "sha1", "X-Hub-Signature", "hex", gh, secret="ghes-secret", prefix="sha1=",
             headers=[("X-GitHub-Delivery", "9a1c7c1e-cc78-11e3-81ab-4c9367dc0958"), ("X-GitHub-Event", "ping")],
             id="9a1c7c1e-cc78-11e3-81ab-4c9367dc0958", type="ping")
    body_mac("bitbucket", "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/", "sha256",
             "X-Hub-Signature", "hex", js({"push": {"changes": []}, "repository": {"name": "app"}}),
             secret="bb-secret", prefix="sha256=",
             headers=[("X-Request-UUID", "9f2d1c9a-1b5e-4c1a-9d3f-2f5e6a7b8c9d"), ("X-Event-Key", "repo:push")],
             id="9f2d1c9a-1b5e-4c1a-9d3f-2f5e6a7b8c9d", type="repo:push")
    body_mac("cal-com", "https://cal.com/docs/developing/guides/automation/webhooks", "sha256",
             "X-Cal-Signature-256", "hex", js({"triggerEvent": "BOOKING_CREATED", "createdAt": T_RFC,
                                               "payload": {"uid": "bk_1"}}),
             secret="cal-secret", id="body-sha256", type="BOOKING_CREATED")
    body_mac("chargify", "https://docs.maxio.com/hc/en-us/articles/24266136649869-Webhooks-Reference",
             "sha256", "X-Chargify-Webhook-Signature-Hmac-Sha-256", "hex",
             "id=81234&event=signup_success&payload[subscription][id]=12",
             secret="chargify-shared-key", headers=[FORM, ("X-Chargify-Webhook-Id", "81234")], id="81234")
    body_mac("checkout", "https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks",
             "sha256", "Cko-Signature", "hex", js({"id": "evt_az5sblvku4ge3dwpztvyizgcau", "type": "payment_approved",
                                                   "created_on": T_RFC, "data": {"id": "pay_1"}}),
             secret="cko-signature-key", id="evt_az5sblvku4ge3dwpztvyizgcau", type="payment_approved")
    body_mac("circleci", "https://circleci.com/docs/webhooks/", "sha256", "circleci-signature", "hex",
             js({"id": "3888f21b-eaa7-38e3-8f3d-75a63bba8895", "type": "workflow-completed", "happened_at": T_RFC}),
             secret="circle-secret", prefix="v1=", id="3888f21b-eaa7-38e3-8f3d-75a63bba8895",
             type="workflow-completed")
    body_mac("clickup", "https://developer.clickup.com/docs/webhooksignature", "sha256", "X-Signature", "hex",
             js({"event": "taskCreated", "task_id": "1vj37mc", "webhook_id": "7fa3ec74"}),
             secret="clickup-secret", id="body-sha256", type="taskCreated")
    body_mac("dwolla", "https://developers.dwolla.com/docs/balance/webhooks", "sha256",
             "X-Request-Signature-SHA-256", "hex",
             js({"id": "80d8ec5a-6e3c-4b74-a5f5-a4b9d2d6d2f5", "topic": "customer_created", "created": T_RFC}),
             secret="dwolla-secret", id="80d8ec5a-6e3c-4b74-a5f5-a4b9d2d6d2f5", type="customer_created")
    body_mac("fastspring", "https://developer.fastspring.com/reference/message-security", "sha256",
             "X-FS-Signature", "base64", js({"events": [{"id": "ev1", "type": "order.completed"}]}),
             secret="fs-hmac-secret", id="body-sha256")
    body_mac("forgejo", "https://forgejo.org/docs/latest/user/webhooks/", "sha256", "X-Forgejo-Signature", "hex",
             js({"ref": "refs/heads/main", "after": "abc123"}), secret="forgejo-secret",
             headers=[("X-Forgejo-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"), ("X-Forgejo-Event", "push")],
             id="f6266f16-1bf3-46a5-9ea4-602e06ead473", type="push")
    body_mac("gitea", "https://docs.gitea.com/usage/webhooks", "sha256", "X-Gitea-Signature", "hex",
             js({"ref": "refs/heads/main", "after": "abc123"}), secret="gitea-secret",
             headers=[("X-Gitea-Delivery", "2b1e7a0c-5f8e-4a35-9d1b-7c6e3f2a1b0d"), ("X-Gitea-Event", "push")],
             id="2b1e7a0c-5f8e-4a35-9d1b-7c6e3f2a1b0d", type="push")
    # The form content type: the body is payload=<the JSON>, and the signature covers the JSON.
    for preset, vendor, url, delivery in [
        ("gitea-form", "Gitea", "https://docs.gitea.com/usage/webhooks", "9c0d2e4f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"),
        ("forgejo-form", "Forgejo", "https://forgejo.org/docs/latest/user/webhooks/",
         "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
    ]:
        payload = js({"ref": "refs/heads/main", "after": "abc123"})
        add(preset, docs(url), urllib.parse.urlencode([("payload", payload)]),
            [FORM, (f"X-{vendor}-Delivery", delivery), (f"X-{vendor}-Event", "push"),
             (f"X-{vendor}-Signature", hx(mac("sha256", "gitea-secret", payload)))],
            id=delivery, type="push", secret="gitea-secret", tamper=["abc123", "abc124"])
    body_mac("gogs", "https://gogs.io/docs/features/webhook", "sha256", "X-Gogs-Signature", "hex",
             js({"ref": "refs/heads/main", "after": "abc123"}), secret="gogs-secret",
             headers=[("X-Gogs-Delivery", "e3b0c442-98fc-1c14-9afb-f4c8996fb924"), ("X-Gogs-Event", "push")],
             id="e3b0c442-98fc-1c14-9afb-f4c8996fb924", type="push")
    body_mac("helpscout", "https://developer.helpscout.com/webhooks/", "sha1", "X-HelpScout-Signature", "base64",
             js({"id": 12345, "number": 7, "subject": "Help"}), secret="helpscout-secret",
             headers=[("X-HelpScout-Event", "convo.created")], id="body-sha256", type="convo.created")
    body_mac("heroku", "https://devcenter.heroku.com/articles/app-webhooks", "sha256",
             "Heroku-Webhook-Hmac-SHA256", "base64",
             js({"id": "b4de2f3f-4bd8-4a9d-9b3e-1e4d4c1f5e6a", "resource": "api:release", "action": "create",
                 "created_at": T_RFC, "data": {"version": 12}}),
             secret="heroku-secret", id="b4de2f3f-4bd8-4a9d-9b3e-1e4d4c1f5e6a", type="api:release")
    body_mac("hookdeck", "https://hookdeck.com/docs/authentication", "sha256", "x-hookdeck-signature", "base64",
             js({"order": {"id": 1}}), secret="hookdeck-secret",
             headers=[("x-hookdeck-eventid", "evt_hd_1")], id="evt_hd_1")
    body_mac("intercom", "https://developers.intercom.com/docs/references/webhooks/webhook-models", "sha1",
             "X-Hub-Signature", "hex",
             js({"type": "notification_event", "id": "notif_ccd8a4d2-a2ad-4d8b-8f46-1e8c9d2a1b3c",
                 "topic": "conversation.user.created", "created_at": T, "data": {"item": {}}}),
             secret="intercom-client-secret", prefix="sha1=",
             id="notif_ccd8a4d2-a2ad-4d8b-8f46-1e8c9d2a1b3c", type="conversation.user.created")
    body_mac("jira", "https://developer.atlassian.com/cloud/jira/platform/webhooks/", "sha256", "X-Hub-Signature",
             "hex", js({"timestamp": T * 1000, "webhookEvent": "jira:issue_created", "issue": {"key": "APP-1"}}),
             secret="jira-secret", prefix="sha256=",
             headers=[("X-Atlassian-Webhook-Identifier", "1782")], id="1782", type="jira:issue_created")
    body_mac("launchdarkly", "https://docs.launchdarkly.com/home/connect/webhooks", "sha256", "X-LD-Signature",
             "hex", js({"_id": "57c0af609969090743529967", "kind": "flag", "date": T * 1000}),
             secret="ld-secret", id="57c0af609969090743529967", type="flag")
    body_mac("lemonsqueezy", "https://docs.lemonsqueezy.com/help/webhooks/signing-requests", "sha256",
             "X-Signature", "hex", js({"meta": {"event_name": "order_created"}, "data": {"id": "1"}}),
             secret="lemon-secret", headers=[("X-Event-Name", "order_created")], id="body-sha256",
             type="order_created")
    body_mac("meta", "https://developers.facebook.com/docs/graph-api/webhooks/getting-started", "sha256",
             "X-Hub-Signature-256", "hex",
             js({"object": "page", "entry": [{"id": "1234", "time": T, "changes": []}]}),
             secret="meta-app-secret", prefix="sha256=", id="body-sha256", type="page")
    body_mac("microsoft-teams", "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-outgoing-webhook",
             "sha256", "Authorization", "base64",
             js({"type": "message", "id": "1485983408511", "timestamp": "2026-01-01T00:00:00.0000000Z",
                 "text": "<at>bot</at> hi"}),
             secret=b64(b"teams security token"), key=b"teams security token", prefix="HMAC ",
             id="1485983408511", type="message")
    body_mac("notion", "https://developers.notion.com/reference/webhooks", "sha256", "X-Notion-Signature", "hex",
             js({"id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4", "timestamp": T_RFC, "type": "page.created"}),
             secret="secret_notion_verification_token", prefix="sha256=",
             id="367cba44-b6f3-4c92-81e7-6a2e9659efd4", type="page.created")
    add("pagerduty", "official: PagerDuty/go-pagerduty webhookv3/webhookv3_test.go, TestVerifySignature 'valid'",
        PAGERDUTY_BODY,
        [JSON, ("X-PagerDuty-Signature", "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd")],
        id="01BWDWL3NYY7LUFPZCC28QUCMK", type="incident.priority_updated",
        secret="lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK")
    body_mac("pagerduty", "https://developer.pagerduty.com/docs/verifying-signatures", "sha256",
             "X-PagerDuty-Signature", "hex",
             js({"event": {"id": "01DEN1HNLBC1VITYTS9BBC7C5P", "event_type": "incident.triggered",
                           "occurred_at": T_RFC}}),
             secret="pd-secret", prefix="v1=", id="01DEN1HNLBC1VITYTS9BBC7C5P", type="incident.triggered")
    body_mac("paystack", "https://paystack.com/docs/payments/webhooks/", "sha512", "x-paystack-signature", "hex",
             js({"event": "charge.success", "data": {"id": 302961, "reference": "qTPrJoy9Bx"}}),
             secret="sk_test_paystack", id="body-sha256", type="charge.success")
    body_mac("quickbooks", "https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks", "sha256",
             "intuit-signature", "base64",
             js({"eventNotifications": [{"realmId": "1185883450", "dataChangeEvent": {"entities": []}}]}),
             secret="qbo-verifier-token", id="body-sha256")
    body_mac("razorpay", "https://razorpay.com/docs/webhooks/validate-test/", "sha256", "X-Razorpay-Signature",
             "hex", js({"entity": "event", "event": "payment.captured", "created_at": T}),
             secret="rzp-webhook-secret", headers=[("x-razorpay-event-id", "HsMWhNBjFKb8kQ")],
             id="HsMWhNBjFKb8kQ", type="payment.captured")
    body_mac("segment", "https://segment.com/docs/connections/destinations/catalog/webhooks/", "sha1",
             "X-Signature", "hex", js({"type": "track", "messageId": "ajs-8f8c2f1e", "timestamp": T_RFC}),
             secret="segment-secret", id="ajs-8f8c2f1e", type="track")
    # A batched delivery (Webhooks (Actions) with batching on): a JSON array of events, signed whole;
    # it has no single messageId, so it is identified by its body hash and forwarded as one array.
    body_mac("segment", "https://segment.com/docs/connections/destinations/catalog/actions-webhook/", "sha1",
             "X-Signature", "hex",
             js([{"type": "track", "messageId": "ajs-1", "timestamp": T_RFC},
                 {"type": "identify", "messageId": "ajs-2", "timestamp": T_RFC}]),
             secret="segment-secret", id="body-sha256")
    body_mac("sendbird", "https://sendbird.com/docs/chat/platform-api/v3/webhook/overview", "sha256",
             "x-sendbird-signature", "hex", js({"category": "group_channel:message_send", "payload": {}}),
             secret="sendbird-master-token", id="body-sha256", type="group_channel:message_send")
    body_mac("sentry", "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
             "sha256", "Sentry-Hook-Signature", "hex", js({"action": "created", "data": {"issue": {"id": "1"}}}),
             secret="sentry-client-secret",
             headers=[("Request-ID", "e8ad4d1a-6b3c-4d1f-9c2b-0a7e5f3d2c1b"), ("Sentry-Hook-Resource", "issue"),
                      ("Sentry-Hook-Timestamp", str(T))],
             id="e8ad4d1a-6b3c-4d1f-9c2b-0a7e5f3d2c1b", type="issue")
    # The older header, as Sentry's own requester builds it (getsentry/sentry,
    # sentry/sentry_apps/external_requests: "Sentry-App-Signature": build_signature(body)).
    body_mac("sentry", "https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
             "sha256", "Sentry-App-Signature", "hex",
             js({"fields": {"title": "An Issue"}, "installationId": "inst-1"}), secret="sentry-client-secret",
             headers=[("Request-ID", "5b1e7c2a9d3f4e60a1b2c3d4e5f60718")], id="5b1e7c2a9d3f4e60a1b2c3d4e5f60718")
    body_mac("shopify", "https://shopify.dev/docs/apps/build/webhooks/subscribe/https", "sha256",
             "X-Shopify-Hmac-Sha256", "base64", js({"id": 820982911946154508, "email": "jon@example.com"}),
             secret="shpss_client_secret",
             headers=[("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
                      ("X-Shopify-Topic", "orders/create"), ("X-Shopify-Triggered-At", T_RFC)],
             id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", type="orders/create")
    body_mac("shortcut", "https://developer.shortcut.com/api/webhook/v1", "sha256", "Payload-Signature", "hex",
             js({"id": "595285dc-9c43-4b9c-a1e6-0cd9aff5b084", "changed_at": T_RFC, "actions": []}),
             secret="shortcut-secret", id="595285dc-9c43-4b9c-a1e6-0cd9aff5b084")
    body_mac("smartsheet", "https://developers.smartsheet.com/api/smartsheet/guides/webhooks/webhook-verification",
             "sha256", "Smartsheet-Hmac-SHA256", "hex",
             js({"nonce": "4b2b3e0a", "timestamp": T_RFC, "webhookId": 1, "scope": "sheet", "events": []}),
             secret="smartsheet-shared-secret", id="body-sha256", type="sheet")
    body_mac("sonarqube", "https://docs.sonarsource.com/sonarqube-server/latest/project-administration/webhooks/",
             "sha256", "X-Sonar-Webhook-HMAC-SHA256", "hex",
             js({"taskId": "AVh21JS2JepAEhwQ-b3u", "status": "SUCCESS", "analysedAt": "2026-01-01T00:00:00+0000"}),
             secret="sonar-secret", id="AVh21JS2JepAEhwQ-b3u")
    body_mac("sumsub", "https://docs.sumsub.com/docs/webhook-manager", "sha256", "X-Payload-Digest", "hex",
             js({"applicantId": "5cb56e8e0a975a35f333cb83", "type": "applicantReviewed",
                 "createdAtMs": "2026-01-01 00:00:00.000"}),
             secret="sumsub-secret", headers=[("X-Payload-Digest-Alg", "HMAC_SHA256_HEX")], id="body-sha256",
             type="applicantReviewed")
    body_mac("tally", "https://tally.so/help/webhooks", "sha256", "Tally-Signature", "base64",
             js({"eventId": "a4cb511e-d513-4fa5-baee-b815d718dfd1", "eventType": "FORM_RESPONSE", "createdAt": T_RFC}),
             secret="tally-secret", id="a4cb511e-d513-4fa5-baee-b815d718dfd1", type="FORM_RESPONSE")
    body_mac("terraform-cloud", "https://developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations",
             "sha512", "X-TFE-Notification-Signature", "hex",
             js({"payload_version": 1, "run_id": "run-1", "notifications": [
                 {"trigger": "run:completed", "run_updated_at": T_RFC}]}),
             secret="tfc-token", id="body-sha256", type="run:completed")
    body_mac("todoist", "https://developer.todoist.com/sync/v9/#webhooks", "sha256", "X-Todoist-Hmac-SHA256",
             "base64", js({"event_name": "item:added", "user_id": "2671355", "event_data": {"id": "1"}}),
             secret="todoist-client-secret", headers=[("X-Todoist-Delivery-ID", "d8fc8b7e-1d04-4e64-8a5c-1f2e3d4c5b6a")],
             id="d8fc8b7e-1d04-4e64-8a5c-1f2e3d4c5b6a", type="item:added")
    body_mac("typeform", "https://www.typeform.com/developers/webhooks/secure-your-webhooks/", "sha256",
             "Typeform-Signature", "base64",
             js({"event_id": "LtWXD3crgy", "event_type": "form_response", "form_response": {"form_id": "lT4Z3j"}}),
             secret="typeform-secret", prefix="sha256=", id="LtWXD3crgy", type="form_response")
    body_mac("veriff", "https://devdocs.veriff.com/docs/hmac-authentication-and-endpoint-security", "sha256",
             "X-HMAC-SIGNATURE", "hex",
             js({"id": "f04bdb47-d3be-4b28-b028-a652feb060b5", "feature": "selfid", "code": 7002,
                 "action": "submitted"}),
             secret="veriff-shared-secret", headers=[("X-AUTH-CLIENT", "integration-key")], id="body-sha256",
             type="submitted")
    body_mac("vercel", "https://vercel.com/docs/webhooks/webhooks-api", "sha1", "x-vercel-signature", "hex",
             js({"id": "uj8cDbDFbvmwQL2DNvhx6Kkc", "type": "deployment.created", "createdAt": T * 1000}),
             secret="vercel-secret", id="uj8cDbDFbvmwQL2DNvhx6Kkc", type="deployment.created")
    body_mac("webex", "https://developer.webex.com/docs/webhooks", "sha1", "X-Spark-Signature", "hex",
             js({"id": "Y2lzY29zcGFyazovL3VzL1dFQkhPT0s", "resource": "messages", "event": "created",
                 "data": {"id": "msg1"}}),
             secret="webex-secret", id="body-sha256", type="created")
    body_mac("woocommerce", "https://woocommerce.com/document/webhooks/", "sha256", "X-WC-Webhook-Signature",
             "base64", js({"id": 727, "status": "processing"}), secret="wc-secret",
             headers=[("X-WC-Webhook-Delivery-ID", "6b4c0b5d"), ("X-WC-Webhook-Topic", "order.created")],
             id="6b4c0b5d", type="order.created")
    body_mac("xero", "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server",
             "sha256", "x-xero-signature", "base64",
             js({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}),
             secret="xero-webhook-key", id="body-sha256")
    body_mac("asana", "https://developers.asana.com/docs/webhooks-guide", "sha256", "X-Hook-Signature", "hex",
             js({"events": [{"action": "changed", "resource": {"gid": "1"}}]}), secret="asana-hook-secret",
             id="body-sha256")
    body_mac("dropbox", "https://www.dropbox.com/developers/reference/webhooks", "sha256", "X-Dropbox-Signature",
             "hex", js({"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}}),
             secret="dropbox-app-secret", id="body-sha256")
    body_mac("gocardless", "https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks",
             "sha256", "Webhook-Signature", "hex",
             js({"events": [{"id": "EV123", "action": "paid_out"}], "meta": {"webhook_id": "WB00012ABCD"}}),
             secret="gc-endpoint-secret", id="WB00012ABCD")
    body_mac("onfido", "https://documentation.onfido.com/api/latest/#webhooks", "sha256", "X-SHA2-Signature",
             "hex", js({"payload": {"resource_type": "check", "action": "check.completed",
                                    "object": {"id": "chk-1", "completed_at_iso8601": T_RFC}}}),
             secret="onfido-webhook-token", id="body-sha256", type="check.completed")
    body_mac("coinbase-commerce", "https://docs.cdp.coinbase.com/commerce-onchain/docs/webhooks-security",
             "sha256", "X-CC-Webhook-Signature", "hex",
             js({"id": 7, "attempt_number": 2, "event": {"id": "ev-7", "type": "charge:confirmed",
                                                         "created_at": T_RFC}}),
             secret="cb-shared-secret", id="ev-7", type="charge:confirmed")
    body_mac("pusher", "https://pusher.com/docs/channels/server_api/webhooks/", "sha256", "X-Pusher-Signature",
             "hex", js({"time_ms": T * 1000, "events": [{"name": "channel_occupied", "channel": "c"}]}),
             secret="pusher-secret", headers=[("X-Pusher-Key", "app-key")], id="body-sha256")


def timestamped():
    # Composite signature headers.
    b = js({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "payment_intent.succeeded",
            "created": T, "data": {"object": {"id": "pi_1"}}})
    s = hx(mac("sha256", "whsec_stripe_test", f"{T}.{b}"))
    old = hx(mac("sha256", "whsec_stripe_old", f"{T}.{b}"))
    add("stripe", docs("https://docs.stripe.com/webhooks#verify-manually"), b,
        [JSON, ("Stripe-Signature", f"t={T},v1={old},v1={s},v0=deadbeef")],
        id="evt_1NG8Du2eZvKYlo2CUI79vXWy", type="payment_intent.succeeded", secret="whsec_stripe_test")

    b = js({"event": "invitee.created", "created_at": T_RFC, "payload": {"uri": "https://api.calendly.com/x"}})
    add("calendly", docs("https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures"), b,
        [JSON, ("Calendly-Webhook-Signature", f"t={T},v1={hx(mac('sha256', 'calendly-key', f'{T}.{b}'))}")],
        id="body-sha256", type="invitee.created", secret="calendly-key")

    b = js({"id": "event_01HXYZ", "event": "dsync.user.created", "created_at": T_RFC, "data": {}})
    add("workos", docs("https://workos.com/docs/events/data-syncing/webhooks"), b,
        [JSON, ("WorkOS-Signature", f"t={T_MS}, v1={hx(mac('sha256', 'workos-secret', f'{T_MS}.{b}'))}")],
        id="event_01HXYZ", type="dsync.user.created", secret="workos-secret")
    b = ('{"id":"wh_01FG9JXJ9C9S052FX59JVG4EG1","data":{"id":"conn_01EHWNC0FCBHZ3BJ7EGKYXK0E6",'
         '"name":"Foo Corp\'s Connection","state":"active","object":"connection","domains":[{"id":'
         '"conn_domain_01EHWNFTAFCF3CQAE5A9Q0P1YB","domain":"foo-corp.com","object":"connection_domain"}],'
         '"connection_type":"OktaSAML","organization_id":"org_01EHWNCE74X7JSDV0X3SZ3KJNY"},'
         '"event":"connection.activated"}')
    add("workos", "official: workos-python tests/test_webhooks.py (mock_event_body, mock_header, mock_secret)", b,
        [JSON, ("WorkOS-Signature", "t=1632409405772, v1=67612f0e74f008b436a13b00266f90ef5c13f9cbcf6262206f5f4a539ff61702")],
        id="wh_01FG9JXJ9C9S052FX59JVG4EG1", type="connection.activated", secret="1lyKDzhJjuCkIscIWqkSe4YsQ")

    b = js({"data": {"type": "event", "id": "evt_9Xo2", "attributes": {"name": "inquiry.completed",
                                                                         "created-at": T_RFC}}})
    s1 = hx(mac("sha256", "persona-old", f"{T}.{b}"))
    s2 = hx(mac("sha256", "persona-new", f"{T}.{b}"))
    add("persona", docs("https://docs.withpersona.com/docs/webhooks-best-practices"), b,
        [JSON, ("Persona-Signature", f"t={T},v1={s1} t={T},v1={s2}")],
        id="evt_9Xo2", type="inquiry.completed", secret="persona-new")

    b = js({"event": "build.finished", "build": {"id": "f62a1b4d"}})
    add("buildkite", "official: buildkite/go-buildkite webhook_test.go, TestValidatePayload (valid signature)",
        BUILDKITE_BODY,
        [JSON, ("X-Buildkite-Event", "ping"),
         ("X-Buildkite-Signature",
          "timestamp=1642080837,signature=582d496ac2d869dd97a3101c4cda346288c49a742592daf582ec64c86449f79c")],
        id="body-sha256", type="ping", secret="29b1ff5779c76bd48ba6705eb99ff970")
    add("buildkite", docs("https://buildkite.com/docs/apis/webhooks#webhook-signature"), b,
        [JSON, ("X-Buildkite-Event", "build.finished"),
         ("X-Buildkite-Signature", f"timestamp={T},signature={hx(mac('sha256', 'bk-token', f'{T}.{b}'))}")],
        id="body-sha256", type="build.finished", secret="bk-token")

    b = js({"post": {"current": {"id": "65a1", "title": "Hello"}}})
    add("ghost", docs("https://ghost.org/docs/webhooks/"), b,
        [JSON, ("X-Ghost-Signature", f"sha256={hx(mac('sha256', 'ghost-secret', f'{b}{T_MS}'))}, t={T_MS}")],
        id="body-sha256", secret="ghost-secret")

    b = js({"event_id": "d8a9c6e0", "metric": "delivered", "timestamp": T, "data": {}})
    add("customerio", docs("https://docs.customer.io/journeys/webhooks/#securely-verify-requests"), b,
        [JSON, ("X-CIO-Timestamp", str(T)),
         ("X-CIO-Signature", hx(mac("sha256", "cio-signing-key", f"v0:{T}:{b}")))],
        id="d8a9c6e0", type="delivered", secret="cio-signing-key")

    # Slack: an Events API callback, JSON this time.
    b = js({"type": "event_callback", "event_id": "Ev08MFMKH6", "event_time": T,
            "event": {"type": "app_mention", "text": "hi"}})
    add("slack", docs("https://api.slack.com/authentication/verifying-requests-from-slack"), b,
        [JSON, ("X-Slack-Request-Timestamp", str(T)),
         ("X-Slack-Signature", "v0=" + hx(mac("sha256", "slack-signing-secret", f"v0:{T}:{b}")))],
        id="Ev08MFMKH6", type="app_mention", secret="slack-signing-secret")

    b = js({"event": "meeting.started", "event_ts": T_MS, "payload": {"object": {"id": "85"}}})
    add("zoom", docs("https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events"), b,
        [JSON, ("x-zm-request-timestamp", str(T)),
         ("x-zm-signature", "v0=" + hx(mac("sha256", "zoom-secret-token", f"v0:{T}:{b}")))],
        id="body-sha256", type="meeting.started", secret="zoom-secret-token")

    b = js({"type": "file.ready", "resource": {"id": "f1"}})
    add("frameio", docs("https://developer.frame.io/docs/automations-webhooks/webhooks-overview"), b,
        [JSON, ("X-Frameio-Request-Timestamp", str(T)),
         ("X-Frameio-Signature", "v0=" + hx(mac("sha256", "frameio-secret", f"v0:{T}:{b}")))],
        id="body-sha256", type="file.ready", secret="frameio-secret")

    b = js({"triggerType": "form_submission", "payload": {"name": "Contact"}})
    add("webflow", docs("https://developers.webflow.com/data/docs/working-with-webhooks"), b,
        [JSON, ("x-webflow-timestamp", str(T_MS)),
         ("x-webflow-signature", hx(mac("sha256", "webflow-secret", f"{T_MS}:{b}")))],
        id="body-sha256", type="form_submission", secret="webflow-secret")

    b = js({"type": "inbound", "id": "evt_front_1", "payload": {"id": "msg_1"}})
    add("front", docs("https://dev.frontapp.com/docs/webhooks-1"), b,
        [JSON, ("X-Front-Request-Timestamp", str(T_MS)),
         ("X-Front-Signature", b64(mac("sha256", "front-app-secret", f"{T_MS}:{b}")))],
        id="evt_front_1", type="inbound", secret="front-app-secret")

    b = js({"event": "TransactionCreated", "timestamp": T_RFC, "data": {"id": "tx1"}})
    add("revolut", docs("https://developer.revolut.com/docs/guides/manage-accounts/webhooks/verify-the-payload-signature"), b,
        [JSON, ("Revolut-Request-Timestamp", str(T_MS)),
         ("Revolut-Signature", "v1=" + hx(mac("sha256", "wsk_revolut", f"v1.{T_MS}.{b}")))],
        id="body-sha256", type="TransactionCreated", secret="wsk_revolut")

    b = js({"action": "create", "type": "Issue", "createdAt": T_RFC, "webhookTimestamp": T_MS,
            "data": {"id": "iss1"}})
    add("linear", docs("https://linear.app/developers/webhooks#securing-webhooks"), b,
        [JSON, ("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72"), ("Linear-Event", "Issue"),
         ("Linear-Signature", hx(mac("sha256", "lin_wh_secret", b)))],
        id="234d1a4e-b617-4388-90fe-adc3633d6b72", type="Issue", secret="lin_wh_secret")

    b = js({"id": "evt_d95ff8ffd2b5cfb4", "event_type": {"id": "letter.created"}, "date_created": T_RFC})
    add("lob", docs("https://help.lob.com/print-and-mail/getting-data-and-results/using-webhooks"), b,
        [JSON, ("Lob-Signature-Timestamp", str(T)),
         ("Lob-Signature", hx(mac("sha256", "lob-secret", f"{T}.{b}")))],
        id="evt_d95ff8ffd2b5cfb4", type="letter.created", secret="lob-secret")

    b = js({"type": "zen:event-type:user.created", "id": "01HXYZ", "time": T_RFC, "detail": {}})
    add("zendesk", docs("https://developer.zendesk.com/documentation/webhooks/verifying/"), b,
        [JSON, ("x-zendesk-webhook-invocation-id", "8350205582"), ("X-Zendesk-Webhook-Signature-Timestamp", T_RFC),
         ("X-Zendesk-Webhook-Signature", b64(mac("sha256", "zendesk-signing-secret", T_RFC + b)))],
        id="8350205582", type="zen:event-type:user.created", secret="zendesk-signing-secret")
    # A webhook configured with the DELETE method: no body, so the signature covers the timestamp.
    add("zendesk", docs("https://developer.zendesk.com/documentation/webhooks/verifying/"), "",
        [("x-zendesk-webhook-invocation-id", "8350205583"), ("X-Zendesk-Webhook-Signature-Timestamp", T_RFC),
         ("X-Zendesk-Webhook-Signature", b64(mac("sha256", "zendesk-signing-secret", T_RFC)))],
        id="8350205583", secret="zendesk-signing-secret", method="DELETE")

    msg_id = "befa7b53-d79d-478f-86b9-120f112b044e"
    ts = "2026-01-01T00:00:00.123456789Z"
    b = js({"subscription": {"id": "f1c2a387", "type": "channel.follow"}, "event": {"user_id": "1337"}})
    add("twitch", docs("https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message"), b,
        [JSON, ("Twitch-Eventsub-Message-Id", msg_id), ("Twitch-Eventsub-Message-Timestamp", ts),
         ("Twitch-Eventsub-Message-Type", "notification"), ("Twitch-Eventsub-Subscription-Type", "channel.follow"),
         ("Twitch-Eventsub-Message-Signature", "sha256=" + hx(mac("sha256", "twitch-secret", msg_id + ts + b)))],
        id=msg_id, type="channel.follow", secret="twitch-secret")

    url = "https://hooks.example.com/webhooks/hubspot?portal=62515"
    b = js([{"eventId": 100, "subscriptionType": "contact.creation", "occurredAt": T_MS}])
    add("hubspot", docs("https://developers.hubspot.com/docs/guides/apps/authentication/validating-requests"), b,
        [JSON, ("X-HubSpot-Request-Timestamp", str(T_MS)),
         ("X-HubSpot-Signature-v3", b64(mac("sha256", "hubspot-client-secret", f"POST{url}{b}{T_MS}")))],
        id="body-sha256", secret="hubspot-client-secret", public_url="https://hooks.example.com/webhooks/hubspot",
        url="/webhooks/hubspot?portal=62515")
    add("hubspot", "official: hubspot-api-python tests/spec/utils/test_signature.py, test_get_signature__v3 "
        "(its timestamp 15000000 is milliseconds)", "{'example_field':'example_value'}",
        [JSON, ("X-HubSpot-Request-Timestamp", "15000000"),
         ("X-HubSpot-Signature-v3", "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=")],
        id="body-sha256", secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", public_url="https://www.example.com/webhook_uri")

    # Contentful's canonical request: method, path, the signed headers (which include the list of
    # signed headers itself, as Contentful's node-apps-toolkit does), body, joined by newlines.
    b = js({"sys": {"id": "5KsDBWseXY6QegucYAoacS", "type": "Entry", "version": 3}})
    listed = "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic"
    signed = [("x-contentful-signed-headers", listed), ("x-contentful-timestamp", str(T_MS)),
              ("x-contentful-topic", "ContentManagement.Entry.publish")]
    canonical = "POST\n/hooks/contentful\n" + ";".join(f"{k}:{v}" for k, v in sorted(signed)) + "\n" + b
    add("contentful", docs("https://www.contentful.com/developers/docs/webhooks/request-verification/"), b,
        [JSON, *signed, ("x-contentful-signature", hx(mac("sha256", "contentful-secret", canonical)))],
        id="body-sha256", type="ContentManagement.Entry.publish", secret="contentful-secret",
        public_url="https://hooks.example.com/hooks/contentful", url="/webhooks/contentful")

    b = js({"action": {"id": "5a9f1c2e", "type": "updateCard", "date": T_RFC}, "model": {"id": "board"}})
    cb = "https://hooks.example.com/webhooks/trello"
    add("trello", docs("https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures"), b,
        [JSON, ("X-Trello-Webhook", b64(mac("sha1", "trello-app-secret", b + cb)))],
        id="5a9f1c2e", type="updateCard", secret="trello-app-secret", public_url=cb)

    form = [("mandrill_events", js([{"event": "send", "_id": "m1", "ts": T}]))]
    mu = "https://hooks.example.com/webhooks/mandrill"
    signed_data = mu + "".join(k + v for k, v in sorted(form))
    add("mandrill", docs("https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/"),
        urllib.parse.urlencode(form), [FORM, ("X-Mandrill-Signature", b64(mac("sha1", "mandrill-key", signed_data)))],
        id="body-sha256", secret="mandrill-key", public_url=mu)

    # Box with one key only, constructed (the official one uses both).
    b = js({"type": "webhook_event", "id": "e1", "trigger": "FILE.DELETED", "created_at": T_RFC})
    add("box", docs("https://developer.box.com/guides/webhooks/v2/signatures-v2/"), b,
        [JSON, ("box-delivery-id", "d1"), ("box-delivery-timestamp", T_RFC),
         ("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256"),
         ("box-signature-primary", b64(mac("sha256", "box-primary", b + T_RFC)))],
        id="d1", type="FILE.DELETED", secret="box-primary")

    # The five vendors from vendor-docs/.
    b = js({"event": "document.processed", "id": "evt_arch_1", "type": "document.processed", "timestamp": T_RFC})
    add("archivus", "constructed from vendor-docs/archivus.txt", b,
        [JSON, ("X-Archivus-Signature", "sha256=" + hx(mac("sha256", "archivus-secret", b)))],
        id="evt_arch_1", type="document.processed", secret="archivus-secret")
    b = js({"id": "chm_1", "kind": "tour.completed", "sent_at": T_RFC})
    add("chameleon", "constructed from vendor-docs/chameleon.txt", b,
        [JSON, ("X-Chameleon-Signature", hx(mac("sha256", "chameleon-secret", b)))],
        id="chm_1", type="tour.completed", secret="chameleon-secret")
    b = js({"event": "translation.completed", "timestamp": T_RFC})
    add("chamelingo", "constructed from vendor-docs/chamelingo.txt", b,
        [JSON, ("X-Chamelingo-Signature", "sha256=" + hx(mac("sha256", "chamelingo-secret", b)))],
        id="body-sha256", type="translation.completed", secret="chamelingo-secret")
    b = js({"event": "contract.signed", "event_id": "evt_cml_1", "timestamp": T_RFC})
    add("chamelio", "constructed from vendor-docs/chamelio.txt", b,
        [JSON, ("X-Chamelio-Signature", "sha256=" + hx(mac("sha256", "chamelio-secret", b)))],
        id="evt_cml_1", type="contract.signed", secret="chamelio-secret")
    b = js({"event": "extraction.completed", "timestamp": T_RFC})
    add("docintell", "constructed from vendor-docs/docintell.txt", b,
        [JSON, ("X-DocIntell-Timestamp", str(T)),
         ("X-DocIntell-Signature", "sha256=" + hx(mac("sha256", "docintell-secret", b)))],
        id="body-sha256", type="extraction.completed", secret="docintell-secret")

    # Standard Webhooks senders.
    def standard(preset, url, headers_prefix, secret_text, key, type_field, typ, **kw):
        b = js({type_field: typ, "data": {"id": "obj_1"}, "timestamp": T_RFC, "created_at": T_RFC})
        msg = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
        sig = b64(mac("sha256", key, f"{msg}.{T}.{b}"))
        add(preset, docs(url), b,
            [JSON, (f"{headers_prefix}-id", msg), (f"{headers_prefix}-timestamp", str(T)),
             (f"{headers_prefix}-signature", f"v1,{b64(b'not this one' * 3)} v1,{sig}")],
            id=msg, type=typ, secret=secret_text, **kw)

    k = b"standard webhooks key 32 bytes!!"
    standard("standard-webhooks", "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
             "webhook", "whsec_" + b64(k), k, "type", "invoice.paid")
    standard("standard-webhooks", "the Svix header names (https://docs.svix.com/receiving/verifying-payloads/how-manual)",
             "svix", "whsec_" + b64(k), k, "type", "invoice.paid")
    standard("brex", "https://developer.brex.com/docs/webhooks/", "webhook", "whsec_" + b64(k), k,
             "event_type", "EXPENSE_PAYMENT_UPDATED")
    standard("liveblocks", "https://liveblocks.io/docs/platform/webhooks", "webhook", "whsec_" + b64(k), k,
             "type", "storageUpdated")
    standard("openai", "https://platform.openai.com/docs/guides/webhooks", "webhook", "whsec_" + b64(k), k,
             "type", "response.completed")
    standard("polar", "https://docs.polar.sh/integrate/webhooks/delivery (the secret used as raw bytes)",
             "webhook", "polar_whs_raw_secret", b"polar_whs_raw_secret", "type", "order.paid")
    standard("render", "https://render.com/docs/webhooks", "webhook", "whsec_" + b64(k), k, "type", "deploy_ended")
    standard("replicate", "https://replicate.com/docs/topics/webhooks/verify-webhook", "webhook",
             "whsec_" + b64(k), k, "status", "succeeded")
    for vendor, url in [("clerk", "https://clerk.com/docs/webhooks/sync-data"),
                        ("resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests"),
                        ("stytch", "https://stytch.com/docs/guides/webhooks/getting-started")]:
        standard(vendor, url, "svix", "whsec_" + b64(k), k, "type", "user.created")
    VECTORS[-1]["body"] = VECTORS[-1]["body"]  # stytch's type is body:/action; see below
    VECTORS.pop()
    b = js({"action": "CREATE", "object_type": "user", "id": "user-test-1"})
    msg = "msg_stytch_1"
    add("stytch", docs("https://stytch.com/docs/guides/webhooks/getting-started"), b,
        [JSON, ("svix-id", msg), ("svix-timestamp", str(T)),
         ("svix-signature", "v1," + b64(mac("sha256", k, f"{msg}.{T}.{b}")))],
        id=msg, type="CREATE", secret="whsec_" + b64(k))

    # Ed25519.
    dk = ed25519_key("hookgate discord test key")
    other = ed25519_key("another discord key")
    b = js({"id": "786008729715212338", "type": 2, "data": {"name": "ping"}})
    add("discord", docs("https://discord.com/developers/docs/interactions/overview"), b,
        [JSON, ("X-Signature-Timestamp", str(T)), ("X-Signature-Ed25519", hx(dk.sign(f"{T}{b}".encode())))],
        id="786008729715212338", type="2", public_key=hx(ed_public_raw(dk)), other_public_key=hx(ed_public_raw(other)))
    tk = ed25519_key("hookgate telnyx test key")
    b = js({"data": {"id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", "event_type": "message.received",
                     "occurred_at": T_RFC, "payload": {}}})
    add("telnyx", docs("https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks"), b,
        [JSON, ("telnyx-timestamp", str(T)), ("telnyx-signature-ed25519", b64(tk.sign(f"{T}|{b}".encode())))],
        id="0ccc7b54-4df3-4bca-a65a-3da1ecc777f0", type="message.received",
        public_key=b64(ed_public_raw(tk)), other_public_key=b64(ed_public_raw(other)))
    sk = ed25519_key("hookgate standard webhooks v1a key")
    msg = "msg_v1a_1"
    b = js({"type": "user.created", "data": {}})
    add("standard-webhooks-ed25519",
        docs("https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#asymmetric-signatures"), b,
        [JSON, ("webhook-id", msg), ("webhook-timestamp", str(T)),
         ("webhook-signature", "v1a," + b64(sk.sign(f"{msg}.{T}.{b}".encode())))],
        id=msg, type="user.created", public_key="whpk_" + b64(ed_public_raw(sk)),
        other_public_key="whpk_" + b64(ed_public_raw(other)))

    # RSA (Wise) and JWTs (Plaid ES256, Vonage and Netlify HS256).
    wk = rsa_key("hookgate wise test key")
    wo = rsa_key("another wise key")
    b = js({"data": {"resource": {"id": 1}}, "subscription_id": "01234567", "event_type": "transfers#state-change",
            "schema_version": "2.0.0", "sent_at": T_RFC})
    # The sandbox preset's built-in key is Wise's published one: its route is given no key.
    add("wise-sandbox", "official: transferwise/digital-signatures-examples verify-webhook-signature/verify-signature.js "
        "(a sandbox delivery, signed with the sandbox key Wise publishes)",
        '{"data":{"resource":{"id":49983981,"profile_id":16055450,"account_id":14124090,"type":"transfer"},'
        '"current_state":"incoming_payment_waiting","previous_state":null,"occurred_at":"2021-08-23T10:12:50Z"},'
        '"subscription_id":"90aa8e14-4ef1-4a56-861c-f3c9cde097ea","event_type":"transfers#state-change",'
        '"schema_version":"2.0.0","sent_at":"2021-08-23T10:12:50Z"}',
        [JSON, ("X-Signature-SHA256",
                "wKcKCYXAzxNgiu7xmoDm943NUni7Rz33QN8JkEA9dWSGebgndonabgSj18Y4C08OrwVmueGsED2s00M7DtJVcYKOS1i3G4TMVx+m"
                "gM3aL9djMBkQtiYNBFUd6wrPI7ZUNHv/TrlKSjTMc+6JFvUvJ7owY3z85e3I4jLRLJowMFvO8kvCJ60+1pY9wDwZvtZ//WS93Lrw"
                "Gjk9Dvwzpmu0w+P4J75tETT5qC3Uv0y5G2yO8SEoO3yNP/tg/BOli02niHb53vEOUWUb9bly6thnfMoXoiV/osoGxgF20R58RlvkA"
                "mezyyl1Sv542TfS2DpiwVnmjjjkCyXeSUcKookYLQ==")],
        id="body-sha256", type="transfers#state-change", other_public_key=spki_pem(wo))
    add("wise", docs("https://docs.wise.com/api-docs/features/webhooks-notifications/event-handling"), b,
        [JSON, ("X-Delivery-Id", "e6a8f5f0-1f4f-4b8e-9e0f-0b4c3f7e2d11"),
         ("X-Signature-SHA256", b64(wk.sign(b.encode(), padding.PKCS1v15(), hashes.SHA256())))],
        id="e6a8f5f0-1f4f-4b8e-9e0f-0b4c3f7e2d11", type="transfers#state-change",
        public_key=spki_pem(wk), other_public_key=spki_pem(wo))
    pk = p256_key("hookgate plaid test key")
    po = p256_key("another plaid key")
    b = '{\n  "webhook_type": "TRANSACTIONS",\n  "webhook_code": "SYNC_UPDATES_AVAILABLE",\n  "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb"\n}'
    token = jwt_es256(pk, {"iat": T, "request_body_sha256": hashlib.sha256(b.encode()).hexdigest()}, "6c5516e1")
    def ec_jwk(k, kid):
        n = k.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "expired_at": None,
                "x": b64url(n.x.to_bytes(32, "big")), "y": b64url(n.y.to_bytes(32, "big"))}

    add("plaid", docs("https://plaid.com/docs/api/webhooks/webhook-verification/"), b,
        [JSON, ("Plaid-Verification", token)], id="body-sha256", type="SYNC_UPDATES_AVAILABLE",
        jwks=js({"keys": [ec_jwk(pk, "6c5516e1")]}), other_jwks=js({"keys": [ec_jwk(po, "6c5516e1")]}))
    b = js({"message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "status": "delivered", "timestamp": T_RFC})
    token = jwt_hs256("vonage-signature-secret", {"iat": T, "jti": "c0ffee", "iss": "Vonage",
                                                   "payload_hash": hashlib.sha256(b.encode()).hexdigest(),
                                                   "api_key": "abcd1234"})
    add("vonage", docs("https://developer.vonage.com/en/getting-started/concepts/webhooks#validating-signed-webhooks"), b,
        [JSON, ("Authorization", "Bearer " + token)], id="body-sha256", type="delivered",
        secret="vonage-signature-secret")
    b = js({"id": "5d9d0a0a0a0a0a0a0a0a0a0a", "state": "ready", "updated_at": T_RFC})
    token = jwt_hs256("netlify-jws-secret", {"iss": "netlify", "sha256": hashlib.sha256(b.encode()).hexdigest()})
    # MessageBird's token carries nbf/exp; exp is set far ahead so that the delivery stays valid
    # (a real one expires soon after it is sent, and an expired token is refused).
    mb = js({"id": "mb_msg_1", "type": "message.created", "createdDatetime": T_RFC})
    mb_token = jwt_hs256("messagebird-signing-key", {
        "iss": "MessageBird", "nbf": T, "exp": 4102444800, "jti": "a7e5c1d2-jti",
        "url_hash": hashlib.sha256(b"https://hooks.example.com/webhooks/messagebird").hexdigest(),
        "payload_hash": hashlib.sha256(mb.encode()).hexdigest()})
    add("messagebird", docs("https://developers.messagebird.com/api/#verifying-http-requests"), mb,
        [JSON, ("MessageBird-Signature-JWT", mb_token)], id="body-sha256", secret="messagebird-signing-key")
    add("netlify", docs("https://docs.netlify.com/site-deploys/deploy-notifications/#payload-signature"), b,
        [JSON, ("X-Webhook-Signature", token)], id="body-sha256", type="ready", secret="netlify-jws-secret")

    # Signatures carried in the body or the URL.
    tok = "2f2e1c3b4a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80"
    b = js({"signature": {"timestamp": str(T), "token": tok,
                          "signature": hx(mac("sha256", "mg-signing-key", f"{T}{tok}"))},
            "event-data": {"event": "delivered", "timestamp": T + 0.5, "id": "CPgfbmQMTCKtHW6uIWtuVe"}})
    add("mailgun", docs("https://documentation.mailgun.com/docs/mailgun/user-manual/events/webhooks/#securing-webhooks"),
        b, [JSON], id=tok, type="delivered", secret="mg-signing-key", tamper=[tok, tok[::-1]])
    # The legacy webhooks: the same signature, as form fields beside the event's own.
    b = urllib.parse.urlencode([("event", "delivered"), ("recipient", "alice@example.com"),
                                ("timestamp", str(T)), ("token", tok),
                                ("signature", hx(mac("sha256", "mg-signing-key", f"{T}{tok}")))])
    add("mailgun-legacy",
        docs("https://documentation.mailgun.com/docs/mailgun/user-manual/events/webhooks/#securing-webhooks"),
        b, [FORM], id=tok, type="delivered", secret="mg-signing-key", tamper=[tok, tok[::-1]])
    b = js([{"event": "document_state_changed", "data": {"id": "doc1", "status": "document.completed"}}])
    add("pandadoc", docs("https://developers.pandadoc.com/reference/webhooks-authentication"), b, [JSON],
        id="body-sha256", type="document_state_changed", secret="pandadoc-shared-key",
        url="/webhooks/pandadoc?signature=" + hx(mac("sha256", "pandadoc-shared-key", b)))
    b = js({"event_type": "FILE_UPDATE", "file_key": "f1", "passcode": "figma-passcode", "timestamp": T_RFC,
            "webhook_id": "22"})
    add("figma", docs("https://www.figma.com/developers/api#webhooks-v2-security"), b, [JSON],
        id="body-sha256", type="FILE_UPDATE", secret="figma-passcode")

    # DocuSign: two keys, two signature headers.
    b = js({"event": "envelope-completed", "generatedDateTime": T_RFC, "retryCount": 0,
            "data": {"envelopeId": "e1"}})
    add("docusign", docs("https://developers.docusign.com/platform/webhooks/connect/validate/"), b,
        [JSON, ("X-DocuSign-Signature-1", b64(mac("sha256", "docusign-key-1", b))),
         ("X-DocuSign-Signature-2", b64(mac("sha256", "docusign-key-2", b)))],
        id="body-sha256", type="envelope-completed", secrets=["docusign-key-2"])

    b = js({"id": "ev_1", "event": "subscription/created"})
    add("recharge", docs("https://docs.getrecharge.com/docs/webhooks-overview#validating-webhooks"), b,
        [JSON, ("X-Recharge-Topic", "subscription/created"),
         ("X-Recharge-Hmac-Sha256", hashlib.sha256(("recharge-client-secret" + b).encode()).hexdigest())],
        id="body-sha256", type="subscription/created", secret="recharge-client-secret")

    # Shared tokens and Basic credentials: nothing is signed, the credential is compared.
    def basic(user_pass):
        return "Basic " + b64(user_pass.encode())

    add("gitlab", docs("https://docs.gitlab.com/user/project/integrations/webhooks/"), js({"object_kind": "push"}),
        [JSON, ("X-Gitlab-Token", "gitlab-token"), ("X-Gitlab-Event", "Push Hook"),
         ("Idempotency-Key", "f7a3c3d0-ba3e-4e0b-9f3c-8f1d2c3b4a5e")],
        id="f7a3c3d0-ba3e-4e0b-9f3c-8f1d2c3b4a5e", type="Push Hook", secret="gitlab-token")
    add("okta", docs("https://developer.okta.com/docs/concepts/event-hooks/"),
        js({"eventType": "com.okta.event_hook", "eventId": "b5a188b9-5ece-4636-b041-482ffda96311",
            "eventTime": T_RFC, "data": {"events": []}}),
        [JSON, ("Authorization", "okta-shared-value")], id="b5a188b9-5ece-4636-b041-482ffda96311",
        type="com.okta.event_hook", secret="okta-shared-value")
    add("telegram", docs("https://core.telegram.org/bots/api#setwebhook"),
        js({"update_id": 10000, "message": {"text": "hi"}}),
        [JSON, ("X-Telegram-Bot-Api-Secret-Token", "tg_secret_token-1")], id="10000", secret="tg_secret_token-1")
    add("flutterwave", docs("https://developer.flutterwave.com/docs/integration-guides/webhooks"),
        js({"event": "charge.completed", "data": {"id": 285959875}}),
        [JSON, ("verif-hash", "flw-secret-hash")], id="body-sha256", type="charge.completed",
        secret="flw-secret-hash")
    add("azure-devops", docs("https://learn.microsoft.com/en-us/azure/devops/service-hooks/services/webhooks"),
        js({"id": "03c164c2-8912-4d5e-8009-3707d5f83734", "eventType": "git.push", "createdDate": T_RFC}),
        [JSON, ("Authorization", basic("hooks:azdo-pass"))], id="03c164c2-8912-4d5e-8009-3707d5f83734",
        type="git.push", secret="hooks:azdo-pass")
    add("chargebee", docs("https://www.chargebee.com/docs/2.0/webhook_settings.html"),
        js({"id": "ev_16BHbhF4s42tO2lK", "event_type": "subscription_created", "occurred_at": T}),
        [JSON, ("Authorization", basic("chargebee:cb-pass"))], id="ev_16BHbhF4s42tO2lK",
        type="subscription_created", secret="chargebee:cb-pass")
    add("mailjet", docs("https://dev.mailjet.com/email/guides/webhooks/"),
        js({"event": "sent", "time": T, "MessageID": 19421777835146490}),
        [JSON, ("Authorization", basic("mj:mj-pass"))], id="body-sha256", type="sent", secret="mj:mj-pass")
    add("pipedrive", docs("https://pipedrive.readme.io/docs/guide-for-webhooks"),
        js({"event": "updated.deal", "meta": {"action": "updated"}, "current": {"id": 1}}),
        [JSON, ("Authorization", basic("pd:pd-pass"))], id="body-sha256", type="updated.deal", secret="pd:pd-pass")
    add("postmark", docs("https://postmarkapp.com/developer/webhooks/webhooks-overview"),
        js({"RecordType": "Delivery", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483"}),
        [JSON, ("Authorization", basic("postmark:pm-pass"))], id="body-sha256", type="Delivery",
        secret="postmark:pm-pass")
    add("sparkpost", docs("https://developers.sparkpost.com/api/webhooks/"),
        js([{"msys": {"message_event": {"type": "delivery"}}}]),
        [JSON, ("Authorization", basic("sp:sp-pass"))], id="body-sha256", secret="sp:sp-pass")


# ---------------------------------------------------------------- output

def toml_str(s):
    if "\n" not in s and "'" not in s:
        return "'" + s + "'"
    return json.dumps(s, ensure_ascii=False)


def write(path):
    out = [
        "# Test deliveries for every preset, written by tools/vectors.py; do not edit by hand.",
        "# Each [[NAME]] is one delivery. source says where it came from: \"official: ...\" for a vendor's",
        "# published example, \"constructed from ...\" for one built from the vendor's documentation.",
        "# id = \"body-sha256\" means the event id is the SHA-256 of the body (\"request-sha256\": of the",
        "# signed parts of a delivery by another method than POST, verify::request_digest; \"document-sha256\":",
        "# of the form field that holds the vendor's document, body_from). The test in",
        "# src/presets/vectors.rs derives tampered, wrong-key, malformed, missing, stale and future variants.",
        "",
    ]
    for v in sorted(VECTORS, key=lambda v: v["preset"]):
        out.append(f"[[{v['preset']}]]")
        for key in ["source", "secret", "public_key", "other_public_key", "jwks", "other_jwks", "audience",
                    "sender", "public_url", "method", "url", "id", "type"]:
            if key in v:
                out.append(f"{key} = {toml_str(v[key])}")
        if "secrets" in v:
            out.append("secrets = [" + ", ".join(toml_str(s) for s in v["secrets"]) + "]")
        if "tamper" in v:
            out.append("tamper = [" + ", ".join(toml_str(s) for s in v["tamper"]) + "]")
        out.append("headers = [")
        for name, value in v["headers"]:
            out.append(f"  [{toml_str(name)}, {toml_str(value)}],")
        out.append("]")
        out.append(f"body = {toml_str(v['body'])}")
        out.append("")
    Path(path).write_text("\n".join(out))


def atlassian_connect():
    """Atlassian Connect: an HS256 token whose qsh is the SHA-256 of the canonical request
    (https://developer.atlassian.com/cloud/jira/platform/understanding-jwt-for-connect-apps/). A real
    token also carries exp, three minutes after iat; a fixed vector cannot, or it would expire."""
    canonical = "POST&/webhooks/atlassian-connect&lic=active&user_key=admin"
    claims = {"iss": "a1b2c3d4-client-key", "iat": T, "qsh": hx(sha("sha256")(canonical.encode()).digest())}
    token = jwt_hs256("connect-shared-secret", claims)
    add("atlassian-connect", docs("https://developer.atlassian.com/cloud/jira/platform/understanding-jwt-for-connect-apps/"),
        js({"timestamp": T * 1000, "webhookEvent": "jira:issue_created", "issue": {"key": "PRJ-1"}}),
        [JSON, ("Authorization", "JWT " + token), ("X-Atlassian-Webhook-Identifier", "wh-9f8e7d6c")],
        id="wh-9f8e7d6c", type="jira:issue_created", secret="connect-shared-secret",
        public_url="https://app.example.com/webhooks/atlassian-connect",
        url="/webhooks/atlassian-connect?user_key=admin&lic=active&jwt=ignored")


def google_pubsub():
    """Pub/Sub push: a Google-signed OIDC token (RS256, key from Google's JWKS) naming the audience and
    the pushing service account (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
    A real token also carries exp, an hour after iat; a fixed vector cannot."""
    key, other = rsa_key("hookgate google test key"), rsa_key("another google key")

    def jwk(k, kid):
        n = k.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                "n": b64url(n.n.to_bytes(256, "big")), "e": b64url(n.e.to_bytes(3, "big"))}

    aud = "https://hooks.example.com/webhooks/google-pubsub"
    sub = "113774264463038321964"
    claims = {"iss": "https://accounts.google.com", "aud": aud, "azp": sub, "sub": sub,
              "email": "pusher@project.iam.gserviceaccount.com", "email_verified": True, "iat": T}
    token = jwt({"alg": "RS256", "kid": "g1", "typ": "JWT"}, claims,
                lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA256()))
    body = js({"message": {"attributes": {"origin": "billing"}, "data": "SGVsbG8=", "messageId": "2070443601311540",
                           "publishTime": T_RFC}, "subscription": "projects/p/subscriptions/s"})
    add("google-pubsub", docs("https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions"), body,
        [JSON, ("Authorization", "Bearer " + token)], id="2070443601311540",
        jwks=js({"keys": [jwk(key, "g1")]}), other_jwks=js({"keys": [jwk(other, "g1")]}),
        audience=aud, sender=sub)


def dropbox_sign():
    """Dropbox Sign's SDK fixture: hellosign-openapi test_fixtures/EventCallbackHelper_AccountCallbacks.json
    ("signature_request"), checked by dropbox-sign-node's EventCallbackHelper test with this API key,
    posted as Dropbox Sign posts it: the JSON in the multipart form field json."""
    event = {"account_guid": "63522885f9261e2b04eea043933ee7313eb674fd",
             "event": {"event_time": "1348177752", "event_type": "signature_request_sent",
                       "event_hash": "08d45a6b7677492b78be030cef18cfeaece8fe67e163cc8e526ee638ad483756",
                       "event_metadata": {"related_signature_id": "ad4d8a769b555fa5ef38691465d426682bf2c992",
                                          "reported_for_account_id": "63522885f9261e2b04eea043933ee7313eb674fd"}}}
    boundary = "hookgate-boundary-7d1c"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{js(event)}\r\n"
            f"--{boundary}--\r\n")
    add("dropbox-sign", "official: hellosign-openapi test_fixtures/EventCallbackHelper_AccountCallbacks.json "
        "(signature_request), the key of dropbox-sign-node's EventCallbackHelper test", body,
        [("Content-Type", f"multipart/form-data; boundary={boundary}")], id="document-sha256",
        type="signature_request_sent", secret="324e3b0840f065eb51f3fd63231d0d33daa35d4ed10d27718839e81737065782",
        tamper=["signature_request_sent", "signature_request_viewed"])


def paddle_classic():
    """Paddle Classic: RSA-SHA1 over every field but p_signature, sorted and PHP-serialized as its
    Python sample does (https://developer.paddle.com/classic/webhook-reference/verifying-webhooks)."""
    key, other = rsa_key("hookgate paddle classic key"), rsa_key("another paddle classic key")
    fields = [("alert_id", "1846112"), ("alert_name", "subscription_created"), ("currency", "EUR"),
              ("email", "buyer@example.com"), ("event_time", "2026-01-01 00:00:00"),
              ("passthrough", "{\"user\":42}"), ("status", "active"), ("subscription_id", "502198")]

    def php(s):
        return f's:{len(s.encode())}:"{s}";'

    serialized = f"a:{len(fields)}:{{" + "".join(php(k) + php(v) for k, v in sorted(fields)) + "}"
    sig = b64(key.sign(serialized.encode(), padding.PKCS1v15(), hashes.SHA1()))
    body = urllib.parse.urlencode(fields[:3] + [("p_signature", sig)] + fields[3:])
    add("paddle-classic", docs("https://developer.paddle.com/classic/webhook-reference/verifying-webhooks"), body,
        [FORM], id="1846112", type="subscription_created", public_key=spki_pem(key),
        other_public_key=spki_pem(other))


def twilio_rules():
    """Twilio's Webhooks Rules: the same signed string (URL, then the sorted form parameters) under the
    rule's SharedKey with the algorithm its settings header names (twilio-node
    examples/WebhookSignatureValidation.md: "Only the hash changes")."""
    params = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
              ("To", "+18005551212"), ("Caller", "+14158675309")]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signed = url + "".join(k + v for k, v in sorted(params))
    add("twilio", docs("https://www.twilio.com/docs/usage/webhooks/webhook-rules"),
        urllib.parse.urlencode(params),
        [FORM, ("X-Twilio-Webhooks-Signature-Settings", "key=HK-rule-1,algorithm=HMAC_SHA256"),
         ("X-Twilio-Signature", b64(mac("sha256", "twilio-rule-shared-key", signed)))],
        id="body-sha256", secrets=["12345", "twilio-rule-shared-key"],
        public_url="https://mycompany.com/myapp.php", url="/webhooks/twilio?foo=1&bar=2")


def mercadopago():
    """Mercado Pago signs the query's data.id (lowercased), x-request-id and ts, not the body."""
    rid = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"
    data_id = "AbC123"
    manifest = f"id:{data_id.lower()};request-id:{rid};ts:{T};"
    add("mercadopago", docs("https://www.mercadopago.com/developers/en/docs/your-integrations/notifications/webhooks"),
        js({"action": "payment.updated", "data": {"id": data_id}, "type": "payment"}),
        [JSON, ("x-request-id", rid), ("x-signature", f"ts={T},v1={hx(mac('sha256', 'mp-webhook-secret', manifest))}")],
        id=rid, type="payment", secret="mp-webhook-secret",
        url=f"/webhooks/mercadopago?data.id={data_id}&type=payment")


def catalogue_150():
    """The presets added to reach 150 (2026-12-01), each built from its vendor's documentation."""
    body_mac("acuity", "https://developers.acuityscheduling.com/docs/webhooks", "sha256", "X-Acuity-Signature",
             "base64", "action=appointment.scheduled&id=1234567&calendarID=123&appointmentTypeID=456",
             secret="acuity-api-key", id="body-sha256")
    VECTORS[-1]["headers"][0] = FORM
    body_mac("aftership", "https://www.aftership.com/docs/tracking/webhook/webhook-signature", "sha256",
             "aftership-hmac-sha256", "base64",
             js({"event_id": "ae6f5ac6-9d36-4b08-9c8f-3e2e1a0b2c11", "event": "tracking_update",
                 "msg": {"tracking_number": "1Z999AA10123456784", "tag": "InTransit"}, "ts": T}),
             secret="aftership-webhook-secret", id="ae6f5ac6-9d36-4b08-9c8f-3e2e1a0b2c11", type="tracking_update")
    body_mac("attio", "https://docs.attio.com/rest-api/guides/webhooks", "sha256", "Attio-Signature", "hex",
             js({"webhook_id": "wh_1", "events": [{"event_type": "record.created", "id": {"record_id": "r1"}}]}),
             secret="attio-webhook-secret", id="body-sha256")
    body_mac("btcpay", "https://docs.btcpayserver.org/API/Greenfield/v1/#tag/Webhooks", "sha256", "BTCPay-Sig",
             "hex", js({"deliveryId": "Dz1", "webhookId": "W1", "originalDeliveryId": "Dz0", "isRedelivery": True,
                        "type": "InvoiceSettled", "timestamp": T, "storeId": "S1", "invoiceId": "I1"}),
             secret="btcpay-webhook-secret", prefix="sha256=", id="Dz0", type="InvoiceSettled")
    b = js({"subscription_id": "whsub_1", "event": {"id": "ev_2d9Fz", "object_type": "lead", "action": "created",
                                                    "date_created": T_RFC, "data": {"id": "lead_1"}}})
    key = bytes.fromhex("9a5d3c0ba2f4e5d6c7b8a9f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e")
    add("close", docs("https://developer.close.com/topics/webhooks/"), b,
        [JSON, ("close-sig-timestamp", str(T)), ("close-sig-hash", hx(mac("sha256", key, f"{T}{b}")))],
        id="ev_2d9Fz", type="created", secret=key.hex())
    add("cloudflare", docs("https://developers.cloudflare.com/notifications/get-started/configure-webhooks/"),
        js({"name": "Origin health", "text": "Pool us-east is unhealthy", "ts": T}),
        [JSON, ("cf-webhook-auth", "cloudflare-webhook-secret")], id="body-sha256",
        secret="cloudflare-webhook-secret")
    body_mac("dub", "https://dub.co/docs/concepts/webhooks/verify-webhook-requests", "sha256", "Dub-Signature",
             "hex", js({"id": "evt_KCMbhUn2Y3bZ", "event": "link.clicked", "createdAt": T_RFC, "data": {}}),
             secret="dub-webhook-secret", id="evt_KCMbhUn2Y3bZ", type="link.clicked")
    body_mac("easypost", "https://docs.easypost.com/guides/webhooks-guide", "sha256", "X-Hmac-Signature", "hex",
             js({"id": "evt_7e1c", "object": "Event", "description": "tracker.updated", "created_at": T_RFC,
                 "result": {"id": "trk_1", "status": "in_transit"}}),
             secret="easypost-webhook-secret", prefix="hmac-sha256-hex=", id="evt_7e1c", type="tracker.updated")
    b = js({"type": "post_call_transcription", "event_timestamp": T, "data": {"conversation_id": "conv_1"}})
    add("elevenlabs", docs("https://elevenlabs.io/docs/product-guides/administration/webhooks"), b,
        [JSON, ("ElevenLabs-Signature", f"t={T},v0={hx(mac('sha256', 'wsec_elevenlabs', f'{T}.{b}'))}")],
        id="body-sha256", type="post_call_transcription", secret="wsec_elevenlabs")
    body_mac("grafana", "https://grafana.com/docs/grafana/latest/alerting/configure-notifications/"
             "manage-contact-points/integrations/webhook-notifier/", "sha256", "X-Grafana-Alerting-Signature",
             "hex", js({"receiver": "hookgate", "status": "firing", "groupKey": "{}:{alertname=\"HighLatency\"}",
                        "alerts": [{"status": "firing", "labels": {"alertname": "HighLatency"}}]}),
             secret="grafana-hmac-secret", id="body-sha256", type="firing")
    body_mac("gusto", "https://docs.gusto.com/app-integrations/docs/webhooks-overview", "sha256",
             "X-Gusto-Signature", "hex",
             js({"uuid": "f7d1b2c4-65e8-4c8e-9d1a-2b3c4d5e6f70", "event_type": "employee.created",
                 "resource_type": "Company", "entity_type": "Employee", "timestamp": T}),
             secret="gusto-verification-token", id="f7d1b2c4-65e8-4c8e-9d1a-2b3c4d5e6f70", type="employee.created")
    k = b"standard webhooks key 32 bytes!!"
    for preset, url, field, typ in [
        ("incident-io", "https://api-docs.incident.io/tag/Webhooks/", "event_type",
         "public_incident.incident_created_v2"),
        ("lithic", "https://docs.lithic.com/docs/events-api", "event_type", "card.created"),
        ("loops", "https://loops.so/docs/webhooks", "eventName", "contact.created"),
    ]:
        b = js({field: typ, "data": {"id": "obj_1"}})
        msg = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
        add(preset, docs(url), b,
            [JSON, ("webhook-id", msg), ("webhook-timestamp", str(T)),
             ("webhook-signature", "v1," + b64(mac("sha256", k, f"{msg}.{T}.{b}")))],
            id=msg, type=typ, secret="whsec_" + b64(k))
    body_mac("kontent-ai", "https://kontent.ai/learn/docs/webhooks/webhooks", "sha256", "X-Kontent-ai-Signature",
             "base64", js({"notifications": [{"data": {"system": {"id": "a1"}}, "message": {"action": "published"}}]}),
             secret="kontent-webhook-secret", id="body-sha256")
    body_mac("modern-treasury", "https://docs.moderntreasury.com/platform/reference/verify-webhook-signature",
             "sha256", "X-Signature", "hex", js({"event": "completed", "data": {"id": "po_1"}}),
             secret="mt-webhook-key", headers=[("X-Topic", "payment_order")], id="body-sha256", type="payment_order")
    add("modern-treasury", "official: modern-treasury-node tests/api-resources/webhooks.test.ts, "
        "'validateSignature: Correctly verifies against the expected signature'", '{"foo":"bar"}',
        [JSON, ("X-Signature", "57e14f6f354543f0101fb06ea24df7731d90087b76651e3497345e22a3622940")],
        id="body-sha256", secret="foo")
    add("modern-treasury", "official: modern-treasury-node tests/api-resources/webhooks.test.ts, "
        "'getSignature: Uses the webhook key set at the client level'", '{"foo":"bar"}',
        [JSON, ("X-Signature", "07e118b4a9818c9242baf9009e76a78c29aeb015da93f600d514b77185247069")],
        id="body-sha256", secret="hello, world")
    body_mac("patreon", "https://docs.patreon.com/#webhooks", "md5", "X-Patreon-Signature", "hex",
             js({"data": {"type": "member", "id": "0c3d2e1f-member",
                          "attributes": {"patron_status": "active_patron"}}}),
             secret="patreon-webhook-secret", headers=[("X-Patreon-Event", "members:pledge:create")],
             id="body-sha256", type="members:pledge:create")
    body_mac("pulumi", "https://www.pulumi.com/docs/pulumi-cloud/webhooks/", "sha256", "Pulumi-Webhook-Signature",
             "hex", js({"organization": {"githubLogin": "acme"}, "stackName": "prod", "kind": "update"}),
             secret="pulumi-shared-secret",
             headers=[("Pulumi-Webhook-ID", "5d9c7b1e-delivery"), ("Pulumi-Webhook-Kind", "stack_update")],
             id="5d9c7b1e-delivery", type="stack_update")
    body_mac("snyk", "https://docs.snyk.io/snyk-api/using-specific-snyk-apis/webhooks-apis/webhooks", "sha256",
             "X-Hub-Signature", "hex", js({"project": {"id": "p1"}, "org": {"id": "o1"}, "newIssues": []}),
             secret="snyk-webhook-secret", prefix="sha256=", headers=[("X-Snyk-Event", "project_snapshot/v0")],
             id="body-sha256", type="project_snapshot/v0")
    key = bytes.fromhex("6b3f1a9c0d2e4f5a6b7c8d9e0f1a2b3c")
    body_mac("squarespace", "https://developers.squarespace.com/commerce-apis/webhooks/verifying-notifications",
             "sha256", "Squarespace-Signature", "hex",
             js({"id": "d5ac2c3b-notification", "websiteId": "w1", "subscriptionId": "s1",
                 "topic": "order.create", "createdOn": T_RFC, "data": {"orderId": "o1"}}),
             secret=key.hex(), key=key, id="d5ac2c3b-notification", type="order.create")
    body_mac("storyblok", "https://www.storyblok.com/docs/concepts/webhooks", "sha1", "webhook-signature", "hex",
             js({"text": "The user test@example.com published the Story Home", "action": "published",
                 "space_id": 123, "story_id": 456}),
             secret="storyblok-webhook-secret", id="body-sha256", type="published")
    body_mac("surveymonkey", "https://developer.surveymonkey.com/api/v3/#api-endpoints-webhooks", "sha1",
             "Sm-Signature", "base64",
             js({"event_id": "10001", "event_type": "response_completed", "event_datetime": T_RFC,
                 "object_type": "response", "object_id": "r1"}),
             secret="sm-api-key&sm-api-secret", id="10001", type="response_completed")
    body_mac("unit", "https://www.unit.co/docs/api/webhooks/", "sha1", "X-Unit-Signature", "base64",
             js({"data": [{"id": "1", "type": "customer.created"}]}), secret="unit-webhook-secret",
             id="body-sha256")
    add("viber", "official: viber-bot-python tests/api/test_api.py, test_verify_signature",
        '{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}',
        [JSON, ("X-Viber-Content-Signature", "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef")],
        id="body-sha256", type="webhook", secret="44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3")
    body_mac("viber", "https://developers.viber.com/docs/api/rest-bot-api/#callbacks", "sha256",
             "X-Viber-Content-Signature", "hex",
             js({"event": "delivered", "timestamp": T_MS, "message_token": 4912661846655238145, "user_id": "u1"}),
             secret="viber-auth-token", id="body-sha256", type="delivered")
    add("xendit", docs("https://docs.xendit.co/docs/handling-webhooks"),
        js({"id": "inv_1", "external_id": "order-1", "status": "PAID"}),
        [JSON, ("webhook-id", "whk_d8e9f0"), ("x-callback-token", "xendit-verification-token")],
        id="whk_d8e9f0", secret="xendit-verification-token")


if __name__ == "__main__":
    official()
    constructed()
    timestamped()
    catalogue_150()
    mercadopago()
    twilio_rules()
    atlassian_connect()
    google_pubsub()
    dropbox_sign()
    paddle_classic()
    target = Path(__file__).resolve().parent.parent / "src" / "presets" / "vectors.toml"
    write(target)
    print(f"wrote {len(VECTORS)} deliveries for {len({v['preset'] for v in VECTORS})} presets to {target}",
          file=sys.stderr)
