//! Camera source URLs as a user might type them: parsing never panics, the redacted form
//! never shows a password or a secret query value, parsing the redacted form never panics,
//! and an accepted URL parses back to itself from its exposed text.

#![no_main]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_core::net::guard::{check_resolved, refusal};
use vigil_core::net::secret_url::{is_secret_name, MASK};
use vigil_core::net::{NetPolicy, NetworkUrl, SourceRules, SourceUrl};

/// A camera files folder holding one clip, so `file` URLs can be accepted too.
fn rules() -> &'static SourceRules {
    static RULES: OnceLock<SourceRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let dir: PathBuf = std::env::temp_dir().join("vigil-fuzz-source-url");
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        std::fs::write(dir.join("clip.mp4"), b"clip").expect("a clip");
        SourceRules { files_dir: dir }
    })
}

/// Every secret-named query parameter with a value shows only the mask.
fn query_is_masked(query: &str) {
    for pair in query.split(['&', ';']) {
        if let Some((raw_name, value)) = pair.split_once('=') {
            let name: String = url::form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            if is_secret_name(&name) {
                assert!(value.is_empty() || value == MASK, "secret shown: {pair}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = NetworkUrl::parse_http(text);
    let Ok(source) = SourceUrl::parse(text, rules()) else {
        return;
    };
    let redacted = source.redacted();
    assert_eq!(source.to_string(), redacted);
    assert_eq!(format!("{source:?}"), format!("SourceUrl({redacted})"));

    // The exposed text is the same source.
    let again = SourceUrl::parse(&source.expose(), rules()).expect("exposed text parses");
    assert_eq!(again, source);

    let reparsed = SourceUrl::parse(&redacted, rules());
    if let Some(net) = source.network() {
        let shown = reparsed
            .expect("a redacted network URL parses")
            .network()
            .cloned()
            .expect("and stays a network URL");
        if net.has_password() {
            assert_eq!(shown.password(), Some(MASK));
            let password = net.password().unwrap_or_default();
            if password != MASK {
                assert!(!redacted.contains(&format!(":{password}@")));
            }
        }
        if let Some(query) = shown.query() {
            query_is_masked(query);
        }
        if let Some(ip) = net.ip_literal() {
            let _ = refusal(ip);
            let policy = NetPolicy {
                allowed_networks: Vec::new(),
                own_listen: vec![SocketAddr::from(([127, 0, 0, 1], 8000))],
                resolve_timeout: std::time::Duration::from_secs(1),
            };
            let _ = check_resolved(&ip.to_string(), &[SocketAddr::new(ip, net.port())], &policy);
        }
    }
});
