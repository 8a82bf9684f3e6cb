//! Which parts of a delivery a scheme's signature covers: a value taken from an uncovered part (a
//! header the payload does not sign, say) can be changed by anyone who replays a captured delivery.
//! The configuration refuses timestamps from such parts; event ids from them are allowed (some vendors
//! have nothing else) but the dedupe memory then also keys the event by its signed content.

use super::{Algorithm, JwtRules, Piece, Source, Template};

/// The part of the event a source supplies: the `{timestamp}` and `{id}` pieces of a payload cover
/// whatever source supplies that part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Timestamp,
    Id,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Timestamp => "timestamp",
            Part::Id => "id",
        }
    }

    fn piece(self) -> Piece {
        match self {
            Part::Timestamp => Piece::Timestamp,
            Part::Id => Piece::Id,
        }
    }
}

/// Why the `part` taken from `source` would not be covered by the signature, if it would not.
pub fn uncovered(
    algorithm: Algorithm,
    payload: &Template,
    jwt: Option<&JwtRules>,
    source: &Source,
    part: Part,
) -> Option<String> {
    let name = part.name();
    let fix = format!("take the {name} from a signed part or add {{{name}}} to payload");
    match algorithm {
        Algorithm::Token | Algorithm::Basic => Some(format!(
            "a {} scheme signs nothing, so a {name} from \"{source}\" proves nothing{}",
            algorithm.name(),
            if part == Part::Timestamp {
                "; remove it"
            } else {
                ""
            }
        )),
        Algorithm::Jwt => match source {
            Source::Claim(_) => None,
            Source::Body(_) if jwt.is_some_and(|j| j.body_hash_claim.is_some()) => None,
            _ => Some(format!(
                "\"{source}\" is not covered by the token; use a claim, such as \"jwt:iat\""
            )),
        },
        _ if payload.uses(&part.piece()) => None,
        _ => match source {
            Source::Header(h) if payload.signs_header(h) => None,
            // Which headers are signed is named per request; the timestamp's header is then checked
            // to be among them (`Verifier::verify`), an id's header is not.
            Source::Header(_) if part == Part::Timestamp && payload.signs_listed_headers() => None,
            Source::Header(h) => Some(format!(
                "header {h} is not covered by the signature (payload = \"{payload}\"), so a replayed request could carry any {name}; {fix}"
            )),
            Source::Body(p) if payload.covers_body() || payload.uses(&Piece::Field(p.clone())) => {
                None
            }
            Source::Query(_) if payload.uses(&Piece::Url) || payload.uses(&Piece::Path) => None,
            Source::Form(n)
                if payload.covers_body() || payload.uses(&Piece::FormField(n.clone())) =>
            {
                None
            }
            _ => Some(format!(
                "\"{source}\" is not covered by the signature (payload = \"{payload}\"); {fix}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(algorithm: Algorithm, payload: &str, source: &str, part: Part) -> bool {
        let payload = Template::parse(payload).unwrap();
        let source = Source::parse(source).unwrap();
        uncovered(algorithm, &payload, None, &source, part).is_none()
    }

    #[test]
    fn covered_parts_are_those_the_payload_signs() {
        use Algorithm::*;
        use Part::*;
        let cases = [
            (HmacSha256, "{body}", "body:/id", Id, true),
            (HmacSha256, "{body}", "header:X-GitHub-Delivery", Id, false),
            (
                HmacSha256,
                "{id}.{timestamp}.{body}",
                "header:webhook-id",
                Id,
                true,
            ),
            (
                HmacSha256,
                "{timestamp}.{body}",
                "header:webhook-id",
                Id,
                false,
            ),
            (HmacSha256, "{header:X-Id}{body}", "header:X-Id", Id, true),
            (HmacSha256, "{body}", "header:X-Ts", Timestamp, false),
            (
                HmacSha256,
                "{timestamp}.{body}",
                "header:X-Ts",
                Timestamp,
                true,
            ),
            (HmacSha256, "{url}{body}", "query:id", Id, true),
            (HmacSha256, "{body:/a}", "body:/a", Id, true),
            (HmacSha256, "{body:/a}", "body:/b", Id, false),
            (HmacSha256, "{form:token}", "form:token", Id, true),
            (HmacSha256, "{form:token}", "form:other", Id, false),
            (HmacSha256, "{body}", "form:token", Id, true),
            (Token, "{body}", "body:/id", Id, false),
        ];
        for (alg, payload, source, part, want) in cases {
            assert_eq!(
                check(alg, payload, source, part),
                want,
                "{payload} {source}"
            );
        }
    }
}
