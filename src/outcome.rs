//! The one table: every way a request can end, with its status code, its label (for the JSON reply,
//! the log line and the metrics), the sentence senders see, and who caused it (which picks the log
//! level). Every response the gateway writes is built here by `respond`.
//!
//! This module does not know how outcomes arise; the pipeline converts each step's error into a
//! `Reject` through `From`.

use crate::forward::{ForwardError, Reply};
use crate::learned::LearnError;
use crate::replay::{StillInFlight, WindowError};
use crate::verify::VerifyError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

pub type Body = Full<Bytes>;

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// The upstream answered (any status); its status and small body go back to the vendor.
    Forwarded(Reply),
    /// The event was delivered before; acknowledged and not forwarded.
    Duplicate,
    /// Stored durably (queued mode); the workers deliver it. Carries the event id.
    Accepted(String),
    /// A vendor's endpoint-verification handshake, answered by the gateway itself.
    Handshake(Response<Body>),
    Health,
    Rejected(Reject),
}

/// Who caused a failure; decides the log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Sender,
    Upstream,
    Gateway,
}

/// Every refusal, named by what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("no route is configured for this path")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: HeaderValue },
    #[error("client address {0} is not in the route's allow_ips")]
    Forbidden(std::net::IpAddr),
    #[error("the route's allow_ips is fetched from the vendor, and no fetch has brought it yet")]
    SourcesUnknown,
    #[error("the handshake's verify token does not match the route's")]
    WrongVerifyToken,
    #[error(transparent)]
    SetupSecret(#[from] crate::learned::LearnError),
    #[error("the body is larger than max_body")]
    BodyTooLarge,
    #[error("the body could not be read: {0}")]
    BodyIncomplete(String),
    #[error("the body was not received within the body timeout")]
    BodyTimeout,
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    InFlight(#[from] StillInFlight),
    #[error(transparent)]
    Upstream(#[from] ForwardError),
    #[error("the gateway is at its concurrency limit")]
    Overloaded,
    #[error(
        "this client address holds its whole share of the gateway's places (max_in_flight_per_client)"
    )]
    ClientShare,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(
        "the upstream answered {0}; answered 503 so that the vendor retries (upstream_4xx = \"retry\")"
    )]
    UpstreamRefused(StatusCode),
}

impl From<crate::admission::Full> for Reject {
    fn from(full: crate::admission::Full) -> Reject {
        match full {
            crate::admission::Full::Gateway => Reject::Overloaded,
            crate::admission::Full::Client => Reject::ClientShare,
        }
    }
}

/// What a route's vendor asks of the answers: replacements for the default statuses of a class of
/// rejections (Chameleon asks for 400 on a bad signature), and the text that acknowledges an event
/// (Dropbox Sign retries unless the answer is "Hello API Event Received").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusOverrides {
    pub signature: Option<StatusCode>,
    pub timestamp: Option<StatusCode>,
    pub acknowledgement: Option<Bytes>,
}

impl StatusOverrides {
    /// A route that asks for nothing: the table's statuses and answers.
    pub const NONE: StatusOverrides = StatusOverrides {
        signature: None,
        timestamp: None,
        acknowledgement: None,
    };
}

/// A row of the table.
pub struct Row {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: &'static str,
    pub blame: Blame,
}

const fn row(status: u16, kind: &'static str, message: &'static str, blame: Blame) -> Row {
    let status = match StatusCode::from_u16(status) {
        Ok(s) => s,
        Err(_) => panic!("invalid status in the table"),
    };
    Row {
        status,
        kind,
        message,
        blame,
    }
}

/// Seconds a vendor is asked to wait when the gateway refuses for a passing reason.
pub const RETRY_AFTER_SECS: u64 = 5;

