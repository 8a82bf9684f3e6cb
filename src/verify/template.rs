//! The signed-content template: what bytes a vendor feeds to its MAC, in what order.
//!
//! `"{timestamp}.{body}"` is parsed once at config load into pieces; at request time the pieces are fed
//! one after another straight into the MAC, so the body is never copied or concatenated.

use super::source::Pointer;
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
    /// The shared secret itself, for vendors that hash `secret + content` instead of using an HMAC.
    Secret,
    /// The public URL the vendor calls (`public_url`) with the query string as received.
    Url,
    /// The request method.
    Method,
    /// The public URL's path with the query string as received.
    Path,
    /// Form parameters sorted by name, each name followed by its value (Twilio).
    FormSorted,
    /// A field of the JSON body; empty when absent.
    Field(Pointer),
    /// A field of a form-encoded body, decoded; empty when absent (Mailgun's legacy posts sign
    /// `{form:timestamp}{form:token}`, Gitea's form deliveries sign `{form:payload}`).
    FormField(String),
    /// `name:value` for each header listed in the named header, joined by `;` (Contentful).
    SignedHeaders(HeaderName),
    /// A query-string parameter, decoded; lowercased when `lower` (Mercado Pago signs `data.id`
    /// lowercased). Only a route whose `data_from` is a signed part may sign no part of the body.
    QueryParam {
        name: String,
        lower: bool,
    },
    /// Every form field but the named one (the signature), sorted by name and written as PHP's
    /// `serialize` writes an array of strings (Paddle Classic signs that).
    PhpSerializedForm(String),
}

