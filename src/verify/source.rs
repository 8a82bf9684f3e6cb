//! Where a value lives in a delivery: a header, a JSON pointer into the body, or a field of a composite
//! signature header. Parsed once from the configuration's `"header:NAME"`, `"body:/ptr"` and
//! `"signature:KEY"` strings.

use http::HeaderName;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A request header; the first value is used.
    Header(HeaderName),
    /// A JSON pointer (RFC 6901) into the body.
    Body(Pointer),
    /// A `key=value` field of the signature header (for example Stripe's `t`).
    Signature(String),
    /// A query-string parameter (for vendors that put ids or tokens in the URL they call).
    Query(String),
    /// A field of a form-encoded body (Mailgun's legacy posts, Gitea's form payload); absent when
    /// the body is not a form.
    Form(String),
    /// A claim of the JSON Web Token the vendor signed with (`jwt:iat`).
    Claim(String),
}

impl Source {
    /// Parses the configuration syntax. The error is a sentence fit for a config message.
    pub fn parse(text: &str) -> Result<Source, String> {
        let (kind, rest) = text.split_once(':').ok_or_else(|| {
            format!(
                "\"{text}\" is not a source; write \"header:NAME\", \"body:/json/pointer\", \"signature:KEY\", \"query:NAME\" or \"jwt:CLAIM\""
            )
        })?;
        match kind {
            "header" => HeaderName::from_bytes(rest.trim().as_bytes())
                .map(Source::Header)
                .map_err(|_| format!("\"{rest}\" is not a valid header name")),
            "body" => Pointer::parse(rest).map(Source::Body),
            "signature" if !rest.is_empty() => Ok(Source::Signature(rest.to_string())),
            "query" if !rest.is_empty() => Ok(Source::Query(rest.to_string())),
            "form" if !rest.is_empty() => Ok(Source::Form(rest.to_string())),
            "jwt" if !rest.is_empty() => Ok(Source::Claim(rest.to_string())),
            _ => Err(format!(
                "unknown source kind \"{kind}\" in \"{text}\"; use header:, body:, signature:, query:, form: or jwt:"
            )),
        }
    }

    pub fn as_pointer(&self) -> Option<&Pointer> {
        match self {
            Source::Body(p) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Header(h) => write!(f, "header:{h}"),
            Source::Body(p) => write!(f, "body:{}", p.text),
            Source::Signature(k) => write!(f, "signature:{k}"),
            Source::Query(k) => write!(f, "query:{k}"),
            Source::Form(k) => write!(f, "form:{k}"),
            Source::Claim(k) => write!(f, "jwt:{k}"),
        }
    }
}

/// Alternatives written as `a | b`, for messages and docs.
pub fn alternatives(sources: &[Source]) -> String {
    sources
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A JSON pointer, split into unescaped reference tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// The pointer as written, such as `/data/id`.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn parse(text: &str) -> Result<Pointer, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "\"{text}\" is not a JSON pointer; it must start with '/', as in \"/data/id\""
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            if raw.contains('~') {
                // RFC 6901: "~1" is '/', "~0" is '~'; any other '~' is an error.
                let mut token = String::with_capacity(raw.len());
                let mut chars = raw.chars();
                while let Some(c) = chars.next() {
                    if c != '~' {
                        token.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => return Err(format!("\"{text}\": '~' must be followed by 0 or 1")),
                    }
                }
                tokens.push(token);
            } else {
                tokens.push(raw.to_string());
            }
        }
        Ok(Pointer {
            text: text.to_string(),
            tokens,
        })
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_of_source() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("header:X-Acme-Id", Ok("header:x-acme-id")),
            ("body:/event_id", Ok("body:/event_id")),
            ("body:/a~1b/c~0d", Ok("body:/a~1b/c~0d")),
            ("signature:t", Ok("signature:t")),
            ("query:token", Ok("query:token")),
            ("jwt:iat", Ok("jwt:iat")),
            ("event_id", Err("is not a source")),
            ("body:event_id", Err("must start with '/'")),
            ("body:/a~2", Err("'~' must be followed")),
            ("header:bad header", Err("not a valid header name")),
            ("cookie:x", Err("unknown source kind")),
        ];
        for (input, want) in cases {
            match (Source::parse(input), want) {
                (Ok(s), Ok(text)) => assert_eq!(s.to_string(), *text, "{input}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn pointer_tokens_are_unescaped() {
        let p = Pointer::parse("/a~1b/c~0d/0").unwrap();
        assert_eq!(p.tokens(), ["a/b", "c~d", "0"]);
    }
}
