//! The client address: the TCP peer, or — only when the peer is a trusted proxy — the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy.
use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address of whoever sent the request, as rate limits and the audit see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> ClientAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer_ip = peer.ip().to_canonical();
    if !is_trusted(&peer_ip) {
        return ClientAddr(peer_ip);
    }
    // Every X-Forwarded-For header, in order, as one list; walk it from the right.
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    ClientAddr(
        hops.into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer_ip),
    )
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
            (proxy, vec!["10.0.0.1, 10.0.0.2"], "10.1.2.3"),
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