impl Reject {
    /// The table. Defaults follow the vendors' common expectations: 401 for anything wrong with the
    /// signature, 400 for a bad or stale timestamp, 5xx (which every vendor retries) whenever the event
    /// could not be delivered for a reason the sender did not cause.
    pub fn row(&self) -> Row {
        use Blame::*;
        match self {
            Reject::NotFound => row(
                404,
                "not_found",
                "No route is configured for this path.",
                Sender,
            ),
            Reject::MethodNotAllowed { .. } => row(
                405,
                "method_not_allowed",
                "This endpoint accepts webhook deliveries with POST.",
                Sender,
            ),
            Reject::WrongVerifyToken => {
                row(403, "forbidden", "The verify token does not match.", Sender)
            }
            Reject::SetupSecret(LearnError::Taken) => row(
                409,
                "setup_secret_taken",
                "This endpoint already holds a signing secret from an earlier handshake.",
                Sender,
            ),
            Reject::SetupSecret(LearnError::Unfit) => row(
                400,
                "setup_secret_unfit",
                "The handshake's secret is empty, too long or not printable.",
                Sender,
            ),
            Reject::SetupSecret(LearnError::Io(_)) => row(
                503,
                "setup_secret_not_stored",
                "The signing secret could not be stored; retry later.",
                Gateway,
            ),
            Reject::Forbidden(_) => row(
                403,
                "forbidden",
                "This address is not allowed to call this endpoint.",
                Sender,
            ),
            Reject::SourcesUnknown => row(
                503,
                "allow_ips_unavailable",
                "The sender's published source addresses could not be fetched yet; retry later.",
                Gateway,
            ),
            Reject::BodyTooLarge => row(
                413,
                "body_too_large",
                "The request body is larger than this endpoint accepts.",
                Sender,
            ),
            Reject::BodyIncomplete(_) => row(
                400,
                "body_incomplete",
                "The request body could not be read completely.",
                Sender,
            ),
            Reject::BodyTimeout => row(
                408,
                "body_timeout",
                "The request body was not received in time.",
                Sender,
            ),
            Reject::Verify(VerifyError::MissingSignature) => row(
                401,
                "missing_signature",
                "The request carries no signature.",
                Sender,
            ),
            Reject::Verify(VerifyError::MalformedSignature) => row(
                401,
                "malformed_signature",
                "The signature could not be parsed.",
                Sender,
            ),
            Reject::Verify(VerifyError::InvalidSignature) => row(
                401,
                "invalid_signature",
                "The signature does not match the request.",
                Sender,
            ),
            Reject::Verify(VerifyError::KeysUnavailable) => row(
                503,
                "keys_unavailable",
                "The sender's published signing keys could not be fetched yet; retry later.",
                Gateway,
            ),
            Reject::Verify(VerifyError::MissingTimestamp) => row(
                400,
                "missing_timestamp",
                "The signed timestamp is missing.",
                Sender,
            ),
            Reject::Verify(VerifyError::MalformedTimestamp) => row(
                400,
                "malformed_timestamp",
                "The signed timestamp is not a valid time.",
                Sender,
            ),
            Reject::Window(WindowError::Stale) => row(
                400,
                "stale_timestamp",
                "The signed timestamp is too old.",
                Sender,
            ),
            Reject::Window(WindowError::Future) => row(
                400,
                "future_timestamp",
                "The signed timestamp is too far in the future.",
                Sender,
            ),
            Reject::InFlight(_) => row(
                503,
                "in_flight",
                "Another delivery of this event is being forwarded; retry later.",
                Gateway,
            ),
            Reject::Upstream(ForwardError::Unreachable(_)) => row(
                502,
                "upstream_unreachable",
                "The receiving service could not be reached; retry later.",
                Upstream,
            ),
            Reject::Upstream(ForwardError::Broken(_)) => row(
                502,
                "upstream_failed",
                "The receiving service failed to answer; retry later.",
                Upstream,
            ),
            Reject::Upstream(ForwardError::Timeout) => row(
                504,
                "upstream_timeout",
                "The receiving service did not answer in time; retry later.",
                Upstream,
            ),
            Reject::Overloaded => row(
                503,
                "overloaded",
                "The gateway is busy; retry later.",
                Gateway,
            ),
            Reject::Store(crate::store::StoreError::Full) => row(
                503,
                "store_full",
                "The gateway cannot store more events now; retry later.",
                Gateway,
            ),
            Reject::Store(_) => row(
                503,
                "store_unavailable",
                "The gateway cannot store events now; retry later.",
                Gateway,
            ),
            Reject::UpstreamRefused(_) => row(
                503,
                "upstream_rejected",
                "The receiving service refused the event; retry later.",
                Upstream,
            ),
            // 503 rather than 429: some vendors dead-letter an event at its first 4xx.
            Reject::ClientShare => row(
                503,
                "client_overloaded",
                "This sender has too many requests in progress; retry later.",
                Sender,
            ),
        }
    }

