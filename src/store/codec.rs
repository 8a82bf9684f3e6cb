//! The records the store keeps, and how they are written to disk: postcard (a compact, stable serde
//! format), behind a one-byte layout version per record kind, so that a later layout can still read
//! old files and a change to one kind leaves the others readable by earlier builds.
//!
//! Decoding never trusts the bytes: a record that does not decode is an error naming the table, never
//! a panic (the `store_record` fuzz target feeds it arbitrary bytes).

use serde::{Deserialize, Serialize};

/// Why stored bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored {what} record cannot be read ({why}); the store file may be damaged")]
pub struct DecodeError {
    pub what: &'static str,
    pub why: String,
}

/// A record kind the store keeps, each with a layout version of its own, so that a change to one
/// kind leaves the others readable by earlier builds.
pub trait Record: Serialize + serde::de::DeserializeOwned {
    /// The layout this build writes.
    const VERSION: u8 = 1;

    /// Reads an earlier layout of the kind, if `version` is one.
    fn decode_earlier(version: u8, bytes: &[u8]) -> Option<Result<Self, postcard::Error>> {
        let _ = (version, bytes);
        None
    }
}

impl Record for Summary {}
impl Record for Attempt {}

pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    // Serializing these plain structs into a Vec cannot fail.
    postcard::to_extend(value, vec![T::VERSION]).unwrap_or_else(|_| vec![T::VERSION])
}

pub fn decode<T: Record>(what: &'static str, bytes: &[u8]) -> Result<T, DecodeError> {
    let failed = |e: postcard::Error| DecodeError {
        what,
        why: e.to_string(),
    };
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(DecodeError {
            what,
            why: "empty".to_string(),
        });
    };
    if version == T::VERSION {
        return postcard::from_bytes(rest).map_err(failed);
    }
    match T::decode_earlier(version, rest) {
        Some(read) => read.map_err(failed),
        None => Err(DecodeError {
            what,
            why: format!(
                "format version {version}, which this build does not read (it writes {})",
                T::VERSION
            ),
        }),
    }
}

/// What the vendor sent and what is forwarded, written once when the event is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub route: String,
    pub id: String,
    pub kind: Option<String>,
    pub received_ms: u64,
    pub request_id: String,
    pub client: String,
    /// The request's headers as received (names lower-case).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub envelope: EnvelopeRecord,
}

/// The event record as version 1 wrote it: the envelope's body in full, though it holds the vendor's
/// body (spliced into the CloudEvents document, or as it is in raw mode).
#[derive(Deserialize)]
struct EventV1 {
    head: Head,
    envelope: EnvelopeRecord,
}

/// The fields both layouts begin with, as read back. postcard writes a nested struct as its fields
/// one after another, so reading them as one struct reads the same bytes.
#[derive(Deserialize)]
struct Head {
    route: String,
    id: String,
    kind: Option<String>,
    received_ms: u64,
    request_id: String,
    client: String,
    #[serde(with = "byte_values")]
    headers: Vec<(String, Vec<u8>)>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

impl Head {
    fn with(self, envelope: EnvelopeRecord) -> EventRecord {
        EventRecord {
            route: self.route,
            id: self.id,
            kind: self.kind,
            received_ms: self.received_ms,
            request_id: self.request_id,
            client: self.client,
            headers: self.headers,
            body: self.body,
            envelope,
        }
    }
}

/// Version 2 writes the envelope's body as `EnvelopeBody` (not repeating the vendor's body) and reads
/// version 1.
impl Record for EventRecord {
    const VERSION: u8 = 2;

