//! The camera-URL invariants over the committed seed corpus (`fuzz/corpus/source_url/`)
//! and simple mutations of it: parsing never panics, the redacted form never shows a
//! password or a secret query value, parsing the redacted form never panics, and an
//! accepted URL parses back to itself from its exposed text.
//!
//! This is a plain test rather than a cargo-fuzz target for now: the parser lives in
//! vigil-core, and a fuzz crate depending on vigil-core compiles SQL, Redis, S3 and the
//! inference engines into every fuzz build (most of CI's fuzz budget). Moving the parser
//! into a dependency-light module brings the fuzz target back (camera issue).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::guard::{check_resolved, refusal};
use super::secret_url::{is_secret_name, MASK};
use super::{NetPolicy, NetworkUrl, SourceRules, SourceUrl};

/// A camera files folder holding one clip, so `file` URLs can be accepted too.
fn rules() -> &'static SourceRules {
    static RULES: OnceLock<SourceRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let dir: PathBuf = std::env::temp_dir().join("vigil-corpus-source-url");
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

/// One input through every invariant; panics (failing the test) when one breaks.
fn check(data: &[u8]) {
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
}

/// The seed corpus, each file whole, then each cut at every byte and with each byte
/// replaced by characters that matter to URL parsing.
#[test]
fn seed_corpus_and_its_mutations_keep_the_invariants() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/source_url");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
        let data = std::fs::read(entry.expect("entry").path()).expect("a seed");
        seeds += 1;
        check(&data);
        for cut in 0..data.len() {
            check(&data[..cut]);
            for b in [
                b'@', b':', b'/', b'%', b'?', b'#', b'[', b']', b'&', b'=', 0x7f, b' ',
            ] {
                let mut m = data.clone();
                m[cut] = b;
                check(&m);
            }
        }
    }
    assert!(seeds >= 5, "the corpus is in {}", dir.display());
}
