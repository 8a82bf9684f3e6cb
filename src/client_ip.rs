//! The client's address and the per-route allowlist.
//!
//! The client is the socket peer, unless the peer is a trusted proxy: then it is the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Entries to the left of that one were
//! written by whoever the proxy was talking to and prove nothing, so they are never used. IPv4-mapped
//! IPv6 addresses are compared as IPv4. The `Forwarded` header (RFC 7239) is not consulted.
//! This module knows nothing about verification or upstreams.

use arc_swap::ArcSwapOption;
use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;

/// Parses an allowlist or trusted-proxy entry: a CIDR block or a single address.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(canonical_net(net.trunc()));
    }
    match text.parse::<IpAddr>() {
        Ok(ip) => Ok(IpNet::from(ip.to_canonical())),
        Err(_) => Err(format!(
            "\"{text}\" is not an IP address or CIDR block (for example \"203.0.113.0/24\" or \"2001:db8::1\")"
        )),
    }
}

/// `::ffff:10.0.0.0/104` and `10.0.0.0/8` are the same block.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(net),
            None => net,
        },
        _ => net,
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// The address the request came from, honouring `X-Forwarded-For` only from trusted proxies.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !contains(trusted, peer) {
        return peer;
    }
    let mut client = peer;
    // Header lines are concatenated in order; walk the entries right to left.
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some(ip) = parse_forwarded_entry(entry) else {
            // Garbage from a trusted hop: stop at the last address we can vouch for.
            return client;
        };
        client = ip;
        if !contains(trusted, ip) {
            return ip;
        }
    }
    client
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` and `[2001:db8::1]:5678`.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    None
}

/// Whether `ip` may call a route with this allowlist (`None`: any address).
/// The addresses a route admits.
#[derive(Debug)]
pub enum Allowlist {
    /// Written in the configuration, read from a file, or built into the preset.
    Fixed(Vec<IpNet>),
    /// Fetched from where the vendor publishes it, and kept current (`crate::published`).
    Fetched(Arc<FetchedList>),
}

/// Whether an address may deliver to a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    Yes,
    No,
    /// The route's list is fetched, and no fetch has brought it yet.
    Unknown,
}

/// Whether `ip` may deliver to a route with allowlist `allow` (`None`: any address).
pub fn allowed(ip: IpAddr, allow: Option<&Allowlist>) -> Allowed {
    let admits = |nets: &[IpNet]| {
        if contains(nets, ip.to_canonical()) {
            Allowed::Yes
        } else {
            Allowed::No
        }
    };
    match allow {
        None => Allowed::Yes,
        Some(Allowlist::Fixed(nets)) => admits(nets),
        Some(Allowlist::Fetched(list)) => match &*list.nets.load() {
            Some(nets) => admits(nets),
            None => Allowed::Unknown,
        },
    }
}

/// A list of addresses as text: one address or CIDR block per line, blank lines and `#` comments
/// skipped (an `allow_ips = "file:…"` file, a vendor's published text list). An entry that is none
/// fails the whole list, with its line number (from 1).
pub fn parse_lines(text: &str) -> Result<Vec<IpNet>, (usize, String)> {
    let mut nets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if !line.is_empty() {
            nets.push(parse_net(line).map_err(|m| (n + 1, m))?);
        }
    }
    Ok(nets)
}

/// The most entries a fetched list may hold; vendors publish a few dozen.
pub const MAX_FETCHED: usize = 10_000;

/// A list of source addresses a vendor publishes at a URL: plain text with one address or block per
/// line (`#` starts a comment), or JSON, an array of them or an object whose array `pointer` names.
#[derive(Debug)]
pub struct FetchedList {
    url: http::Uri,
    pointer: Option<String>,
    nets: ArcSwapOption<Vec<IpNet>>,
}

impl FetchedList {
    pub fn new(url: http::Uri, pointer: Option<String>) -> FetchedList {
        FetchedList {
            url,
            pointer,
            nets: ArcSwapOption::empty(),
        }
    }

