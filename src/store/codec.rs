//! The records the store keeps, and how they are written to disk: postcard (a compact, stable serde
//! format), behind a one-byte format version so that a later layout can still read old files.
//!
//! Decoding never trusts the bytes: a record that does not decode is an error naming the table, never
//! a panic (the `store_record` fuzz target feeds it arbitrary bytes).

use serde::{Deserialize, Serialize};

/// The layout written by this version.
pub const VERSION: u8 = 1;

/// Why stored bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored {what} record cannot be read ({why}); the store file may be damaged")]
pub struct DecodeError {
    pub what: &'static str,
    pub why: String,
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs into a Vec cannot fail.
    postcard::to_extend(value, vec![VERSION]).unwrap_or_else(|_| vec![VERSION])
}

pub fn decode<'a, T: Deserialize<'a>>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<T, DecodeError> {
    match bytes.split_first() {
        Some((&VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| DecodeError {
            what,
            why: e.to_string(),
        }),
        Some((v, _)) => Err(DecodeError {
            what,
            why: format!("format version {v}, this build reads {VERSION}"),
        }),
        None => Err(DecodeError {
            what,
            why: "empty".to_string(),
        }),
    }
}

/// What the vendor sent and what is forwarded, written once when the event is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub route: String,
    pub id: String,
    pub kind: Option<String>,
    pub received_ms: u64,
    pub request_id: String,
    pub client: String,
    /// The request's headers as received (names lower-case).
    #[serde(with = "byte_values")]
    pub headers: Vec<(String, Vec<u8>)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    pub envelope: EnvelopeRecord,
}

/// The request body the upstream receives and the headers that describe it (the CloudEvents
/// envelope, built from the verified delivery when it was accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeRecord {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// Header values as byte strings. postcard writes a byte string exactly as it writes a sequence of
/// `u8` (a length, then the bytes), so files written before either way read the same; writing them as
/// a sequence costs a call per byte.
mod byte_values {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(v: &[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(name, value)| (name, Bytes::new(value))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, Vec<u8>)>, D::Error> {
        let pairs = Vec::<(String, ByteBuf)>::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(name, value)| (name, value.into_vec()))
            .collect())
    }
}

/// Where a stored event's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum State {
    /// Waiting for its next attempt (its first, or a retry).
    Queued,
    Delivered,
    /// Given up on; replayed only when asked.
    Dead,
}

impl State {
    pub const NAMES: &'static [&'static str] = &["queued", "delivered", "dead"];

    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        match text {
            "queued" => Some(State::Queued),
            "delivered" => Some(State::Delivered),
            "dead" => Some(State::Dead),
            _ => None,
        }
    }
}

/// The small, changing part of an event: what the event list shows without reading the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub route: String,
    pub id: String,
    pub kind: Option<String>,
    pub received_ms: u64,
    pub state: State,
    pub attempts: u32,
    /// When the next attempt is due (queued events).
    pub next_ms: Option<u64>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_ms: Option<u64>,
    pub dead_reason: Option<String>,
    /// Times the event was replayed by hand.
    pub replays: u32,
}

impl Summary {
    /// The summary of a newly accepted event: queued, due at once, never attempted.
    pub fn queued(record: &EventRecord) -> Summary {
        Summary {
            route: record.route.clone(),
            id: record.id.clone(),
            kind: record.kind.clone(),
            received_ms: record.received_ms,
            state: State::Queued,
            attempts: 0,
            next_ms: Some(record.received_ms),
            last_status: None,
            last_error: None,
            delivered_ms: None,
            dead_reason: None,
            replays: 0,
        }
    }
}

/// One delivery attempt and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: u64,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_us: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Delivered,
    Retry { at_ms: u64 },
    Dead { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            route: "stripe".into(),
            id: "evt_1".into(),
            kind: Some("invoice.paid".into()),
            received_ms: 1_700_000_000_000,
            state: State::Queued,
            attempts: 2,
            next_ms: Some(1_700_000_005_000),
            last_status: Some(503),
            last_error: None,
            delivered_ms: None,
            dead_reason: None,
            replays: 0,
        }
    }

    /// The event record as it was derived before its bytes were written as byte strings: files
    /// written then must read the same.
    #[derive(Serialize)]
    struct EventBefore {
        route: String,
        id: String,
        kind: Option<String>,
        received_ms: u64,
        request_id: String,
        client: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
        envelope: EnvelopeBefore,
    }

    #[derive(Serialize)]
    struct EnvelopeBefore {
        content_type: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    #[test]
    fn an_event_is_written_byte_for_byte_as_before_and_reads_back() {
        // Bytes that are not UTF-8, and a body long enough that its length takes two varint bytes.
        let body: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let record = EventRecord {
            route: "stripe".into(),
            id: "evt_1".into(),
            kind: None,
            received_ms: 1_700_000_000_000,
            request_id: "req_1".into(),
            client: "127.0.0.1".into(),
            headers: vec![("x-raw".into(), vec![0xff, 0, 0x80]), ("a".into(), vec![])],
            body: body.clone(),
            envelope: EnvelopeRecord {
                content_type: "application/cloudevents+json".into(),
                headers: vec![("ce-id".into(), "evt_1".into())],
                body: body[..200].to_vec(),
            },
        };
        let before = EventBefore {
            route: record.route.clone(),
            id: record.id.clone(),
            kind: None,
            received_ms: record.received_ms,
            request_id: record.request_id.clone(),
            client: record.client.clone(),
            headers: record.headers.clone(),
            body: record.body.clone(),
            envelope: EnvelopeBefore {
                content_type: record.envelope.content_type.clone(),
                headers: record.envelope.headers.clone(),
                body: record.envelope.body.clone(),
            },
        };
        let mut old = vec![VERSION];
        old.extend(postcard::to_stdvec(&before).unwrap());
        let new = encode(&record);
        assert_eq!(new, old);
        assert_eq!(decode::<EventRecord>("event", &old).unwrap(), record);
        for cut in 1..new.len() {
            assert!(
                decode::<EventRecord>("event", &new[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn records_round_trip_and_damaged_bytes_are_errors() {
        let s = summary();
        let bytes = encode(&s);
        assert_eq!(decode::<Summary>("summary", &bytes).unwrap(), s);
        assert!(decode::<Summary>("summary", &[]).is_err());
        assert!(
            decode::<Summary>("summary", &[9, 1, 2])
                .unwrap_err()
                .why
                .contains("version 9")
        );
        for cut in 1..bytes.len() {
            assert!(
                decode::<Summary>("summary", &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
