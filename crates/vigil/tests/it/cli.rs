//! The `vigil` command as an operator uses it.

use crate::harness::vigil;

#[test]
fn production_without_a_secret_refuses_to_start_and_names_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_PROFILE", "production")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("VIGIL_SECRET_KEY"), "{stderr}");
    assert!(stderr.contains("secret_key"), "{stderr}");
}

#[test]
fn production_refuses_short_secrets_debug_and_insecure_cookies_all_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_PROFILE", "production")
        .env("VIGIL_SECRET_KEY", "too-short")
        .env("VIGIL_DEBUG", "true")
        .env("VIGIL_COOKIES__SECURE", "false")
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in ["VIGIL_SECRET_KEY", "VIGIL_DEBUG", "VIGIL_COOKIES__SECURE"] {
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
}

#[test]
fn unknown_settings_are_rejected_with_their_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[server]\nlistn = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    let out = vigil()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

#[test]
fn config_show_layers_file_dotenv_and_env_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("vigil.toml"),
        "[server]\nlisten = \"127.0.0.1:9001\"\nrequest_timeout_secs = 11\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join(".env"),
        "VIGIL_SERVER__REQUEST_TIMEOUT_SECS=12\nVIGIL_SECRET_KEY=dotenv-secret-value-that-is-long-enough-000\n",
    )
    .expect("write");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_SERVER__REQUEST_TIMEOUT_SECS", "13")
        .env("DATABASE_URL", "postgres://vigil:hunter2@db.example/vigil")
        .args(["config", "show"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("listen = \"127.0.0.1:9001\""),
        "file layer: {shown}"
    );
    assert!(
        shown.contains("request_timeout_secs = 13"),
        "env wins over .env and file: {shown}"
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("dotenv-secret-value"),
        "secrets masked: {shown}"
    );
    assert!(shown.contains("********"), "{shown}");
}

#[test]
fn global_data_dir_is_honoured_by_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("elsewhere");
    let out = vigil()
        .current_dir(dir.path())
        .arg("migrate")
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("vigil.db").exists());
    assert!(!dir.path().join("data").exists());
}

#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = crate::harness::ChildServer::start(dir.path());
    assert_eq!(server.terminate(), Some(0), "graceful shutdown exits 0");
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(log.contains("shutdown complete"), "{log}");
}

/// Plain HTTP on the LAN in development sends passwords in clear: refused at start with
/// the way out (HTTPS) and the explicit opt-out named; with the opt-out it serves.
#[test]
fn development_on_the_lan_without_tls_is_refused_unless_opted_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::harness::free_port();
    let listen = format!("0.0.0.0:{port}");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_VISION__ENABLED", "false")
        .args(["serve", "--listen", &listen])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in ["server.listen", "vigil tls self-signed", "--insecure-lan"] {
        assert!(stderr.contains(needle), "{needle} not named in: {stderr}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "refused before anything was created"
    );

    let log = dir.path().join("serve.log");
    let log_file = std::fs::File::create(&log).expect("log");
    let mut child = vigil()
        .current_dir(dir.path())
        .env("VIGIL_VISION__ENABLED", "false")
        .args(["serve", "--insecure-lan", "--listen", &listen])
        .stdout(log_file.try_clone().expect("clone"))
        .stderr(log_file)
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut up = false;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        up,
        "--insecure-lan serves: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn production_without_a_public_url_refuses_to_start_and_names_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = vigil()
        .current_dir(dir.path())
        .env("VIGIL_PROFILE", "production")
        .env(
            "VIGIL_SECRET_KEY",
            "kq3M9vX2pL7rT1wZ8yB4nC6dF0gH5jA2sE9uR3tY-test-only",
        )
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.public_url"), "{stderr}");
    assert!(stderr.contains("VIGIL_AUTH__PUBLIC_URL"), "{stderr}");
}

/// Logs name users and addresses: the log folder `vigil` creates is owner-only even
/// under umask 000, so the files in it (whose mode the appender does not let us set)
/// are out of other users' reach.
#[test]
fn the_log_folder_is_0700_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let out = crate::harness::vigil_with_umask("000")
        .current_dir(dir.path())
        .env("VIGIL_LOG__DIR", &logs)
        .arg("migrate")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&logs)
        .expect("log folder")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    let files = std::fs::read_dir(&logs).expect("read logs").count();
    assert!(files > 0, "migrate logged to a file");
}
