//! The one-pass JSON scan: for any bytes and pointers it answers or refuses, never panics, accepts
//! exactly what serde_json accepts, and finds the same strings serde_json finds.
#![no_main]

use arbitrary::Arbitrary;
use hookgate::verify::Pointer;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    pointers: Vec<String>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let pointers: Vec<Pointer> = input
        .pointers
        .iter()
        .take(8)
        .filter_map(|p| Pointer::parse(p).ok())
        .collect();
    let refs: Vec<&Pointer> = pointers.iter().collect();
    let ours = hookgate::verify::json::scan(&input.body, &refs);
    // serde_json's Value has a recursion limit of 128 that the scan does not need; compare only
    // documents it can read.
    let theirs = serde_json::from_slice::<serde_json::Value>(&input.body);
    match (&ours, &theirs) {
        (Ok(found), Ok(value)) => {
            for (p, got) in pointers.iter().zip(found) {
                if let Some(serde_json::Value::String(s)) = value.pointer(p.text()) {
                    assert_eq!(got.as_deref(), Some(s.as_str()), "pointer {}", p.text());
                }
            }
        }
        (Err(_), Ok(_)) => panic!("scan refused a document serde_json reads"),
        _ => {}
    }
});