    fn decode_earlier(version: u8, bytes: &[u8]) -> Option<Result<Self, postcard::Error>> {
        (version == 1).then(|| Self::from_v1(bytes))
    }
}

impl EventRecord {
    fn from_v1(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let e: EventV1 = postcard::from_bytes(bytes)?;
        Ok(e.head.with(e.envelope))
    }
}

/// How version 2 writes an envelope's body: when it ends with the vendor's body (leading and
/// trailing blanks aside) followed by at most `SPLICE_TAIL` bytes, as both envelope modes build it,
/// only the bytes around that copy are written. An event's largest field is then written once, not
/// twice: fewer pages for each commit to write and fsync.
#[derive(Serialize, Deserialize)]
enum EnvelopeBody<B> {
    Whole(B),
    /// `before`, then the vendor's body from byte `from` to byte `to`, then `after`.
    Around {
        before: B,
        from: u32,
        to: u32,
        after: B,
    },
}

/// Where `SPLICE_TAIL` bytes at most may follow the vendor's body in an envelope (the structured
/// mode's closing brace).
const SPLICE_TAIL: usize = 8;

/// The body's bytes the envelope repeats: its range in the body, and the envelope's bytes before
/// and after that copy.
fn splice<'a>(body: &[u8], envelope: &'a [u8]) -> Option<(u32, u32, &'a [u8], &'a [u8])> {
    let inner = body.trim_ascii();
    if inner.len() < 64 || envelope.len() < inner.len() {
        return None;
    }
    let from = inner.as_ptr() as usize - body.as_ptr() as usize;
    let to = from + inner.len();
    (0..=SPLICE_TAIL.min(envelope.len().saturating_sub(inner.len()))).find_map(|tail| {
        let end = envelope.len() - tail;
        let start = end - inner.len();
        (&envelope[start..end] == inner).then(|| {
            Some((
                u32::try_from(from).ok()?,
                u32::try_from(to).ok()?,
                &envelope[..start],
                &envelope[end..],
            ))
        })?
    })
}

/// An event record as version 2 writes it (the same fields as version 1, the envelope's body as
/// `EnvelopeBody`).
#[derive(Serialize)]
struct StoredEvent<'a> {
    route: &'a str,
    id: &'a str,
    kind: Option<&'a str>,
    received_ms: u64,
    request_id: &'a str,
    client: &'a str,
    #[serde(with = "byte_values")]
    headers: &'a [(String, Vec<u8>)],
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
    content_type: &'a str,
    envelope_headers: &'a [(String, String)],
    envelope_body: EnvelopeBody<&'a serde_bytes::Bytes>,
}

/// `StoredEvent` as read back.
#[derive(Deserialize)]
struct ReadEvent {
    head: Head,
    content_type: String,
    envelope_headers: Vec<(String, String)>,
    envelope_body: EnvelopeBody<serde_bytes::ByteBuf>,
}

