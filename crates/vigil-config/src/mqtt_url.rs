//! The MQTT broker address (`mqtt.url`): `mqtt://host[:port]`, parsed without a URL crate
//! so the fuzz build can include this file on its own (`fuzz/fuzz_targets/mqtt_url.rs`).
//!
//! Only plain `mqtt://` is accepted: the client is built without a TLS stack (one more
//! rustls and webpki version in the tree for a broker that usually sits on the same
//! host or LAN); `mqtts://` is refused with a sentence saying so, never silently
//! downgraded. Credentials belong in `mqtt.username` / `mqtt.password`, not in the URL,
//! so the URL can be logged.

/// The port when the URL names none.
pub const DEFAULT_PORT: u16 = 1883;

/// A broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Parses `mqtt://host[:port][/]`. The error is a sentence for the configuration report.
pub fn parse_mqtt_url(input: &str) -> Result<MqttUrl, String> {
    if input.len() > 512 {
        return Err("is longer than 512 characters".into());
    }
    let Some((scheme, rest)) = input.split_once("://") else {
        return Err("must look like mqtt://host:1883".into());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "mqtt" | "tcp" => {}
        "mqtts" | "ssl" | "tls" => {
            return Err(
                "mqtts:// is not supported by this build (no TLS stack for MQTT); use \
                 mqtt:// to a broker on this host or LAN, or a local TLS bridge"
                    .into(),
            )
        }
        _ => return Err("must start with mqtt://".into()),
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['@', '/', '?', '#']) {
        return Err(
            "must be only mqtt://host:port (user and password go in mqtt.username and \
             mqtt.password; no path)"
                .into(),
        );
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err("has an unclosed [ in the host".into());
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("has text after the host")?),
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("has an invalid IPv6 address".into());
        }
        (host, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.contains(':') {
            return Err("write an IPv6 address in brackets: mqtt://[::1]:1883".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err("has characters a host name cannot have".into());
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("has an invalid port `{p}` (1–65535)")),
            Ok(p) => p,
        },
    };
    Ok(MqttUrl {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_and_unsupported_ones_say_why() {
        let ok = |s: &str| parse_mqtt_url(s).unwrap();
        assert_eq!(
            ok("mqtt://127.0.0.1:1883"),
            MqttUrl {
                host: "127.0.0.1".into(),
                port: 1883
            }
        );
        assert_eq!(ok("mqtt://broker.lan/").port, DEFAULT_PORT);
        assert_eq!(ok("MQTT://[::1]:1884").host, "::1");
        for bad in [
            "broker:1883",
            "http://broker",
            "mqtt://",
            "mqtt://:1883",
            "mqtt://user:pw@broker",
            "mqtt://broker:0",
            "mqtt://broker:99999",
            "mqtt://broker/topic",
            "mqtt://[::1",
            "mqtt://[zz]:1",
            "mqtt://bro ker",
            "mqtt://a:b:1883",
        ] {
            assert!(parse_mqtt_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(parse_mqtt_url("mqtts://broker:8883")
            .unwrap_err()
            .contains("not supported"));
    }

    /// Every file of the `mqtt_url` fuzz corpus through the fuzz target's checks: an
    /// accepted URL, written back as `mqtt://host:port`, parses to the same broker.
    #[test]
    fn fuzz_corpus_broker_urls_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/mqtt_url");
        let mut accepted = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(text) = std::str::from_utf8(&bytes) else {
                continue;
            };
            let Ok(broker) = parse_mqtt_url(text) else {
                continue;
            };
            let host = if broker.host.contains(':') {
                format!("[{}]", broker.host)
            } else {
                broker.host.clone()
            };
            let again = parse_mqtt_url(&format!("mqtt://{host}:{}", broker.port));
            assert_eq!(again, Ok(broker), "{text:?}");
            accepted += 1;
        }
        assert!(accepted >= 3, "the corpus holds valid URLs ({accepted})");
    }
}