    pub fn url(&self) -> &http::Uri {
        &self.url
    }

    /// The list in force: `None` until a fetch has brought one.
    pub fn nets(&self) -> Option<Arc<Vec<IpNet>>> {
        self.nets.load_full()
    }

    /// Puts a freshly fetched list in force.
    pub fn replace(&self, nets: Vec<IpNet>) {
        self.nets.store(Some(Arc::new(nets)));
    }

    /// Takes the list of the one this replaces on a reload, so that the new route does not wait for a
    /// fetch.
    pub fn adopt(&self, previous: &FetchedList) {
        if previous.url == self.url && previous.pointer == self.pointer {
            self.nets.store(previous.nets());
        }
    }

    /// The addresses in a fetched document. A document with an entry that is no address, or with
    /// none, is refused whole: the last good list stays in force rather than a part or nothing.
    pub fn parse(&self, document: &[u8]) -> Result<Vec<IpNet>, String> {
        let text = std::str::from_utf8(document).map_err(|_| "is not text".to_string())?;
        let trimmed = text.trim_start();
        let nets: Vec<IpNet> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let json: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
            let list = match &self.pointer {
                Some(p) => json
                    .pointer(p)
                    .ok_or_else(|| format!("has nothing at {p}"))?,
                None => &json,
            };
            let Some(items) = list.as_array() else {
                return Err(match &self.pointer {
                    Some(p) => format!("has no list of addresses at {p}"),
                    None => "is a JSON object; name the list in it after # in the URL, as in https://api.github.com/meta#/hooks".to_string(),
                });
            };
            items
                .iter()
                .map(|v| match v.as_str() {
                    Some(s) => parse_net(s),
                    None => Err("lists a value that is not a string".to_string()),
                })
                .collect::<Result<_, _>>()?
        } else {
            parse_lines(text).map_err(|(n, m)| format!("line {n}: {m}"))?
        };
        if nets.is_empty() {
            return Err("lists no address".to_string());
        }
        if nets.len() > MAX_FETCHED {
            return Err(format!("lists more than {MAX_FETCHED} addresses"));
        }
        Ok(nets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_net(s).unwrap()).collect()
    }

    fn resolve(peer: &str, xff: &[&str], trusted: &[&str]) -> String {
        let mut h = HeaderMap::new();
        for line in xff {
            h.append("x-forwarded-for", line.parse().unwrap());
        }
        client_addr(peer.parse().unwrap(), &h, &nets(trusted)).to_string()
    }

    #[test]
    fn forwarded_for_is_honoured_only_from_trusted_peers() {
        let t = &["10.0.0.0/8"];
        let cases: &[(&str, &[&str], &[&str], &str)] = &[
            // untrusted peer: the header is ignored, whatever it says
            ("198.51.100.9", &["203.0.113.5"], t, "198.51.100.9"),
            // trusted peer: the right-most untrusted entry
            ("10.0.0.2", &["203.0.113.5"], t, "203.0.113.5"),
            (
                "10.0.0.2",
                &["1.1.1.1, 203.0.113.5, 10.0.0.7"],
                t,
                "203.0.113.5",
            ),
            // several header lines read as one list
            ("10.0.0.2", &["1.1.1.1", "203.0.113.5"], t, "203.0.113.5"),
            // all hops trusted: the left-most one
            ("10.0.0.2", &["10.1.1.1, 10.0.0.7"], t, "10.1.1.1"),
            // no header from a trusted peer: the peer
            ("10.0.0.2", &[], t, "10.0.0.2"),
            // garbage to the right stops the walk at the last trusted hop
            ("10.0.0.2", &["203.0.113.5, not-an-ip"], t, "10.0.0.2"),
            // ports and brackets
            ("10.0.0.2", &["203.0.113.5:4711"], t, "203.0.113.5"),
            ("10.0.0.2", &["[2001:db8::1]:4711"], t, "2001:db8::1"),
            // IPv4-mapped peers and entries compare as IPv4
            ("::ffff:10.0.0.2", &["::ffff:203.0.113.5"], t, "203.0.113.5"),
            ("::ffff:198.51.100.9", &["203.0.113.5"], t, "198.51.100.9"),
            // no trusted proxies configured at all
            ("10.0.0.2", &["203.0.113.5"], &[], "10.0.0.2"),
        ];
        for (peer, xff, trusted, want) in cases {
            assert_eq!(
                resolve(peer, xff, trusted),
                *want,
                "peer {peer} xff {xff:?}"
            );
        }
    }

    #[test]
    fn allowlists_match_blocks_single_addresses_and_mapped_forms() {
        let allow = nets(&["203.0.113.0/24", "198.51.100.7", "::ffff:192.0.2.0/120"]);
        let cases = [
            ("203.0.113.200", true),
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("::ffff:203.0.113.1", true),
            ("192.0.2.77", true),
            ("2001:db8::1", false),
        ];
        let allow = Allowlist::Fixed(allow);
        for (ip, want) in cases {
            let got = allowed(ip.parse().unwrap(), Some(&allow));
            assert_eq!(got == Allowed::Yes, want, "{ip}");
        }
        assert_eq!(allowed("2001:db8::1".parse().unwrap(), None), Allowed::Yes);
    }

    #[test]
    fn a_fetched_list_admits_nobody_until_it_is_fetched_and_refuses_a_bad_document_whole() {
        let plain = FetchedList::new("https://stripe.example/ips.txt".parse().unwrap(), None);
        let list = Allowlist::Fetched(Arc::new(plain));
        let Allowlist::Fetched(fetched) = &list else {
            unreachable!()
        };
        let ip = "3.18.12.63".parse().unwrap();
        assert_eq!(allowed(ip, Some(&list)), Allowed::Unknown);
        // Stripe's text form: one per line.
        let nets = fetched
            .parse(b"3.18.12.63\n3.130.192.231\n\n# a comment\n")
            .unwrap();
        assert_eq!(nets.len(), 2);
        fetched.replace(nets);
        assert_eq!(allowed(ip, Some(&list)), Allowed::Yes);
        assert_eq!(
            allowed("3.18.12.64".parse().unwrap(), Some(&list)),
            Allowed::No
        );
        // A JSON array (PagerDuty's form).
        assert_eq!(
            fetched
                .parse(br#"["44.242.69.192", "52.89.71.166"]"#)
                .unwrap()
                .len(),
            2
        );
        for bad in [
            &b""[..],
            b"\n# nothing\n",
            b"3.18.12.63\nnot-an-address\n",
            br#"["44.242.69.192", 7]"#,
            br#"{"hooks": ["192.30.252.0/22"]}"#,
            b"[not json",
            b"\xff\xfe",
        ] {
            assert!(
                fetched.parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A JSON object, with the list named after # (GitHub's meta API).
        let github = FetchedList::new(
            "https://api.github.com/meta".parse().unwrap(),
            Some("/hooks".into()),
        );
        let doc = br#"{"verifiable_password_authentication": false, "hooks": ["192.30.252.0/22", "2a0a:a440::/29"], "web": ["1.2.3.4"]}"#;
        assert_eq!(github.parse(doc).unwrap().len(), 2);
        assert!(github.parse(br#"{"web": ["1.2.3.4"]}"#).is_err());
        assert!(github.parse(br#"{"hooks": "192.30.252.0/22"}"#).is_err());
        // A reload's new list starts with the old one's addresses, for the same URL only.
        let again = FetchedList::new("https://stripe.example/ips.txt".parse().unwrap(), None);
        again.adopt(fetched);
        assert_eq!(again.nets().map(|n| n.len()), Some(2));
        let elsewhere = FetchedList::new("https://other.example/ips.txt".parse().unwrap(), None);
        elsewhere.adopt(fetched);
        assert!(elsewhere.nets().is_none());
    }

    #[test]
    fn bad_entries_say_what_would_be_valid() {
        let err = parse_net("203.0.113.0/33").unwrap_err();
        assert!(err.contains("is not an IP address or CIDR block"), "{err}");
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }
}
