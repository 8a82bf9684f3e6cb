//! The configuration loader: any text is a configuration or a list of located errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let env = |name: &str| (name == "SET").then(|| "value".to_string());
    match hookgate::config::parse("fuzz.toml", text, &env) {
        Ok(_) => {}
        Err(errors) => assert!(!errors.to_string().is_empty()),
    }
});
