//! The signed-content template: what bytes a vendor feeds to its MAC, in what order.
//!
//! `"{timestamp}.{body}"` is parsed once at config load into pieces; at request time the pieces are fed
//! one after another straight into the MAC, so the body is never copied or concatenated.

use http::HeaderName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(Vec<u8>),
    /// The raw request body.
    Body,
    /// The timestamp exactly as the vendor sent it (not re-formatted).
    Timestamp,
    /// The event id exactly as the vendor sent it.
    Id,
    /// The first value of a request header.
    Header(HeaderName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn body_only() -> Template {
        Template {
            pieces: vec![Piece::Body],
        }
    }

    /// Parses `{body}`, `{timestamp}`, `{id}` and `{header:NAME}` placeholders; `{{` and `}}` are
    /// literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = Vec::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if rest.starts_with("{{") || rest.starts_with("}}") {
                literal.push(rest.as_bytes()[0]);
                rest = &rest[2..];
                continue;
            }
            if c == '}' {
                return Err(format!(
                    "unmatched '}}' in \"{text}\"; write '}}}}' for a literal brace"
                ));
            }
            if c != '{' {
                literal.extend_from_slice(&rest.as_bytes()[..c.len_utf8()]);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            let end = rest
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in \"{text}\""))?;
            let name = &rest[1..end];
            let piece = match name {
                "body" => Piece::Body,
                "timestamp" => Piece::Timestamp,
                "id" => Piece::Id,
                _ => match name.strip_prefix("header:") {
                    Some(h) => Piece::Header(
                        HeaderName::from_bytes(h.as_bytes())
                            .map_err(|_| format!("\"{h}\" is not a valid header name"))?,
                    ),
                    None => {
                        return Err(format!(
                            "unknown placeholder {{{name}}} in \"{text}\"; use {{body}}, {{timestamp}}, {{id}} or {{header:NAME}}"
                        ));
                    }
                },
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            rest = &rest[end + 1..];
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if !pieces.contains(&Piece::Body) {
            return Err(format!(
                "\"{text}\" does not include {{body}}; a signature that does not cover the body proves nothing about it"
            ));
        }
        Ok(Template { pieces })
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn uses(&self, piece: &Piece) -> bool {
        self.pieces.contains(piece)
    }

    /// True when the given header's value is covered by the signature.
    pub fn signs_header(&self, name: &HeaderName) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Header(h) if h == name))
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    f.write_str(&text.replace('{', "{{").replace('}', "}}"))?
                }
                Piece::Body => f.write_str("{body}")?,
                Piece::Timestamp => f.write_str("{timestamp}")?,
                Piece::Id => f.write_str("{id}")?,
                Piece::Header(h) => write!(f, "{{header:{h}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("{body}", Ok("{body}")),
            ("{timestamp}.{body}", Ok("{timestamp}.{body}")),
            ("v0:{timestamp}:{body}", Ok("v0:{timestamp}:{body}")),
            (
                "{header:Webhook-Id}.{header:webhook-timestamp}.{body}",
                Ok("{header:webhook-id}.{header:webhook-timestamp}.{body}"),
            ),
            ("{{{body}}}", Ok("{{{body}}}")),
            ("{id}.{body}", Ok("{id}.{body}")),
            ("{timestamp}", Err("does not include {body}")),
            ("{bdy}", Err("unknown placeholder {bdy}")),
            ("{body", Err("unclosed")),
            ("body}", Err("unmatched")),
            ("{header:bad name}.{body}", Err("not a valid header name")),
        ];
        for (input, want) in cases {
            match (Template::parse(input), want) {
                (Ok(t), Ok(text)) => assert_eq!(t.to_string(), *text, "{input}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn literals_between_placeholders_are_kept_whole() {
        let t = Template::parse("v0:{timestamp}:{body}").unwrap();
        assert_eq!(
            t.pieces(),
            [
                Piece::Literal(b"v0:".to_vec()),
                Piece::Timestamp,
                Piece::Literal(b":".to_vec()),
                Piece::Body
            ]
        );
    }
}
