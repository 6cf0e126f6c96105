//! `vigil tls self-signed`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
use vigil_config::Settings;

/// `vigil tls …`.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Generate a self-signed certificate and key for LAN use (browsers allow the camera
    /// only over HTTPS or on localhost). Safe any time.
    SelfSigned(SelfSignedArgs),
}

/// `vigil tls self-signed` options.
#[derive(Debug, Args)]
pub struct SelfSignedArgs {
    /// Host names or IP addresses the certificate is for (repeatable).
    #[arg(long = "host", value_name = "NAME|IP", required = true)]
    pub hosts: Vec<String>,
    /// Folder for cert.pem and key.pem [default: <data-dir>/tls].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Validity in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=825))]
    pub days: u32,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}
/// Writes `cert.pem` and `key.pem` (mode 0600) for the given hosts.
pub fn self_signed(settings: &Settings, args: &SelfSignedArgs) -> anyhow::Result<()> {
    let dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("tls"));
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !args.force && (cert_path.exists() || key_path.exists()) {
        bail!(
            "{} or {} already exists; pass --force to replace them",
            cert_path.display(),
            key_path.display()
        );
    }
    let mut params = CertificateParams::new(args.hosts.clone()).context("invalid host name")?;
    params
        .distinguished_name
        .push(DnType::CommonName, args.hosts[0].clone());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Vigil self-signed");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(args.days));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().context("generating a key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;

    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    println!("certificate: {}", cert_path.display());
    println!("private key: {}", key_path.display());
    println!(
        "valid for {} days for: {}",
        args.days,
        args.hosts.join(", ")
    );
    println!(
        "serve it with: vigil serve --listen 0.0.0.0:8443 --tls-cert {} --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

/// Writes atomically (temp file + fsync + rename) with the given mode, whatever the
/// umask. The temp file is made anew: a stale one would keep its old mode, and a
/// symlink planted there would be followed.
fn write_file(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the stale {}", tmp.display()));
        }
        _ => {}
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    // The umask may have taken bits from `mode` (for the certificate's 0644).
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
