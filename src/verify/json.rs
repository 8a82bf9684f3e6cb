//! One pass over a JSON body: checks that it is one well-formed JSON document and pulls out the handful
//! of values a route names by JSON pointer (event id, type, time, signed timestamp).
//!
//! Nothing else is materialized: subtrees that no pointer enters are skipped with `IgnoredAny`, keys are
//! compared without being copied, and only the matched scalars are turned into strings. serde_json's
//! recursion limit bounds the nesting depth, so hostile bodies cannot exhaust the stack.

use super::source::Pointer;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Validates `body` as a single JSON document and returns, for each pointer, the value it names:
/// strings unescaped, numbers and booleans as their JSON text, arrays as their number of elements,
/// objects and null as `None`.
pub fn scan(body: &[u8], pointers: &[&Pointer]) -> Result<Vec<Option<String>>, serde_json::Error> {
    assert!(
        pointers.len() <= MAX_POINTERS,
        "at most {MAX_POINTERS} pointers per scan"
    );
    let mut found = vec![None; pointers.len()];
    let wanted = if pointers.len() == MAX_POINTERS {
        u64::MAX
    } else {
        (1u64 << pointers.len()) - 1
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    Node {
        pointers,
        wanted,
        depth: 0,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// A scan follows at most this many pointers (a set of them is a bit mask).
pub const MAX_POINTERS: usize = 64;

/// The pointers, as a bit mask over their indexes, whose token at `depth` is `token`.
fn continuing(pointers: &[&Pointer], wanted: u64, depth: usize, token: &str) -> u64 {
    let mut next = 0;
    let mut rest = wanted;
    while rest != 0 {
        let i = rest.trailing_zeros() as usize;
        rest &= rest - 1;
        if pointers[i].tokens().get(depth).map(String::as_str) == Some(token) {
            next |= 1 << i;
        }
    }
    next
}

/// The walker at one position in the document: `wanted` are the pointers (a bit mask of indexes) whose
/// first `depth` tokens lead here.
struct Node<'a, 'p> {
    pointers: &'a [&'p Pointer],
    wanted: u64,
    depth: usize,
    found: &'a mut [Option<String>],
}

impl Node<'_, '_> {
    /// The pointers (a bit mask) that end at this position.
    fn ending_here(&self) -> u64 {
        let mut ending = 0;
        let mut rest = self.wanted;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if self.pointers[i].tokens().len() == self.depth {
                ending |= 1 << i;
            }
        }
        ending
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.wanted == 0 {
            d.deserialize_ignored_any(IgnoredAny)?;
            return Ok(());
        }
        let ending = self.ending_here();
        if ending == 0 {
            return d.deserialize_any(self);
        }
        // A named value is read as its raw text, so a number keeps every digit it was written with
        // (an id of 2^64 or more would otherwise be rounded through f64).
        let raw = <&RawValue>::deserialize(d)?;
        let text = raw.get().trim_ascii();
        let value = leaf(text).map_err(de::Error::custom)?;
        let mut rest = ending;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            self.found[i] = value.clone();
        }
        let deeper = self.wanted & !ending;
        if deeper != 0 {
            // Other pointers go on inside this value (`/list` and `/list/0/id`): walk its text too.
            let mut inner = serde_json::Deserializer::from_str(text);
            Node {
                wanted: deeper,
                ..self
            }
            .deserialize(&mut inner)
            .map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// What a pointer that names this raw JSON value reports: strings unescaped, numbers and booleans as
/// their JSON text exactly as written, arrays as their number of elements, objects and null as `None`.
fn leaf(text: &str) -> Result<Option<String>, serde_json::Error> {
    Ok(match text.as_bytes().first() {
        Some(b'"') => {
            let inner = &text[1..text.len() - 1];
            if inner.contains('\\') {
                Some(serde_json::from_str::<String>(text)?)
            } else {
                Some(inner.to_string())
            }
        }
        Some(b'[') => Some(
            serde_json::from_str::<Vec<IgnoredAny>>(text)?
                .len()
                .to_string(),
        ),
        Some(b'{' | b'n') | None => None,
        Some(_) => Some(text.to_string()),
    })
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // Scalars are only met here where no pointer ends (those are read raw), so they are skipped.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Node {
            pointers,
            wanted,
            depth,
            found,
        } = self;
        while let Some(next) = map.next_key_seed(KeyMatch {
            pointers,
            wanted,
            depth,
        })? {
            map.next_value_seed(Node {
                pointers,
                wanted: next,
                depth: depth + 1,
                found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        let mut buf = [0u8; 20];
        loop {
            let next = continuing(
                self.pointers,
                self.wanted,
                self.depth,
                index_text(&mut buf, index),
            );
            let node = Node {
                pointers: self.pointers,
                wanted: next,
                depth: self.depth + 1,
                found: &mut *self.found,
            };
            if seq.next_element_seed(node)?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(())
    }
}

/// `index` in decimal, written into `buf` without allocating.
fn index_text(buf: &mut [u8; 20], mut index: usize) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (index % 10) as u8;
        index /= 10;
        if index == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// Reads one object key and answers which pointers continue through it, without copying the key.
struct KeyMatch<'a, 'p> {
    pointers: &'a [&'p Pointer],
    wanted: u64,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_, '_> {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_, '_> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<u64, E> {
        Ok(continuing(self.pointers, self.wanted, self.depth, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_one(body: &str, pointer: &str) -> Result<Option<String>, String> {
        let p = Pointer::parse(pointer).unwrap();
        scan(body.as_bytes(), &[&p])
            .map(|mut v| v.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn extracts_scalars_by_pointer() {
        let body = r#"{"id":"evt_1","n":42,"f":1.5,"b":true,"z":null,
            "data":{"object":{"id":"pi_\u00e9"}},"list":[{"x":1},{"x":"second"}],"a/b":"slash",
            "big":123456789012345678901,"u64max1":18446744073709551616,"e":1e3,"one":1.0,"esc":"a\"b"}"#;
        let cases: &[(&str, Option<&str>)] = &[
            ("/id", Some("evt_1")),
            ("/n", Some("42")),
            ("/f", Some("1.5")),
            // Numbers are their text as written: no rounding through f64, no reformatting.
            ("/big", Some("123456789012345678901")),
            ("/u64max1", Some("18446744073709551616")),
            ("/e", Some("1e3")),
            ("/one", Some("1.0")),
            ("/esc", Some("a\"b")),
            ("/b", Some("true")),
            ("/z", None),
            ("/data/object/id", Some("pi_é")),
            ("/data", None),
            ("/list", Some("2")),
            ("/list/1/x", Some("second")),
            ("/list/7/x", None),
            ("/a~1b", Some("slash")),
            ("/missing", None),
        ];
        for (pointer, want) in cases {
            assert_eq!(
                scan_one(body, pointer).unwrap().as_deref(),
                *want,
                "{pointer}"
            );
        }
    }

    #[test]
    fn several_pointers_in_one_pass() {
        let (a, b, c) = (
            Pointer::parse("/id").unwrap(),
            Pointer::parse("/type").unwrap(),
            Pointer::parse("/data/t").unwrap(),
        );
        let got = scan(br#"{"type":"x.y","data":{"t":5},"id":"1"}"#, &[&a, &b, &c]).unwrap();
        assert_eq!(
            got,
            [Some("1".into()), Some("x.y".into()), Some("5".into())]
        );
    }

    #[test]
    fn rejects_what_is_not_one_json_document() {
        for body in [
            "",
            "{",
            "{\"a\":1} trailing",
            "{\"a\":1}{}",
            "nul",
            "{'a':1}",
            "\u{1}",
        ] {
            assert!(scan_one(body, "/a").is_err(), "{body:?} should be rejected");
        }
    }

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_passes_when_broken() {
        // Subtrees no pointer enters are skipped without recursion, so depth costs no stack.
        let arrays = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(scan_one(&arrays, "/0/0").unwrap().as_deref(), Some("1"));
        let unbalanced = "[".repeat(100_000) + &"]".repeat(99_999);
        assert!(scan_one(&unbalanced, "/0").is_err());
        let objects = "{\"a\":".repeat(50_000) + "1" + &"}".repeat(50_000);
        assert_eq!(scan_one(&objects, "/a/b").unwrap(), None);
    }

    #[test]
    fn the_empty_key_is_a_token_of_its_own() {
        assert_eq!(
            scan_one(r#"{"":"e","a":1}"#, "/").unwrap().as_deref(),
            Some("e")
        );
    }

    mod properties {
        //! The scan against serde_json's own reading of the same document.
        use super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                (-1.0e6f64..1.0e6).prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z/~0-9]{0,4}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// Every pointer to a value inside `v`.
        fn paths(v: &Value, here: String, out: &mut Vec<String>) {
            out.push(here.clone());
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        paths(item, format!("{here}/{i}"), out);
                    }
                }
                Value::Object(map) => {
                    for (k, item) in map {
                        let token = k.replace('~', "~0").replace('/', "~1");
                        paths(item, format!("{here}/{token}"), out);
                    }
                }
                _ => {}
            }
        }

        /// What `scan` reports for a value, by its documented rules.
        fn expected(v: Option<&Value>) -> Option<String> {
            match v? {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                // The text serde_json wrote it with, which `scan` returns as written.
                Value::Number(n) => Some(n.to_string()),
                Value::Array(items) => Some(items.len().to_string()),
                Value::Object(_) | Value::Null => None,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            #[test]
            fn agrees_with_serde_json_on_every_path(v in value(), pretty in any::<bool>()) {
                let text = if pretty {
                    serde_json::to_string_pretty(&v).unwrap()
                } else {
                    serde_json::to_string(&v).unwrap()
                };
                let mut all = Vec::new();
                paths(&v, String::new(), &mut all);
                all.retain(|p| !p.is_empty());
                all.push("/not-there".to_string());
                all.truncate(MAX_POINTERS);
                let pointers: Vec<Pointer> = all.iter().map(|p| Pointer::parse(p).unwrap()).collect();
                let refs: Vec<&Pointer> = pointers.iter().collect();
                let got = scan(text.as_bytes(), &refs).unwrap();
                for (p, g) in all.iter().zip(got) {
                    prop_assert_eq!(g, expected(v.pointer(p)), "pointer {} in {}", p, text);
                }
            }

            #[test]
            fn accepts_exactly_what_serde_json_accepts(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
                let p = Pointer::parse("/a").unwrap();
                let ours = scan(&bytes, &[&p]).is_ok();
                let theirs = serde_json::from_slice::<Value>(&bytes).is_ok();
                prop_assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}
