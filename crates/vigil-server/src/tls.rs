//! TLS configuration and hot reload: the certificate and key are re-read on SIGHUP and
//! whenever either file changes (certbot and cert-manager replace them in place), without
//! dropping connections. A bad new pair is logged and the old one stays in use.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use vigil_core::runtime::CancellationToken;

/// Installs the process-wide rustls crypto provider (ring) once.
pub fn install_crypto_provider() {
    // Err means another part of the process installed one already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the certificate chain and key.
pub async fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    install_crypto_provider();
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

async fn reload(config: &RustlsConfig, cert: &Path, key: &Path, why: &str) {
    match config.reload_from_pem_file(cert, key).await {
        Ok(()) => tracing::info!(reason = why, cert = %cert.display(), "TLS certificate reloaded"),
        Err(e) => {
            tracing::error!(reason = why, error = %e, "TLS certificate reload failed; keeping the previous one")
        }
    }
}

/// Watches for SIGHUP and file changes until `stop` is cancelled, reloading `config`.
/// Started as the `tls-watcher` task of the supervised runtime.
pub async fn watch(config: RustlsConfig, cert: PathBuf, key: PathBuf, stop: CancellationToken) {
    let (tx, mut rx) = mpsc::channel::<()>(8);
    let watched: Vec<PathBuf> = [&cert, &key]
        .iter()
        .filter_map(|p| {
            std::fs::canonicalize(p)
                .ok()
                .or_else(|| Some(p.to_path_buf()))
        })
        .collect();
    let names: Vec<_> = [&cert, &key]
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = event
                .paths
                .iter()
                .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)));
            if relevant {
                let _ = tx.try_send(());
            }
        }
    });
    // Watch the folders, not the files: replacing a file by rename would end a file watch.
    let _watcher = match watcher {
        Ok(mut w) => {
            for dir in watched.iter().filter_map(|p| p.parent()) {
                if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the TLS folder; SIGHUP still reloads");
                }
            }
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch TLS files; SIGHUP still reloads");
            None
        }
    };

    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                reload(&config, &cert, &key, "SIGHUP").await;
            }
            Some(()) = rx.recv() => {
                // Writers replace the two files one after the other: let both land.
                tokio::time::sleep(Duration::from_millis(500)).await;
                while rx.try_recv().is_ok() {}
                reload(&config, &cert, &key, "file changed").await;
            }
        }
    }
    tracing::info!("TLS certificate watcher stopped for shutdown");
}
