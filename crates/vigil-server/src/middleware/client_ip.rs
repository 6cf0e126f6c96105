//! The client's address and scheme, honouring `X-Forwarded-For`/`-Proto` only when the
//! direct peer is a configured trusted proxy (otherwise any client could claim any
//! address and dodge per-IP limits or poison logs).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::Extension;
use ipnet::IpNet;

/// Where a request comes from, after trusted-proxy handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's IP (None only for in-process test requests with no socket).
    pub ip: Option<IpAddr>,
    /// Whether the client used HTTPS (directly or to a trusted proxy).
    pub https: bool,
}

impl ClientAddr {
    /// The address as text, for the audit log and session records.
    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

/// The client's address as text from a handler's optional [`ClientAddr`] (absent only
/// for in-process requests without a socket).
pub fn ip_of(client: Option<&Extension<ClientAddr>>) -> Option<String> {
    client.and_then(|c| c.ip_text())
}

/// Trusted-proxy configuration.
#[derive(Debug, Clone, Default)]
pub struct ProxyTrust {
    /// Trusted proxy networks.
    pub trusted: Vec<IpNet>,
    /// Whether this listener terminates TLS itself.
    pub tls: bool,
}

impl ProxyTrust {
    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Resolves the client from the socket peer and headers.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientAddr {
        let Some(peer) = peer.map(canonical) else {
            return ClientAddr {
                ip: None,
                https: self.tls,
            };
        };
        if !self.is_trusted(peer) {
            return ClientAddr {
                ip: Some(peer),
                https: self.tls,
            };
        }
        // Rightmost address that is not one of our proxies is the client; entries left
        // of it were written by the client and cannot be trusted.
        // Unreadable entries (`unknown`) keep their place, so positions line up with
        // `X-Forwarded-Proto` below.
        let forwarded: Vec<Option<IpAddr>> = header_list(headers, "x-forwarded-for")
            .map(|entry| parse_forwarded_addr(entry).map(canonical))
            .collect();
        // The walk stops at the first entry that is not a trusted proxy, readable or not:
        // an unreadable one (`unknown`) leaves the client unknown, and then the peer
        // stands for it rather than an address further left, which the client wrote.
        let client_at = forwarded
            .iter()
            .rposition(|ip| !ip.is_some_and(|ip| self.is_trusted(ip)))
            // Every entry is one of our proxies: the leftmost one sent it.
            .or_else(|| (!forwarded.is_empty()).then_some(0));
        let ip = client_at.and_then(|i| forwarded[i]).unwrap_or(peer);
        // The scheme the client used is the `X-Forwarded-Proto` entry written by the
        // proxy that wrote the client's `X-Forwarded-For` entry: proxies that append
        // write both lists in step, so it sits as far from the right end as the client's
        // address does. When the lists are not in step (a proxy that overwrites the header
        // rather than appending) the rightmost entry, written by the nearest proxy, is
        // used. Never the leftmost: the client writes that one.
        let protos: Vec<&str> = header_list(headers, "x-forwarded-proto").collect();
        let from_right = client_at.map_or(0, |i| forwarded.len() - 1 - i);
        let proto = protos
            .len()
            .checked_sub(1 + from_right)
            .and_then(|i| protos.get(i))
            .or(protos.last());
        let https = proto.map_or(self.tls, |p| p.eq_ignore_ascii_case("https"));
        ClientAddr {
            ip: Some(ip),
            https,
        }
    }
}

/// Every comma-separated entry of every `name` header, trimmed, in order.
fn header_list<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711` (some proxies and load balancers add the client's port).
/// Anything else (`unknown`, an obfuscated identifier) is `None`.
pub fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    // `[v6]` without a port.
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<std::net::Ipv6Addr>().ok())
        .map(IpAddr::V6)
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Middleware: inserts [`ClientAddr`] into the request extensions.
pub async fn layer(State(trust): State<Arc<ProxyTrust>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = trust.resolve(peer, req.headers());
    req.extensions_mut().insert(client);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str, proto: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().expect("header"));
        h.insert("x-forwarded-proto", proto.parse().expect("header"));
        h
    }

    fn trust() -> ProxyTrust {
        ProxyTrust {
            trusted: vec!["10.0.0.0/8".parse().expect("net")],
            tls: false,
        }
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let c = trust().resolve(
            Some("203.0.113.9".parse().expect("ip")),
            &headers("1.2.3.4", "https"),
        );
        assert_eq!(
            c,
            ClientAddr {
                ip: Some("203.0.113.9".parse().expect("ip")),
                https: false
            }
        );
    }

    #[test]
    fn forwarded_entries_may_carry_a_port() {
        let cases = [
            ("192.0.2.1", Some("192.0.2.1")),
            ("192.0.2.1:4711", Some("192.0.2.1")),
            (" 2001:db8::1 ", Some("2001:db8::1")),
            ("[2001:db8::1]:4711", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("::ffff:192.0.2.1", Some("::ffff:192.0.2.1")),
            ("unknown", None),
            ("_hidden", None),
            ("192.0.2.1:port", None),
            ("[192.0.2.1]", None),
            ("", None),
        ];
        for (entry, expected) in cases {
            let expected = expected.map(|e| e.parse::<IpAddr>().expect("ip"));
            assert_eq!(parse_forwarded_addr(entry), expected, "{entry:?}");
        }
        let peer = Some("10.0.0.2".parse().expect("ip"));
        let c = trust().resolve(
            peer,
            &headers("198.51.100.7:51000, [2001:db8::7]:443", "https, https"),
        );
        assert_eq!(c.ip, Some("2001:db8::7".parse().expect("ip")));
        let c = trust().resolve(peer, &headers("198.51.100.7, 10.0.0.9:80", "https"));
        assert_eq!(c.ip, Some("198.51.100.7".parse().expect("ip")));
        // An unreadable entry where the client should be: not the forged one left of it.
        let c = trust().resolve(peer, &headers("6.6.6.6, unknown", "https"));
        assert_eq!(c.ip, peer);
    }

    #[test]
    fn the_scheme_is_the_one_the_nearest_trusted_proxy_saw() {
        let peer = Some("10.0.0.2".parse().expect("ip"));
        let cases = [
            // One proxy: the client's own "https" on the left is not believed.
            ("198.51.100.7", "https, http", false),
            ("198.51.100.7", "http, https", true),
            ("198.51.100.7", "https", true),
            // Two proxies appending in step: the entry of the proxy that met the client.
            ("198.51.100.7, 10.0.0.5", "https, http", true),
            ("198.51.100.7, 10.0.0.5", "http, https", false),
            // The client forged entries on the left of both lists.
            (
                "6.6.6.6, 198.51.100.7, 10.0.0.5",
                "https, http, http",
                false,
            ),
            // Not in step (the nearest proxy overwrote the header): its value.
            ("198.51.100.7, 10.0.0.5", "https", true),
            ("198.51.100.7, 10.0.0.5", "http", false),
        ];
        for (xff, proto, https) in cases {
            let c = trust().resolve(peer, &headers(xff, proto));
            assert_eq!(c.https, https, "X-Forwarded-For {xff}, -Proto {proto}");
        }
        // No -Proto at all: what this listener itself serves.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7".parse().expect("header"));
        let tls = ProxyTrust {
            tls: true,
            ..trust()
        };
        assert!(tls.resolve(peer, &h).https);
        assert!(!trust().resolve(peer, &h).https);
    }

    #[test]
    fn trusted_proxy_gives_the_rightmost_untrusted_address() {
        let c = trust().resolve(
            Some("10.0.0.2".parse().expect("ip")),
            &headers("6.6.6.6, 198.51.100.7, 10.0.0.5", "https"),
        );
        assert_eq!(
            c,
            ClientAddr {
                ip: Some("198.51.100.7".parse().expect("ip")),
                https: true
            }
        );
    }
}