    /// The status after the route's overrides.
    pub fn status(&self, overrides: &StatusOverrides) -> StatusCode {
        let over = match self {
            Reject::Verify(
                VerifyError::MissingSignature
                | VerifyError::MalformedSignature
                | VerifyError::InvalidSignature,
            ) => overrides.signature,
            Reject::Verify(VerifyError::MissingTimestamp | VerifyError::MalformedTimestamp)
            | Reject::Window(_) => overrides.timestamp,
            _ => None,
        };
        over.unwrap_or(self.row().status)
    }
}

impl Outcome {
    /// The label used in logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Forwarded(reply) if reply.status.is_success() => "forwarded",
            Outcome::Forwarded(_) => "upstream_refused",
            Outcome::Duplicate => "duplicate",
            Outcome::Accepted(_) => "accepted",
            Outcome::Handshake(_) => "handshake",
            Outcome::Health => "health",
            Outcome::Rejected(r) => r.row().kind,
        }
    }

    pub fn blame(&self) -> Option<Blame> {
        match self {
            Outcome::Forwarded(reply) if !reply.status.is_success() => Some(Blame::Upstream),
            Outcome::Rejected(r) => Some(r.row().blame),
            _ => None,
        }
    }
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `{"error":KIND,"message":SENTENCE}` for a row of the table.
fn rejection_body(row: &Row) -> Vec<u8> {
    let mut body = Vec::with_capacity(96);
    body.extend_from_slice(b"{\"error\":\"");
    body.extend_from_slice(row.kind.as_bytes());
    body.extend_from_slice(b"\",\"message\":");
    // Messages are fixed text from the table, never anything derived from the request.
    let _ = serde_json::to_writer(&mut body, row.message);
    body.push(b'}');
    body
}

