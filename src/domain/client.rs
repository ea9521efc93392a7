//! The client of a request as recovery sees it: an address, and the subject rate limits count for it.
use std::{fmt, net::IpAddr};

/// The address of whoever sent the request (the HTTP edge decides which address that is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The subject rate limits and sign-in throttles count: the address itself for IPv4, its /64
    /// for IPv6 (one subscriber usually holds a whole /64).
    pub fn limit_subject(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &str) -> String {
        ClientAddress(s.parse().unwrap()).limit_subject()
    }

    #[test]
    fn ipv4_counts_alone_and_ipv6_per_64() {
        assert_eq!(subject("203.0.113.9"), "203.0.113.9");
        assert_eq!(subject("2001:db8:1:2:aaaa::1"), subject("2001:db8:1:2:bbbb::9"));
        assert_ne!(subject("2001:db8:1:2::1"), subject("2001:db8:1:3::1"));
        assert_eq!(subject("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    }
}
