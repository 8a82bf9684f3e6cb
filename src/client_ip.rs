//! The client's address and the per-route allowlist.
//!
//! The client is the socket peer, unless the peer is a trusted proxy: then it is the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy. Entries to the left of that one were
//! written by whoever the proxy was talking to and prove nothing, so they are never used. IPv4-mapped
//! IPv6 addresses are compared as IPv4. The `Forwarded` header (RFC 7239) is not consulted.
//! This module knows nothing about verification or upstreams.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

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
pub fn allowed(ip: IpAddr, allow: Option<&[IpNet]>) -> bool {
    match allow {
        None => true,
        Some(nets) => contains(nets, ip.to_canonical()),
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
        for (ip, want) in cases {
            assert_eq!(allowed(ip.parse().unwrap(), Some(&allow)), want, "{ip}");
        }
        assert!(allowed("2001:db8::1".parse().unwrap(), None));
    }

    #[test]
    fn bad_entries_say_what_would_be_valid() {
        let err = parse_net("203.0.113.0/33").unwrap_err();
        assert!(err.contains("is not an IP address or CIDR block"), "{err}");
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }
}