/// The overloaded answer as raw HTTP/1.1 bytes, for connections refused before any HTTP is read (over
/// `max_connections`): the same status, body and `Retry-After` as `respond` gives a request.
pub fn overloaded_http1() -> Vec<u8> {
    let row = Reject::Overloaded.row();
    let body = rejection_body(&row);
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\nretry-after: {RETRY_AFTER_SECS}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        row.status.as_u16(),
        row.status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Builds the response for an outcome; the only place responses are made.
pub fn respond(outcome: Outcome, overrides: &StatusOverrides) -> Response<Body> {
    match outcome {
        Outcome::Forwarded(reply)
            if reply.status.is_success() && overrides.acknowledgement.is_some() =>
        {
            acknowledge(reply.status, overrides)
        }
        Outcome::Duplicate | Outcome::Accepted(_) if overrides.acknowledgement.is_some() => {
            acknowledge(StatusCode::OK, overrides)
        }
        Outcome::Forwarded(reply) => {
            let mut resp = Response::new(Full::new(reply.body));
            *resp.status_mut() = reply.status;
            if let Some(ct) = reply.content_type {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp
        }
        Outcome::Duplicate => json(
            StatusCode::OK,
            Bytes::from_static(b"{\"status\":\"duplicate\"}"),
        ),
        Outcome::Accepted(id) => {
            let mut body = Vec::with_capacity(32 + id.len());
            body.extend_from_slice(b"{\"status\":\"accepted\",\"id\":");
            // Writing a &str into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut body, &id);
            body.push(b'}');
            json(StatusCode::OK, Bytes::from(body))
        }
        Outcome::Health => json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}")),
        Outcome::Handshake(resp) => resp,
        Outcome::Rejected(reject) => {
            let body = rejection_body(&reject.row());
            let mut resp = json(reject.status(overrides), Bytes::from(body));
            let headers = resp.headers_mut();
            match reject {
                Reject::MethodNotAllowed { allow } => {
                    headers.insert(header::ALLOW, allow);
                }
                Reject::BodyTooLarge | Reject::BodyTimeout | Reject::BodyIncomplete(_) => {
                    // The rest of the body is not read, so the connection cannot be reused.
                    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Reject::InFlight(_)
                | Reject::Store(_)
                | Reject::UpstreamRefused(_)
                | Reject::SourcesUnknown
                | Reject::Verify(VerifyError::KeysUnavailable) => {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                }
                Reject::Overloaded | Reject::ClientShare => {
                    // The body was not read; closing also sheds the connection while saturated.
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                _ => {}
            }
            resp
        }
    }
}

/// The text the vendor needs to read before it counts an event delivered.
fn acknowledge(status: StatusCode, overrides: &StatusOverrides) -> Response<Body> {
    let text = overrides.acknowledgement.clone().unwrap_or_default();
    let mut resp = Response::new(Full::new(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, JSON);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(resp: Response<Body>) -> serde_json::Value {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn rejections_answer_a_small_fixed_json_body() {
        let resp = respond(
            Outcome::Rejected(Reject::Verify(VerifyError::InvalidSignature)),
            &StatusOverrides::default(),
        );
        assert_eq!(resp.status(), 401);
        let body = body_of(resp).await;
        assert_eq!(body["error"], "invalid_signature");
        assert_eq!(body["message"], "The signature does not match the request.");
    }

    #[test]
    fn route_overrides_apply_to_their_class_only() {
        let o = StatusOverrides {
            signature: Some(StatusCode::BAD_REQUEST),
            timestamp: Some(StatusCode::UNPROCESSABLE_ENTITY),
            acknowledgement: None,
        };
        let cases = [
            (Reject::Verify(VerifyError::InvalidSignature), 400),
            (Reject::Verify(VerifyError::MissingSignature), 400),
            (Reject::Window(WindowError::Stale), 422),
            (Reject::Verify(VerifyError::MissingTimestamp), 422),
            (Reject::NotFound, 404),
            (Reject::Upstream(ForwardError::Timeout), 504),
        ];
        for (reject, want) in cases {
            assert_eq!(reject.status(&o).as_u16(), want, "{reject:?}");
        }
    }

    #[test]
    fn every_kind_is_distinct() {
        let all = [
            Reject::NotFound,
            Reject::MethodNotAllowed {
                allow: HeaderValue::from_static("POST"),
            },
            Reject::Forbidden([127, 0, 0, 1].into()),
            Reject::SourcesUnknown,
            Reject::BodyTooLarge,
            Reject::BodyIncomplete(String::new()),
            Reject::BodyTimeout,
            Reject::Verify(VerifyError::MissingSignature),
            Reject::Verify(VerifyError::MalformedSignature),
            Reject::Verify(VerifyError::InvalidSignature),
            Reject::Verify(VerifyError::MissingTimestamp),
            Reject::Verify(VerifyError::MalformedTimestamp),
            Reject::Window(WindowError::Stale),
            Reject::Window(WindowError::Future),
            Reject::InFlight(StillInFlight),
            Reject::Upstream(ForwardError::Unreachable(String::new())),
            Reject::Upstream(ForwardError::Broken(String::new())),
            Reject::Upstream(ForwardError::Timeout),
            Reject::Overloaded,
            Reject::ClientShare,
            Reject::Store(crate::store::StoreError::Full),
            Reject::Store(crate::store::StoreError::Closed),
            Reject::UpstreamRefused(StatusCode::NOT_FOUND),
        ];
        let mut kinds: Vec<_> = all.iter().map(|r| r.row().kind).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), all.len());
    }

    #[tokio::test]
    async fn retryable_refusals_say_when_to_retry() {
        let resp = respond(
            Outcome::Rejected(Reject::InFlight(StillInFlight)),
            &StatusOverrides::default(),
        );
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
        let resp = respond(
            Outcome::Rejected(Reject::MethodNotAllowed {
                allow: HeaderValue::from_static("GET, POST"),
            }),
            &StatusOverrides::default(),
        );
        assert_eq!(resp.headers()[header::ALLOW], "GET, POST");
    }
}
