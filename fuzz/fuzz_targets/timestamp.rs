//! Timestamp parsing: any text parses to a time or to nothing, never a panic; a time that parses
//! prints and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Some(t) = hookgate::verify::timestamp::parse(text) {
        let again = hookgate::verify::timestamp::parse(&t.to_string());
        assert_eq!(again, Some(t), "{text:?} -> {t}");
    }
});
