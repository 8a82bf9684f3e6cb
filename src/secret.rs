//! `Secret`: key material that must never be printed.
//!
//! Every secret the gateway holds (vendor signing secrets, the upstream signing secret, shared tokens)
//! lives in this type from the moment it is read out of the configuration. `Debug` and `Display` redact,
//! and the bytes are zeroed when the value is dropped. This module knows nothing about where secrets
//! come from (see `config`) or how they are used (see `verify`).

use std::fmt;
use zeroize::Zeroize;

/// Bytes that are redacted whenever they are formatted and wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into().into_boxed_slice())
    }

    /// The raw key bytes. Callers hand them straight to a MAC or comparison; they must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Stands for a secret that was deliberately not read (`hookgate check --no-secrets`): checks of
    /// a secret's contents (its encoding, a key's format, a token's length) pass it over.
    pub fn placeholder() -> Self {
        Secret::new(PLACEHOLDER)
    }

    pub fn is_placeholder(&self) -> bool {
        *self.0 == *PLACEHOLDER
    }
}

/// No environment variable or file yields NUL bytes around text, so no real secret equals this.
const PLACEHOLDER: &[u8] = b"\0hookgate: secret not read\0";

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_bytes() {
        let s = Secret::new(b"hunter2-very-secret".to_vec());
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{s:#?}").contains("hunter2"));
        assert_eq!(s.expose(), b"hunter2-very-secret");
    }
}
