//! The SSRF guard: where a user's URL may make Vigil connect.
//!
//! Checked after DNS resolution, on every address the name resolves to: one bad address
//! refuses the URL, so a name that answers with a LAN address and a loopback one cannot
//! slip through. Refused by default:
//! - loopback (127/8, `::1`) and unspecified (0/8, `::`) addresses: this machine;
//! - link-local (169.254/16, `fe80::/10`);
//! - cloud metadata services (169.254.169.254, 169.254.170.2, 100.100.100.200,
//!   192.0.0.192, `fd00:ec2::254`), named separately because two of them sit in ranges
//!   that are otherwise allowed;
//! - multicast, the broadcast address, and the reserved 240/4;
//! - the same addresses written as IPv6 (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
//!   `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`);
//! - Vigil's own listeners (`server.listen`, `metrics_listen`, `redirect_listen`; for an
//!   unspecified listen address, any address of this machine on that port). This one
//!   no configuration lifts: a camera reading Vigil's own stream is a loop.
//!
//! An admin lifts the other refusals for chosen ranges with `cameras.allowed_networks`
//! (CIDR list), e.g. `127.0.0.1/32` for an RTSP server on the same machine.
//!
//! Private LAN ranges (10/8, 172.16/12, 192.168/16, 100.64/10, `fc00::/7`) are allowed
//! by default: that is where cameras live, and refusing them would make every install
//! configure the list. The cost: a user who may add cameras can make Vigil connect to
//! other machines on its LAN. Only admins and operators manage cameras and webhooks.
//!
//! DNS rebinding: a name may answer differently the next time it is resolved, so the
//! check is worth nothing if the connection resolves again. [`resolve_and_check`]
//! returns the checked addresses; connect to those only (see
//! [`super::NetworkUrl::with_address`] and [`super::NetworkUrl::host_header`]), and run
//! the check again on every reconnect and on every redirect (an HTTP client must not
//! follow redirects on its own; ffmpeg must get the IP, not the name).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use ipnet::IpNet;
use url::Host;
use vigil_config::Settings;

use super::source_url::NetworkUrl;

/// How long resolution may take before the URL is refused.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Cloud metadata endpoints (AWS, GCP, Azure, DigitalOcean, OpenStack: 169.254.169.254;
/// AWS ECS task metadata: 169.254.170.2; Alibaba: 100.100.100.200; Oracle legacy:
/// 192.0.0.192).
const METADATA_V4: &[Ipv4Addr] = &[
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];

/// AWS's IPv6 metadata endpoint.
const METADATA_V6: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Where the guard lets connections go.
#[derive(Debug, Clone)]
pub struct NetPolicy {
    /// Ranges exempt from the default refusals (`cameras.allowed_networks`).
    pub allowed_networks: Vec<IpNet>,
    /// Vigil's own listeners, always refused.
    pub own_listen: Vec<SocketAddr>,
    /// How long DNS resolution may take.
    pub resolve_timeout: Duration,
}

impl NetPolicy {
    /// The policy the settings give.
    pub fn from_settings(settings: &Settings) -> NetPolicy {
        let server = &settings.server;
        let own_listen = std::iter::once(server.listen)
            .chain(server.metrics_listen)
            .chain(server.redirect_listen)
            .collect();
        NetPolicy {
            allowed_networks: settings.cameras.allowed_networks.clone(),
            own_listen,
            resolve_timeout: RESOLVE_TIMEOUT,
        }
    }
}

/// Why a URL may not be connected to. Messages are sentences fit for a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The name did not resolve.
    #[error("cannot find the address of {host}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// Resolution took too long.
    #[error("finding the address of {host} took more than {secs} s")]
    Timeout {
        /// The host name.
        host: String,
        /// The limit, in seconds.
        secs: u64,
    },
    /// The name resolved to nothing.
    #[error("{host} has no address")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// An address the default rules refuse.
    #[error(
        "{subject} is {why}; an admin can allow it by adding its range to \
         cameras.allowed_networks"
    )]
    Refused {
        /// The host, with the address it resolved to when that differs.
        subject: String,
        /// The refused address.
        addr: IpAddr,
        /// What kind of address it is.
        why: &'static str,
    },
    /// One of Vigil's own listeners.
    #[error("{subject} is Vigil itself; a camera or webhook cannot point back at Vigil")]
    Itself {
        /// The host, with the address it resolved to when that differs.
        subject: String,
        /// The refused address.
        addr: SocketAddr,
    },
}

