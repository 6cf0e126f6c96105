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
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        let ip = forwarded
            .iter()
            .rev()
            .find(|ip| !self.is_trusted(**ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer);
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("https")
            })
            .unwrap_or(self.tls);
        ClientAddr {
            ip: Some(ip),
            https,
        }
    }
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
