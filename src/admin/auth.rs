//! Who may use the admin listener.
//!
//! Three checks, in order, before any endpoint runs:
//! 1. `Host` (and `Origin`, when a browser sends one) must name this listener: an IP address,
//!    `localhost`, or one of `admin.hosts`. A page on another site that resolves its own name to
//!    127.0.0.1 (DNS rebinding) sends its own name and is refused, and so is a cross-site form post.
//! 2. A token (`Authorization: Bearer …`, compared in constant time) is required for every endpoint
//!    that changes state, for the event API (`/api/…`: what vendors sent) whenever a token is
//!    configured, and for every endpoint when the listener is not on loopback. The inspector's page
//!    and assets (`/ui/…`) hold no data and need none: the page asks for the token the API wants.
//! 3. Without a configured token, state-changing endpoints are refused (SIGHUP still reloads).
//!
//! This module knows nothing about the endpoints themselves.

use crate::config::AdminConfig;
use crate::secret::Secret;
use http::{HeaderMap, Method, StatusCode, header};

/// The admin listener's access rules.
#[derive(Debug, Clone)]
pub struct Auth {
    token: Option<Secret>,
    hosts: Vec<String>,
    /// Every request needs the token, not only those that change state.
    always: bool,
}

/// Why a request is refused: its status and the sentence answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

const BAD_HOST: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    message: "this admin listener does not answer to that Host; add the name to admin.hosts\n",
};
const CROSS_SITE: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    message: "cross-site requests are refused\n",
};
const NO_TOKEN_CONFIGURED: Refusal = Refusal {
    status: StatusCode::FORBIDDEN,
    message: "this endpoint changes state and needs admin.token to be configured (SIGHUP reloads without one)\n",
};
const BAD_TOKEN: Refusal = Refusal {
    status: StatusCode::UNAUTHORIZED,
    message: "send the admin token as Authorization: Bearer <admin.token>\n",
};

impl Auth {
    pub fn new(config: &AdminConfig) -> Auth {
        Auth {
            token: config.token.clone(),
            hosts: config.hosts.clone(),
            always: !config.listen.ip().is_loopback(),
        }
    }