impl From<GuardError> for crate::Error {
    fn from(e: GuardError) -> Self {
        crate::Error::Invalid(e.to_string())
    }
}

/// Resolves `url`'s host and checks every address; on success returns them (port
/// included), and the caller connects to these and nothing else.
pub async fn resolve_and_check(
    url: &NetworkUrl,
    policy: &NetPolicy,
) -> Result<Vec<SocketAddr>, GuardError> {
    let port = url.port();
    let (host, addrs) = match url.host() {
        Host::Ipv4(ip) => (ip.to_string(), vec![SocketAddr::new(IpAddr::V4(*ip), port)]),
        Host::Ipv6(ip) => (ip.to_string(), vec![SocketAddr::new(IpAddr::V6(*ip), port)]),
        Host::Domain(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            let found = tokio::time::timeout(policy.resolve_timeout, lookup)
                .await
                .map_err(|_| GuardError::Timeout {
                    host: name.clone(),
                    secs: policy.resolve_timeout.as_secs(),
                })?
                .map_err(|e| GuardError::Resolve {
                    host: name.clone(),
                    reason: e.to_string(),
                })?;
            (name.clone(), found.collect())
        }
    };
    check_resolved(&host, &addrs, policy)
}

/// Checks addresses `host` resolved to (by whatever means): all must pass. Returns them
/// without duplicates, in the resolver's order.
pub fn check_resolved(
    host: &str,
    addrs: &[SocketAddr],
    policy: &NetPolicy,
) -> Result<Vec<SocketAddr>, GuardError> {
    if addrs.is_empty() {
        return Err(GuardError::NoAddress {
            host: host.to_string(),
        });
    }
    let mut out: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        check_addr(host, *addr, policy)?;
        if !out.contains(addr) {
            out.push(*addr);
        }
    }
    Ok(out)
}

/// Checks one address `host` resolved to.
pub fn check_addr(host: &str, addr: SocketAddr, policy: &NetPolicy) -> Result<(), GuardError> {
    let ip = addr.ip();
    let subject = if host == ip.to_string() {
        host.to_string()
    } else {
        format!("{host} ({ip})")
    };
    if is_itself(addr, &policy.own_listen) {
        return Err(GuardError::Itself { subject, addr });
    }
    match refusal(ip) {
        Some(why) if !is_allowed(ip, &policy.allowed_networks) => Err(GuardError::Refused {
            subject,
            addr: ip,
            why,
        }),
        _ => Ok(()),
    }
}