impl Serialize for EventRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let env = &self.envelope.body;
        let envelope_body = match splice(&self.body, env) {
            Some((from, to, before, after)) => EnvelopeBody::Around {
                before: serde_bytes::Bytes::new(before),
                from,
                to,
                after: serde_bytes::Bytes::new(after),
            },
            None => EnvelopeBody::Whole(serde_bytes::Bytes::new(env)),
        };
        StoredEvent {
            route: &self.route,
            id: &self.id,
            kind: self.kind.as_deref(),
            received_ms: self.received_ms,
            request_id: &self.request_id,
            client: &self.client,
            headers: &self.headers,
            body: &self.body,
            content_type: &self.envelope.content_type,
            envelope_headers: &self.envelope.headers,
            envelope_body,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventRecord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let e = ReadEvent::deserialize(d)?;
        let body = match e.envelope_body {
            EnvelopeBody::Whole(b) => b.into_vec(),
            EnvelopeBody::Around {
                before,
                from,
                to,
                after,
            } => {
                let copied = (e.head.body)
                    .get(from as usize..to as usize)
                    .ok_or_else(|| serde::de::Error::custom("envelope splice out of the body"))?;
                let mut b = Vec::with_capacity(before.len() + copied.len() + after.len());
                b.extend_from_slice(&before);
                b.extend_from_slice(copied);
                b.extend_from_slice(&after);
                b
            }
        };
        Ok(e.head.with(EnvelopeRecord {
            content_type: e.content_type,
            headers: e.envelope_headers,
            body,
        }))
    }
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

    /// The event record as version 1 derived it (and as it was derived before its bytes were
    /// written as byte strings, which postcard writes the same): files written then must read the same.
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

    /// An event whose envelope is built as `envelope::build` builds one: the body, blanks trimmed,
    /// spliced in before a closing brace; bytes that are not UTF-8 in a header, and a body long
    /// enough that its length takes two varint bytes.
    fn record(body: &[u8], envelope: Vec<u8>) -> EventRecord {
        EventRecord {
            route: "stripe".into(),
            id: "evt_1".into(),
            kind: None,
            received_ms: 1_700_000_000_000,
            request_id: "req_1".into(),
            client: "127.0.0.1".into(),
            headers: vec![("x-raw".into(), vec![0xff, 0, 0x80]), ("a".into(), vec![])],
            body: body.to_vec(),
            envelope: EnvelopeRecord {
                content_type: "application/cloudevents+json".into(),
                headers: vec![("ce-id".into(), "evt_1".into())],
                body: envelope,
            },
        }
    }

    fn v1(record: &EventRecord) -> Vec<u8> {
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
        let mut old = vec![1];
        old.extend(postcard::to_stdvec(&before).unwrap());
        old
    }

    fn json_body() -> Vec<u8> {
        format!(" {{\"id\":\"evt_1\",\"pad\":\"{}\"}}\n", "x".repeat(300)).into_bytes()
    }

    fn structured(body: &[u8]) -> Vec<u8> {
        [
            b"{\"specversion\":\"1.0\",\"data\":".as_slice(),
            body.trim_ascii(),
            b"}",
        ]
        .concat()
    }

    #[test]
    fn an_event_written_by_version_1_reads_the_same() {
        let body = json_body();
        for envelope in [structured(&body), body.clone(), b"other".to_vec()] {
            let r = record(&body, envelope);
            assert_eq!(decode::<EventRecord>("event", &v1(&r)).unwrap(), r);
        }
    }

    #[test]
    fn an_envelope_repeating_the_body_is_written_without_the_copy_and_reads_back_whole() {
        let body = json_body();
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let cases = [
            // (vendor body, envelope, whether the copy is left out)
            (body.clone(), structured(&body), true),
            (body.clone(), body.clone(), true),
            (bytes.clone(), bytes.clone(), true),
            // The body's bytes, but not where the envelope modes put them: written whole.
            (
                body.clone(),
                [structured(&body), vec![b' '; 9]].concat(),
                false,
            ),
            (body.clone(), b"{}".to_vec(), false),
            (
                b"{\"short\":1}".to_vec(),
                b"{\"data\":{\"short\":1}}".to_vec(),
                false,
            ),
        ];
        for (body, envelope, spliced) in cases {
            let r = record(&body, envelope);
            let new = encode(&r);
            let old = v1(&r);
            assert_eq!(new[0], 2);
            let saved = old.len() as i64 - new.len() as i64;
            if spliced {
                assert!(saved >= body.trim_ascii().len() as i64 - 8, "{saved}");
            } else {
                assert!(saved.abs() <= 12, "{saved}");
            }
            assert_eq!(decode::<EventRecord>("event", &new).unwrap(), r);
            for cut in 1..new.len() {
                assert!(
                    decode::<EventRecord>("event", &new[..cut]).is_err(),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_splice_outside_the_body_is_an_error_not_a_panic() {
        let body = json_body();
        let mut bytes = encode(&record(&body, structured(&body)));
        // The body's length is a two-byte varint (300+ bytes); `to` is the varint just before the
        // envelope's tail (`}`, a length of 1 then the byte): make it point past the body.
        let n = bytes.len();
        assert_eq!(&bytes[n - 2..], b"\x01}");
        let to = &mut bytes[n - 4..n - 2];
        assert!(to[0] & 0x80 != 0 && to[1] & 0x80 == 0, "{to:?}");
        // One byte less of the body is still a record (the bytes are well formed)...
        to[0] -= 1;
        let shorter = decode::<EventRecord>("event", &bytes).unwrap();
        assert_eq!(shorter.envelope.body.len(), structured(&body).len() - 1);
        // ...512 bytes more is past the body's end.
        bytes[n - 3] += 4;
        let e = decode::<EventRecord>("event", &bytes).unwrap_err();
        assert_eq!(e.what, "event");
        let mut other = bytes.clone();
        other[0] = 3;
        assert!(
            decode::<EventRecord>("event", &other)
                .unwrap_err()
                .why
                .contains("version 3")
        );
    }

    #[test]
    fn records_round_trip_and_damaged_bytes_are_errors() {
        let s = summary();
        let bytes = encode(&s);
        // Summaries kept the layout of version 1, so that builds before events' version 2 read them.
        assert_eq!(bytes[0], 1);
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