    /// Whether the request may go on to its endpoint.
    pub fn check(&self, method: &Method, path: &str, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .ok_or(BAD_HOST)?;
        if !self.allowed_host(host) {
            return Err(BAD_HOST);
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().map_err(|_| CROSS_SITE)?;
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .ok_or(CROSS_SITE)?;
            if !self.allowed_host(authority) {
                return Err(CROSS_SITE);
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        {
            return Err(CROSS_SITE);
        }
        let changes_state = !matches!(*method, Method::GET | Method::HEAD);
        if !changes_state && (path == "/ui" || path.starts_with("/ui/")) {
            return Ok(());
        }
        let event_data = path.starts_with("/api/") && self.token.is_some();
        if !changes_state && !self.always && !event_data {
            return Ok(());
        }
        let Some(token) = &self.token else {
            return Err(NO_TOKEN_CONFIGURED);
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .ok_or(BAD_TOKEN)?;
        if constant_time_eq::constant_time_eq(presented.trim_ascii(), token.expose()) {
            Ok(())
        } else {
            Err(BAD_TOKEN)
        }
    }

    /// An authority (`host[:port]`) that names this listener.
    fn allowed_host(&self, authority: &str) -> bool {
        let host = match authority.strip_prefix('[') {
            // [v6]:port
            Some(rest) => match rest.split_once(']') {
                Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
                None => return false,
            },
            None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
        };
        if host.parse::<std::net::Ipv4Addr>().is_ok() {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "localhost" || self.hosts.contains(&host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(listen: &str, token: Option<&str>, hosts: &[&str]) -> Auth {
        Auth::new(&AdminConfig {
            listen: listen.parse().unwrap(),
            token: token.map(|t| Secret::new(t.as_bytes().to_vec())),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn loopback_reads_need_no_token_but_changes_do() {
        let a = auth("127.0.0.1:8079", Some(TOKEN), &[]);
        let get = Method::GET;
        let post = Method::POST;
        let bearer = format!("Bearer {TOKEN}");
        type Case<'a> = (&'a Method, &'a [(&'a str, &'a str)], Result<(), Refusal>);
        let cases: &[Case] = &[
            (&get, &[("host", "127.0.0.1:8079")], Ok(())),
            (&get, &[("host", "localhost:8079")], Ok(())),
            (&get, &[("host", "[::1]:8079")], Ok(())),
            (&get, &[("host", "evil.example:8079")], Err(BAD_HOST)),
            (&get, &[], Err(BAD_HOST)),
            (&post, &[("host", "127.0.0.1:8079")], Err(BAD_TOKEN)),
            (
                &post,
                &[
                    ("host", "127.0.0.1"),
                    ("authorization", "Bearer wrong-token-xxxxxx"),
                ],
                Err(BAD_TOKEN),
            ),
            (
                &post,
                &[("host", "127.0.0.1"), ("authorization", &bearer)],
                Ok(()),
            ),
            (
                &post,
                &[
                    ("host", "127.0.0.1"),
                    ("authorization", &bearer),
                    ("origin", "http://evil.example"),
                ],
                Err(CROSS_SITE),
            ),
            (
                &post,
                &[
                    ("host", "127.0.0.1"),
                    ("authorization", &bearer),
                    ("origin", "null"),
                ],
                Err(CROSS_SITE),
            ),
            (
                &post,
                &[
                    ("host", "127.0.0.1"),
                    ("authorization", &bearer),
                    ("origin", "http://127.0.0.1:8079"),
                ],
                Ok(()),
            ),
            (
                &post,
                &[
                    ("host", "127.0.0.1"),
                    ("authorization", &bearer),
                    ("sec-fetch-site", "cross-site"),
                ],
                Err(CROSS_SITE),
            ),
        ];
        for (method, h, want) in cases {
            assert_eq!(
                a.check(method, "/metrics", &headers(h)),
                *want,
                "{method} {h:?}"
            );
        }
    }

    #[test]
    fn without_a_token_state_changes_are_refused() {
        let a = auth("127.0.0.1:8079", None, &[]);
        let h = headers(&[("host", "127.0.0.1:8079")]);
        assert_eq!(a.check(&Method::GET, "/api/events", &h), Ok(()));
        assert_eq!(
            a.check(&Method::POST, "/api/replay", &h),
            Err(NO_TOKEN_CONFIGURED)
        );
    }

    #[test]
    fn off_loopback_every_endpoint_needs_the_token_and_named_hosts_are_allowed() {
        let a = auth("0.0.0.0:8079", Some(TOKEN), &["hookgate.internal"]);
        let bearer = format!("Bearer {TOKEN}");
        let plain = headers(&[("host", "hookgate.internal:8079")]);
        assert_eq!(a.check(&Method::GET, "/metrics", &plain), Err(BAD_TOKEN));
        let authed = headers(&[("host", "HOOKGATE.internal."), ("authorization", &bearer)]);
        assert_eq!(a.check(&Method::GET, "/metrics", &authed), Ok(()));
        let other = headers(&[("host", "other.internal"), ("authorization", &bearer)]);
        assert_eq!(a.check(&Method::GET, "/metrics", &other), Err(BAD_HOST));
    }

    #[test]
    fn with_a_token_configured_the_event_api_needs_it_even_on_loopback_and_the_page_never_does() {
        let a = auth("127.0.0.1:8079", Some(TOKEN), &[]);
        let bearer = format!("Bearer {TOKEN}");
        let plain = headers(&[("host", "127.0.0.1:8079")]);
        let authed = headers(&[("host", "127.0.0.1:8079"), ("authorization", &bearer)]);
        assert_eq!(a.check(&Method::GET, "/api/events", &plain), Err(BAD_TOKEN));
        assert_eq!(a.check(&Method::GET, "/api/stream", &plain), Err(BAD_TOKEN));
        assert_eq!(a.check(&Method::GET, "/api/events", &authed), Ok(()));
        assert_eq!(a.check(&Method::GET, "/metrics", &plain), Ok(()));
        assert_eq!(a.check(&Method::GET, "/ui/", &plain), Ok(()));
        assert_eq!(a.check(&Method::GET, "/ui/app.js", &plain), Ok(()));
        // Off loopback the page still loads (it holds no data); its API calls carry the token.
        let remote = auth("0.0.0.0:8079", Some(TOKEN), &[]);
        assert_eq!(remote.check(&Method::GET, "/ui/", &plain), Ok(()));
        assert_eq!(
            remote.check(&Method::GET, "/metrics", &plain),
            Err(BAD_TOKEN)
        );
        // The page is still only served to names of this listener.
        let evil = headers(&[("host", "evil.example")]);
        assert_eq!(a.check(&Method::GET, "/ui/", &evil), Err(BAD_HOST));
    }
}