/// What kind of refused address `ip` is, or `None` when the default rules allow it.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => {
            if METADATA_V6.contains(&v6) {
                return Some("a cloud metadata address");
            }
            if let Some(v4) = embedded_v4(v6) {
                return refusal_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_unspecified() {
                Some("an unspecified address (this machine)")
            } else if v6.is_loopback() {
                Some("a loopback address (this machine)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, ..] = ip.octets();
    if METADATA_V4.contains(&ip) {
        Some("a cloud metadata address")
    } else if ip.is_loopback() {
        Some("a loopback address (this machine)")
    } else if a == 0 {
        // 0.0.0.0/8 "this network": Linux connects 0.0.0.0 to this machine.
        Some("an unspecified address (this machine)")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else if a >= 240 {
        Some("a reserved address")
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for, in the forms that reach it: mapped
/// (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`, not `::` or `::1`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Whether an admin allowed `ip`, directly or through the IPv4 address it embeds.
fn is_allowed(ip: IpAddr, allowed: &[IpNet]) -> bool {
    let v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    allowed
        .iter()
        .any(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)))
}

/// Whether `addr` reaches one of Vigil's own listeners.
fn is_itself(addr: SocketAddr, own: &[SocketAddr]) -> bool {
    let ip = canonical(addr.ip());
    own.iter().any(|listen| {
        listen.port() == addr.port()
            && (canonical(listen.ip()) == ip
                || (listen.ip().is_unspecified() && is_this_machine(ip)))
    })
}

/// IPv4-mapped IPv6 addresses compared as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address of this machine: binding a socket to it succeeds only then
/// (no interface listing needed).
fn is_this_machine(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{SourceRules, SourceUrl};

    fn url(text: &str) -> NetworkUrl {
        let rules = SourceRules {
            files_dir: "/nonexistent".into(),
        };
        SourceUrl::parse(text, &rules)
            .unwrap()
            .network()
            .unwrap()
            .clone()
    }

    fn policy(allowed: &[&str]) -> NetPolicy {
        NetPolicy {
            allowed_networks: allowed.iter().map(|n| n.parse().unwrap()).collect(),
            own_listen: vec!["127.0.0.1:8000".parse().unwrap()],
            resolve_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn refuses_this_machine_link_local_metadata_and_friends() {
        let cases = [
            (
                "rtsp://127.0.0.1/s",
                "127.0.0.1 is a loopback address (this machine)",
            ),
            ("rtsp://127.8.9.10:8554/s", "a loopback address"),
            ("http://[::1]/x", "::1 is a loopback address"),
            (
                "http://[::ffff:127.0.0.1]/x",
                "::ffff:127.0.0.1 is a loopback address",
            ),
            ("http://[::127.0.0.1]/x", "a loopback address"),
            ("http://[64:ff9b::7f00:1]/x", "a loopback address"),
            ("http://[2002:7f00:1::]/x", "a loopback address"),
            ("http://0.0.0.0/x", "an unspecified address"),
            ("http://0.1.2.3/x", "an unspecified address"),
            ("http://[::]/x", "an unspecified address"),
            (
                "http://169.254.169.254/latest/meta-data/",
                "a cloud metadata address",
            ),
            (
                "http://[::ffff:169.254.169.254]/",
                "a cloud metadata address",
            ),
            ("http://[fd00:ec2::254]/", "a cloud metadata address"),
            ("http://100.100.100.200/", "a cloud metadata address"),
            ("http://169.254.10.20/", "a link-local address"),
            ("http://[fe80::1]/", "a link-local address"),
            ("rtsp://239.1.2.3/s", "a multicast address"),
            ("rtsp://[ff02::1]/s", "a multicast address"),
            ("http://255.255.255.255/", "the broadcast address"),
            ("http://250.1.1.1/", "a reserved address"),
            ("rtsp://0x7f.1/s", "127.0.0.1 is a loopback address"),
        ];
        for (text, expected) in cases {
            let err = resolve_and_check(&url(text), &policy(&[]))
                .await
                .unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{text}: `{message}`");
            assert!(message.contains("cameras.allowed_networks"), "{message}");
        }
    }

    #[tokio::test]
    async fn a_name_is_judged_by_what_it_resolves_to() {
        // `localhost` is the one name this machine resolves without a network.
        let err = resolve_and_check(&url("rtsp://localhost:8554/s"), &policy(&[]))
            .await
            .unwrap_err();
        assert!(matches!(err, GuardError::Refused { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("localhost (127.0.0.1) is a loopback address")
                || err
                    .to_string()
                    .starts_with("localhost (::1) is a loopback address"),
            "{err}"
        );
        // Allowing loopback lets it through, with the resolved addresses returned.
        let addrs = resolve_and_check(
            &url("rtsp://localhost:8554/s"),
            &policy(&["127.0.0.0/8", "::1/128"]),
        )
        .await
        .unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8554));
    }

    #[tokio::test]
    async fn an_unknown_name_is_a_plain_refusal() {
        let err = resolve_and_check(&url("rtsp://no-such-camera.invalid/s"), &policy(&[]))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot find the address of no-such-camera.invalid"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn lan_addresses_pass_and_come_back_with_the_port() {
        for (text, addr) in [
            ("rtsp://192.168.1.10/s", "192.168.1.10:554"),
            ("http://10.1.2.3:8080/x", "10.1.2.3:8080"),
            ("rtsps://172.16.5.5/s", "172.16.5.5:322"),
            ("https://[fd12:3456::10]/x", "[fd12:3456::10]:443"),
            ("http://100.64.1.1/x", "100.64.1.1:80"),
            ("http://203.0.113.7/x", "203.0.113.7:80"),
            ("http://[::ffff:192.168.1.10]/x", "[::ffff:192.168.1.10]:80"),
        ] {
            let addrs = resolve_and_check(&url(text), &policy(&[])).await.unwrap();
            assert_eq!(addrs, vec![addr.parse().unwrap()], "{text}");
        }
    }

    #[tokio::test]
    async fn allowed_networks_lift_the_refusal_for_their_range_only() {
        let allow = policy(&["127.0.0.1/32", "169.254.0.0/16"]);
        for text in [
            "rtsp://127.0.0.1:8554/s",
            "http://[::ffff:127.0.0.1]:8554/x",
            "http://169.254.169.254/",
            "http://169.254.3.4/",
        ] {
            assert!(
                resolve_and_check(&url(text), &allow).await.is_ok(),
                "{text}"
            );
        }
        for text in ["rtsp://127.0.0.2/s", "http://[::1]/x", "http://[fe80::1]/"] {
            assert!(
                resolve_and_check(&url(text), &allow).await.is_err(),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn vigil_itself_stays_refused_whatever_is_allowed() {
        let allow = policy(&["127.0.0.0/8", "::/0", "0.0.0.0/0"]);
        let err = resolve_and_check(&url("http://127.0.0.1:8000/api/v1/health"), &allow)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1 is Vigil itself; a camera or webhook cannot point back at Vigil"
        );
        assert!(matches!(
            resolve_and_check(&url("http://[::ffff:127.0.0.1]:8000/"), &allow).await,
            Err(GuardError::Itself { .. })
        ));
        // Another port on the same machine is only loopback, which this policy allows.
        assert!(resolve_and_check(&url("http://127.0.0.1:8001/"), &allow)
            .await
            .is_ok());

        // Listening on every address: any address of this machine on that port is Vigil.
        let wildcard = NetPolicy {
            own_listen: vec!["0.0.0.0:8443".parse().unwrap()],
            ..allow
        };
        assert!(matches!(
            resolve_and_check(&url("https://127.0.0.1:8443/"), &wildcard).await,
            Err(GuardError::Itself { .. })
        ));
        assert!(
            resolve_and_check(&url("https://192.0.2.1:8443/"), &wildcard)
                .await
                .is_ok()
        );
    }

    #[test]
    fn one_bad_address_among_good_ones_refuses_the_name() {
        let addrs: Vec<SocketAddr> = vec![
            "192.168.1.10:554".parse().unwrap(),
            "127.0.0.1:554".parse().unwrap(),
        ];
        let err = check_resolved("cam.example", &addrs, &policy(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cam.example (127.0.0.1) is a loopback address (this machine); an admin can allow \
             it by adding its range to cameras.allowed_networks"
        );
        let twice: Vec<SocketAddr> = vec![addrs[0], addrs[0]];
        assert_eq!(
            check_resolved("cam.example", &twice, &policy(&[])).unwrap(),
            vec![addrs[0]]
        );
        assert!(matches!(
            check_resolved("cam.example", &[], &policy(&[])),
            Err(GuardError::NoAddress { .. })
        ));
    }

    #[test]
    fn policy_comes_from_the_settings() {
        let mut settings = Settings::default();
        settings.cameras.allowed_networks = vec!["10.9.0.0/16".parse().unwrap()];
        settings.server.metrics_listen = Some("127.0.0.1:9100".parse().unwrap());
        let policy = NetPolicy::from_settings(&settings);
        assert_eq!(policy.allowed_networks, settings.cameras.allowed_networks);
        assert_eq!(
            policy.own_listen,
            vec![settings.server.listen, "127.0.0.1:9100".parse().unwrap()]
        );
    }
}
