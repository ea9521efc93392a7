//! The client address: the TCP peer, or — only when the peer is a trusted proxy — the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy.
use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address of whoever sent the request, as rate limits and the audit see it.
pub use crate::domain::client::ClientAddress as ClientAddr;

pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut hop = peer.ip().to_canonical();
    if !is_trusted(&hop) {
        return ClientAddr(hop);
    }
    // Every X-Forwarded-For header, in order, as one list, walked from the right: each trusted
    // hop vouches for the entry to its left. An entry that does not parse ends the walk at the
    // last hop that did (nobody trustworthy wrote it).
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.into_iter().rev() {
        let Some(ip) = parse_hop(entry) else { break };
        hop = ip;
        if !is_trusted(&hop) {
            break;
        }
    }
    ClientAddr(hop)
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry.parse::<SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let cases = [
            (stranger, vec!["1.2.3.4"], "203.0.113.9"),
            (proxy, vec![], "10.1.2.3"),
            (proxy, vec!["1.2.3.4"], "1.2.3.4"),
            (proxy, vec!["6.6.6.6, 1.2.3.4"], "1.2.3.4"),
            (proxy, vec!["6.6.6.6, 1.2.3.4, 10.9.9.9"], "1.2.3.4"),
            (proxy, vec!["6.6.6.6", "1.2.3.4"], "1.2.3.4"),
            (proxy, vec!["garbage"], "10.1.2.3"),
            // A forged entry on the left does not spoil the chain the proxies wrote.
            (proxy, vec!["garbage, 1.2.3.4"], "1.2.3.4"),
            (proxy, vec!["1.2.3.4:5678"], "1.2.3.4"),
            (proxy, vec!["[2001:db8::7]:443"], "2001:db8::7"),
            (proxy, vec!["1.2.3.4, garbage, 10.0.0.9"], "10.0.0.9"),
            // Every hop trusted: the client is the left-most (an internal caller).
            (proxy, vec!["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(
                client_addr(peer, &headers(&xff), &trusted),
                ClientAddr(ip(want)),
                "{peer} {xff:?}"
            );
        }
        let mapped: SocketAddr = "[::ffff:203.0.113.9]:1".parse().unwrap();
        assert_eq!(
            client_addr(mapped, &HeaderMap::new(), &[]),
            ClientAddr(ip("203.0.113.9"))
        );
    }
}
