//! Native HTTPS: a certificate from `vigil tls self-signed`, a real TLS client trusting
//! only it, HSTS, the HTTP→HTTPS redirect, and hot reload when the files change.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::harness::{free_port, vigil, vigil_with_umask, Db, TestServer};

fn self_signed(dir: &Path) -> (Vec<u8>, std::path::PathBuf, std::path::PathBuf) {
    let out = vigil()
        .args([
            "tls",
            "self-signed",
            "--host",
            "localhost",
            "--host",
            "127.0.0.1",
            "--force",
            "--out-dir",
        ])
        .arg(dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key is readable by its owner only");
    (std::fs::read(&cert).expect("cert"), cert, key)
}

/// Under umask 000, over a stale world-writable temp file and a symlink planted where
/// the other temp file goes: the key still ends 0600 and the link's target is untouched.
#[test]
fn the_key_is_0600_whatever_the_umask_and_leftover_temp_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join("key.tmp");
    std::fs::write(&stale, "stale").expect("stale temp");
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").expect("victim");
    std::os::unix::fs::symlink(&victim, dir.path().join("cert.tmp")).expect("symlink");
    let out = vigil_with_umask("000")
        .args(["tls", "self-signed", "--host", "localhost", "--out-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .expect(name)
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("key.pem"), 0o600);
    assert_eq!(mode("cert.pem"), 0o644);
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    assert!(std::fs::symlink_metadata(dir.path().join("cert.pem"))
        .expect("cert")
        .file_type()
        .is_file());
}

fn client_trusting(pem: &[u8]) -> reqwest::Client {
    vigil_server::install_crypto_provider();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem).expect("pem")])
        .redirect(reqwest::redirect::Policy::none())
        .resolve("localhost", "127.0.0.1:0".parse().expect("addr"))
        .build()
        .expect("client")
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_serves_hsts_and_redirects_plain_http() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (pem, cert, key) = self_signed(certs.path());
    let redirect_port = free_port();
    let s = TestServer::start_with(Db::Sqlite, |c| {
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key.clone());
        c.server.redirect_listen =
            Some(format!("127.0.0.1:{redirect_port}").parse().expect("addr"));
    })
    .await;
    let port = s.addr.port();
    let client = client_trusting(&pem);
    let resp = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("TLS request");
    assert_eq!(resp.status(), StatusCode::OK);
    let hsts = resp
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .expect("HSTS");
    assert!(hsts.contains("max-age="), "{hsts}");

    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirected = plain
        .get(format!("http://localhost:{redirect_port}/api/v1/docs?x=1"))
        .send()
        .await
        .expect("plain request");
    assert_eq!(redirected.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        redirected.headers()["location"],
        format!("https://localhost:{port}/api/v1/docs?x=1").as_str()
    );

    // A client that does not trust our certificate is refused.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .expect("client");
    assert!(stranger
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .is_err());
    s.stop().await;
}

#[tokio::test]
async fn a_replaced_certificate_is_picked_up_without_a_restart() {
    let certs = tempfile::tempdir().expect("tempdir");
    let (old_pem, cert, key) = self_signed(certs.path());
    let s = TestServer::start_with(Db::Sqlite, |c| {
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key.clone());
    })
    .await;
    let url = format!("https://localhost:{}/healthz", s.addr.port());
    assert!(client_trusting(&old_pem).get(&url).send().await.is_ok());

    let (new_pem, _, _) = self_signed(certs.path());
    assert_ne!(old_pem, new_pem);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if client_trusting(&new_pem).get(&url).send().await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.stop().await;
}