impl Piece {
    /// This piece's kind as a bit, whatever it carries.
    fn kind(&self) -> u16 {
        1 << match self {
            Piece::Literal(_) => 0,
            Piece::Body => 1,
            Piece::Timestamp => 2,
            Piece::Id => 3,
            Piece::Header(_) => 4,
            Piece::Secret => 5,
            Piece::Url => 6,
            Piece::Method => 7,
            Piece::Path => 8,
            Piece::FormSorted => 9,
            Piece::Field(_) => 10,
            Piece::SignedHeaders(_) => 11,
            Piece::FormField(_) => 12,
            Piece::QueryParam { .. } => 13,
            Piece::PhpSerializedForm(_) => 14,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// One bit per kind of piece present, so that `uses` costs nothing on the request path.
    kinds: u16,
}

impl Template {
    pub fn body_only() -> Template {
        Template::new(vec![Piece::Body])
    }

    fn new(pieces: Vec<Piece>) -> Template {
        let kinds = pieces.iter().fold(0, |k, p| k | p.kind());
        Template { pieces, kinds }
    }

    /// Parses `{body}`, `{timestamp}`, `{id}` and `{header:NAME}` placeholders; `{{` and `}}` are
    /// literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let template = Self::parse_pieces(text)?;
        match template.body_error() {
            Some(e) => Err(e),
            None => Ok(template),
        }
    }

    /// Parses without requiring that the body be covered (the route checks that, knowing
    /// `data_from`).
    pub fn parse_any(text: &str) -> Result<Template, String> {
        Self::parse_pieces(text)
    }

    fn parse_pieces(text: &str) -> Result<Template, String> {
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
            let header = |h: &str| {
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| format!("\"{h}\" is not a valid header name"))
            };
            let piece = match name {
                "body" => Piece::Body,
                "timestamp" => Piece::Timestamp,
                "id" => Piece::Id,
                "secret" => Piece::Secret,
                "url" => Piece::Url,
                "method" => Piece::Method,
                "path" => Piece::Path,
                "form_sorted" => Piece::FormSorted,
                _ => match name.split_once(':') {
                    Some(("header", h)) => Piece::Header(header(h)?),
                    Some(("signed_headers", h)) => Piece::SignedHeaders(header(h)?),
                    Some(("body", p)) => Piece::Field(Pointer::parse(p)?),
                    Some(("form", n)) if !n.is_empty() => Piece::FormField(n.to_string()),
                    Some(("php_serialized_form", n)) if !n.is_empty() => {
                        Piece::PhpSerializedForm(n.to_string())
                    }
                    Some(("query", n)) if !n.is_empty() => Piece::QueryParam {
                        name: n.to_string(),
                        lower: false,
                    },
                    Some(("query_lower", n)) if !n.is_empty() => Piece::QueryParam {
                        name: n.to_string(),
                        lower: true,
                    },
                    _ => {
                        return Err(format!(
                            "unknown placeholder {{{name}}} in \"{text}\"; use {{body}}, {{timestamp}}, {{id}}, {{header:NAME}}, {{body:/pointer}}, {{form:NAME}}, {{query:NAME}}, {{query_lower:NAME}}, {{url}}, {{path}}, {{method}}, {{form_sorted}}, {{php_serialized_form:NAME}}, {{signed_headers:NAME}} or {{secret}}"
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
        Ok(Template::new(pieces))
    }

    /// Why a signature over this template proves nothing about the delivery's body, when it signs
    /// no part of it. A route may still use such a template when `data_from` makes a signed part
    /// the event's data instead of the body (Mercado Pago).
    pub fn body_error(&self) -> Option<String> {
        (!self.touches_body()).then(|| format!(
            "\"{self}\" does not include {{body}} (or {{form_sorted}}, or a {{body:/field}} or {{form:field}}); a signature that does not cover the body proves nothing about it"
        ))
    }

    /// Whether the whole body is covered (`{body}`, or `{form_sorted}` for form posts).
    pub fn covers_body(&self) -> bool {
        self.pieces.iter().any(|p| {
            matches!(
                p,
                Piece::Body | Piece::FormSorted | Piece::PhpSerializedForm(_)
            )
        })
    }

    /// Whether any part of the body is covered.
    pub fn touches_body(&self) -> bool {
        self.covers_body()
            || self
                .pieces
                .iter()
                .any(|p| matches!(p, Piece::Field(_) | Piece::FormField(_)))
    }

    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn uses(&self, piece: &Piece) -> bool {
        match piece {
            Piece::Literal(_)
            | Piece::Header(_)
            | Piece::Field(_)
            | Piece::FormField(_)
            | Piece::QueryParam { .. }
            | Piece::SignedHeaders(_) => self.pieces.contains(piece),
            _ => self.kinds & piece.kind() != 0,
        }
    }

    /// True when the given header's value is covered by the signature.
    pub fn signs_header(&self, name: &HeaderName) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Header(h) if h == name))
    }

    /// True when the signed headers are named by the request itself (`{signed_headers:LIST}`), so
    /// whether a header is covered is checked per request.
    pub fn signs_listed_headers(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::SignedHeaders(_)))
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
                Piece::Secret => f.write_str("{secret}")?,
                Piece::Url => f.write_str("{url}")?,
                Piece::Method => f.write_str("{method}")?,
                Piece::Path => f.write_str("{path}")?,
                Piece::FormSorted => f.write_str("{form_sorted}")?,
                Piece::PhpSerializedForm(n) => write!(f, "{{php_serialized_form:{n}}}")?,
                Piece::Field(p) => write!(f, "{{body:{}}}", p.as_str())?,
                Piece::SignedHeaders(h) => write!(f, "{{signed_headers:{h}}}")?,
                Piece::FormField(n) => write!(f, "{{form:{n}}}")?,
                Piece::QueryParam { name, lower: false } => write!(f, "{{query:{name}}}")?,
                Piece::QueryParam { name, lower: true } => write!(f, "{{query_lower:{name}}}")?,
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
            ("{url}{form_sorted}", Ok("{url}{form_sorted}")),
            (
                "{method}{url}{body}{timestamp}",
                Ok("{method}{url}{body}{timestamp}"),
            ),
            (
                "{body:/signature/timestamp}{body:/signature/token}",
                Ok("{body:/signature/timestamp}{body:/signature/token}"),
            ),
            (
                "{method}\n{path}\n{signed_headers:X-Sig-Headers}\n{body}",
                Ok("{method}\n{path}\n{signed_headers:x-sig-headers}\n{body}"),
            ),
            ("{secret}{body}", Ok("{secret}{body}")),
            ("{url}", Err("does not include {body}")),
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
