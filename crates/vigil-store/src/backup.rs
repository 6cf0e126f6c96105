//! Online, consistent backups and verified restores.
//!
//! A backup is one uncompressed tar archive:
//! - `database.sqlite` (SQLite, a `VACUUM INTO` snapshot taken while the server runs) or
//!   `database.pgdump` (PostgreSQL, `pg_dump --format=custom`, itself a consistent snapshot);
//! - `blobs/<key>` for every blob present after the snapshot was taken (blobs are written
//!   before the rows that reference them and never modified, so every blob the snapshot
//!   references is there);
//! - `manifest.json` last, with the SHA-256 and size of every other entry, and the audit
//!   chain's head at the time (its newest record's sequence number and MAC), a copy kept
//!   outside the database so that a later cut of the newest audit records shows
//!   (`vigil verify --head-from ARCHIVE`).
//!
//! Restore extracts into a staging folder, checks every entry against the manifest (and
//! SQLite's `PRAGMA integrity_check`), and only then writes blobs and finally swaps the
//! database into place. A damaged archive changes nothing.

use std::collections::BTreeMap;
use std::fs::{self, File, Permissions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::{now_ms, private_fs, sha256_hex, Backend, BlobKey, BlobStore, Database, StoreError};

/// Name of the archive format, checked on restore.
pub const FORMAT: &str = "vigil-backup";
/// Version of the archive layout.
pub const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const SQLITE_ENTRY: &str = "database.sqlite";
const PGDUMP_ENTRY: &str = "database.pgdump";

/// Checksum and size of one archived file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySum {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The audit chain's head recorded in a manifest: the newest record's sequence number
/// and MAC, read just before the database snapshot (so the archived chain reaches it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number of the newest record.
    pub seq: i64,
    /// Its MAC, lowercase hex.
    pub mac: String,
}

/// The manifest stored as the last entry of every archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of the Vigil that wrote the archive.
    pub vigil_version: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Migration versions applied in the archived database.
    pub schema_versions: Vec<i64>,
    /// Every entry except the manifest, by archive path.
    pub entries: BTreeMap<String, EntrySum>,
    /// The audit chain's head when the backup was taken (`None` for an empty log, and in
    /// archives written before Vigil recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<AuditHead>,
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The archive.
    pub path: PathBuf,
    /// Number of blobs archived.
    pub blobs: usize,
    /// Archive size in bytes.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// Blobs written to the blob store.
    pub blobs: usize,
    /// Backend the database was restored into.
    pub backend: Backend,
}

/// Writes a consistent backup of `db` and `blobs` to `out` (atomically: a `.part` file
/// renamed at the end), with `audit_head` in its manifest. Safe while the server runs.
pub async fn create_backup(
    db: &Database,
    database_url: &str,
    blobs: &dyn BlobStore,
    out: &Path,
    audit_head: Option<AuditHead>,
) -> Result<BackupReport, StoreError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    private_fs::create_missing_dirs(parent)
        .map_err(StoreError::io(format!("creating {}", parent.display())))?;
    // A temporary folder is created 0700, so the snapshot in it is private too.
    let staging = tempfile::Builder::new()
        .prefix(".vigil-backup-")
        .tempdir_in(parent)
        .map_err(StoreError::io(format!(
            "creating a staging folder in {}",
            parent.display()
        )))?;

    // 1. The database snapshot.
    let (db_entry, db_file) = match db.backend() {
        Backend::Sqlite => {
            let snap = staging.path().join(SQLITE_ENTRY);
            let target = snap.to_string_lossy().replace('\'', "''");
            sqlx::query(&format!("VACUUM INTO '{target}'"))
                .execute(db.pool())
                .await
                .map_err(StoreError::db(
                    "taking a consistent SQLite snapshot (VACUUM INTO)",
                ))?;
            sqlite_integrity_check(&snap).await?;
            (SQLITE_ENTRY, snap)
        }
        Backend::Postgres => {
            let dump = staging.path().join(PGDUMP_ENTRY);
            let conn = PgConnection::from_url(database_url)?;
            let mut cmd = Command::new("pg_dump");
            cmd.arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(&dump);
            conn.run(&mut cmd, "pg_dump", staging.path())?;
            (PGDUMP_ENTRY, dump)
        }
    };
    let schema_versions = db.migration_status().await?.applied;

    // 2. The archive: database, blobs, manifest last.
    let part = out.with_extension("part");
    // 0600 whatever the umask: the archive holds every password hash and secret.
    let file = private_fs::create_private_file(&part)
        .map_err(StoreError::io(format!("creating {}", part.display())))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    let mut entries = BTreeMap::new();

    let db_bytes = fs::read(&db_file).map_err(StoreError::io("reading the database snapshot"))?;
    entries.insert(db_entry.to_string(), sum(&db_bytes));
    append(&mut tar, db_entry, &db_bytes)?;
    drop(db_bytes);

    let keys = blobs.list().await?;
    let mut archived = 0;
    for key in &keys {
        // A blob deleted since the listing was removed by a user after the snapshot; the
        // snapshot may still reference it, so say so rather than fail the whole backup.
        let Some(data) = blobs.get(key).await? else {
            tracing::warn!(blob = %key, "blob disappeared during backup (deleted meanwhile)");
            continue;
        };
        let name = format!("blobs/{key}");
        entries.insert(name.clone(), sum(&data));
        append(&mut tar, &name, &data)?;
        archived += 1;
    }

    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        vigil_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now_ms(),
        backend: db.backend().as_str().into(),
        schema_versions,
        entries,
        audit_head,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| StoreError::Archive(format!("cannot encode the manifest: {e}")))?;
    append(&mut tar, MANIFEST, &manifest_json)?;

    let writer = tar
        .into_inner()
        .map_err(StoreError::io("finishing the archive"))?;
    let file = writer
        .into_inner()
        .map_err(|e| StoreError::io("flushing the archive")(e.into_error()))?;
    file.sync_all()
        .map_err(StoreError::io("syncing the archive"))?;
    drop(file);
    fs::rename(&part, out).map_err(StoreError::io(format!(
        "moving the archive to {}",
        out.display()
    )))?;
    let bytes = fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        path: out.to_path_buf(),
        blobs: archived,
        bytes,
    })
}

/// The manifest of an archive, read without extracting or checking the other entries
/// (`vigil verify --head-from` needs only the audit head in it).
pub fn read_manifest(archive: &Path) -> Result<Manifest, StoreError> {
    let file =
        File::open(archive).map_err(StoreError::io(format!("opening {}", archive.display())))?;
    let mut tar = tar::Archive::new(file);
    let entries = tar
        .entries()
        .map_err(|e| StoreError::Archive(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| StoreError::Archive(format!("unreadable entry: {e}")))?;
        let is_manifest = entry
            .path()
            .map(|p| p.as_os_str() == MANIFEST)
            .unwrap_or(false);
        if is_manifest {
            let mut buf = Vec::new();
            entry
                .read_to_end(&mut buf)
                .map_err(|e| StoreError::Archive(format!("truncated manifest: {e}")))?;
            return serde_json::from_slice(&buf)
                .map_err(|e| StoreError::Archive(format!("manifest is not valid: {e}")));
        }
    }
    Err(StoreError::Archive(
        "no manifest: the archive is incomplete".into(),
    ))
}

/// Reads an archive into `staging`, checking names and every checksum against the
/// manifest. Returns the manifest when everything matches.
pub fn extract_verified(archive: &Path, staging: &Path) -> Result<Manifest, StoreError> {
    let file =
        File::open(archive).map_err(StoreError::io(format!("opening {}", archive.display())))?;
    let mut tar = tar::Archive::new(file);
    let mut seen: BTreeMap<String, EntrySum> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    fs::create_dir_all(staging.join("blobs"))
        .map_err(StoreError::io("creating the staging folder"))?;

    let entries = tar
        .entries()
        .map_err(|e| StoreError::Archive(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| StoreError::Archive(format!("unreadable entry: {e}")))?;
        if !entry.header().entry_type().is_file() {
            return Err(StoreError::Archive(
                "archive contains a non-file entry".into(),
            ));
        }
        let name = entry
            .path()
            .map_err(|e| StoreError::Archive(format!("bad entry name: {e}")))?
            .to_string_lossy()
            .into_owned();
        // Only names we write are accepted; this also rules out `..` and absolute paths.
        let dest = match name.as_str() {
            MANIFEST => None,
            SQLITE_ENTRY | PGDUMP_ENTRY => Some(staging.join(&name)),
            other => match other.strip_prefix("blobs/").and_then(BlobKey::parse) {
                Some(key) => Some(staging.join("blobs").join(key.as_str())),
                None => return Err(StoreError::Archive(format!("unexpected entry `{other}`"))),
            },
        };
        if seen.contains_key(&name) || (name == MANIFEST && manifest.is_some()) {
            return Err(StoreError::Archive(format!("entry `{name}` appears twice")));
        }
        match dest {
            None => {
                let mut buf = Vec::new();
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| StoreError::Archive(format!("truncated manifest: {e}")))?;
                manifest = Some(
                    serde_json::from_slice(&buf)
                        .map_err(|e| StoreError::Archive(format!("manifest is not valid: {e}")))?,
                );
            }
            Some(dest) => {
                let mut out =
                    File::create(&dest).map_err(StoreError::io("writing to the staging folder"))?;
                let mut hasher = Sha256::new();
                let mut size = 0u64;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = entry.read(&mut buf).map_err(|e| {
                        StoreError::Archive(format!("entry `{name}` is truncated: {e}"))
                    })?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    out.write_all(&buf[..n])
                        .map_err(StoreError::io("writing to the staging folder"))?;
                    size += n as u64;
                }
                out.sync_all()
                    .map_err(StoreError::io("syncing the staging folder"))?;
                seen.insert(
                    name,
                    EntrySum {
                        sha256: hex::encode(hasher.finalize()),
                        size,
                    },
                );
            }
        }
    }

    let manifest = manifest
        .ok_or_else(|| StoreError::Archive("no manifest: the archive is incomplete".into()))?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        return Err(StoreError::Archive(format!(
            "unsupported format {} v{}",
            manifest.format, manifest.format_version
        )));
    }
    for (name, expected) in &manifest.entries {
        match seen.get(name) {
            None => {
                return Err(StoreError::Archive(format!(
                    "`{name}` is listed but missing"
                )))
            }
            Some(actual) if actual != expected => {
                return Err(StoreError::Archive(format!(
                    "`{name}` does not match its checksum"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = seen.keys().find(|k| !manifest.entries.contains_key(*k)) {
        return Err(StoreError::Archive(format!(
            "`{extra}` is not in the manifest"
        )));
    }
    Ok(manifest)
}

/// Where a restore writes.
#[derive(Debug)]
pub enum RestoreTarget<'a> {
    /// An SQLite file (created or replaced).
    Sqlite(&'a Path),
    /// A PostgreSQL database URL.
    Postgres(&'a str),
}

/// Restores `archive` into `target` and `blobs` after verifying it completely.
/// Must not run while a server uses the target.
pub async fn restore_backup(
    archive: &Path,
    target: RestoreTarget<'_>,
    blobs: &dyn BlobStore,
    staging_parent: &Path,
) -> Result<RestoreReport, StoreError> {
    private_fs::create_missing_dirs(staging_parent).map_err(StoreError::io(format!(
        "creating {}",
        staging_parent.display()
    )))?;
    let staging = tempfile::Builder::new()
        .prefix(".vigil-restore-")
        .tempdir_in(staging_parent)
        .map_err(StoreError::io("creating a staging folder"))?;
    let manifest = extract_verified(archive, staging.path())?;

    let backend = match (&target, manifest.backend.as_str()) {
        (RestoreTarget::Sqlite(_), "sqlite") => Backend::Sqlite,
        (RestoreTarget::Postgres(_), "postgres") => Backend::Postgres,
        (_, archived) => {
            return Err(StoreError::Archive(format!(
                "the archive holds a {archived} database; restore it into the same kind of database"
            )))
        }
    };
    if backend == Backend::Sqlite {
        sqlite_integrity_check(&staging.path().join(SQLITE_ENTRY)).await?;
    }

    // Blobs first: a database that references them is only put in place afterwards.
    let mut restored = 0;
    for name in manifest.entries.keys() {
        if let Some(key) = name.strip_prefix("blobs/").and_then(BlobKey::parse) {
            let data = fs::read(staging.path().join("blobs").join(key.as_str()))
                .map_err(StoreError::io("reading a staged blob"))?;
            blobs.put_with_key(&key, Bytes::from(data)).await?;
            restored += 1;
        }
    }

    match target {
        RestoreTarget::Sqlite(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            private_fs::create_missing_dirs(dir)
                .map_err(StoreError::io(format!("creating {}", dir.display())))?;
            // Stale WAL files belong to the old database and must not be replayed into the new one.
            for suffix in ["-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let _ = fs::remove_file(PathBuf::from(p));
            }
            let staged = staging.path().join(SQLITE_ENTRY);
            let incoming = dir.join(".vigil-restore-incoming.db");
            fs::copy(&staged, &incoming)
                .map_err(StoreError::io("copying the restored database"))?;
            fs::set_permissions(&incoming, Permissions::from_mode(private_fs::FILE_MODE))
                .map_err(StoreError::io("making the restored database private"))?;
            File::open(&incoming)
                .and_then(|f| f.sync_all())
                .map_err(StoreError::io("syncing the restored database"))?;
            fs::rename(&incoming, path)
                .map_err(StoreError::io(format!("replacing {}", path.display())))?;
            File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(StoreError::io("syncing the data folder"))?;
        }
        RestoreTarget::Postgres(url) => {
            let conn = PgConnection::from_url(url)?;
            let mut cmd = Command::new("pg_restore");
            cmd.arg("--clean")
                .arg("--if-exists")
                .arg("--no-owner")
                .arg("--single-transaction")
                .arg(staging.path().join(PGDUMP_ENTRY));
            conn.run(&mut cmd, "pg_restore", staging.path())?;
        }
    }
    Ok(RestoreReport {
        blobs: restored,
        backend,
    })
}

/// Runs `PRAGMA integrity_check` on an SQLite file opened read-only.
pub async fn sqlite_integrity_check(path: &Path) -> Result<(), StoreError> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(StoreError::db(
            "opening a database copy for an integrity check",
        ))?;
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(StoreError::db("running PRAGMA integrity_check"))?;
    let _ = conn.close().await;
    if result == "ok" {
        Ok(())
    } else {
        Err(StoreError::Archive(format!(
            "database integrity check failed: {result}"
        )))
    }
}

fn sum(data: &[u8]) -> EntrySum {
    EntrySum {
        sha256: sha256_hex(data),
        size: data.len() as u64,
    }
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<(), StoreError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(u64::try_from(now_ms() / 1000).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
        .map_err(StoreError::io(format!("adding {name} to the archive")))
}

/// A PostgreSQL URL split for `pg_dump` and `pg_restore`: the URL without its password
/// goes on the command line (any local user can read a process's arguments), the
/// password in a temporary `.pgpass` file only Vigil's user can read.
struct PgConnection {
    /// The URL with the password taken out (user, host, port, database, `sslmode`… kept).
    url: String,
    /// The password, if the URL had one (in the user part or as `?password=`).
    password: Option<String>,
}

impl PgConnection {
    fn from_url(database_url: &str) -> Result<Self, StoreError> {
        let mut url = url::Url::parse(database_url)
            .map_err(|e| StoreError::Tool(format!("the PostgreSQL URL cannot be parsed: {e}")))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let mut password = url.password().map(decode);
        if password.is_some() {
            // Cannot fail: a URL with a password has a host.
            let _ = url.set_password(None);
        }
        // The other parameters are kept as written: libpq decodes `%XX` but not `+`.
        let query = url.query().unwrap_or("").to_owned();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("password", value)) => password = Some(decode(value)),
                _ => kept.push(pair),
            }
        }
        if kept.len() != query.split('&').filter(|p| !p.is_empty()).count() {
            let kept = kept.join("&");
            url.set_query((!kept.is_empty()).then_some(kept.as_str()));
        }
        Ok(PgConnection {
            url: url.into(),
            password: password.filter(|p| !p.is_empty()),
        })
    }

    /// Runs `cmd` (`name` in messages) against this database; the password file, if any,
    /// is written in `private_dir` (a 0700 folder) and removed afterwards.
    fn run(&self, cmd: &mut Command, name: &str, private_dir: &Path) -> Result<(), StoreError> {
        cmd.arg("--dbname").arg(&self.url);
        // Dropped (and deleted) when this function returns, after the tool has exited.
        let mut passfile = None;
        if let Some(password) = &self.password {
            let mut file = tempfile::Builder::new()
                .prefix(".pgpass-")
                .permissions(Permissions::from_mode(private_fs::FILE_MODE))
                .tempfile_in(private_dir)
                .map_err(StoreError::io("writing a temporary password file"))?;
            // .pgpass: host:port:database:user:password, `:` and `\` escaped.
            let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
            writeln!(file, "*:*:*:*:{escaped}")
                .and_then(|()| file.flush())
                .map_err(StoreError::io("writing a temporary password file"))?;
            // The URL's password wins over one in the environment, as it would in the URL.
            cmd.env("PGPASSFILE", file.path()).env_remove("PGPASSWORD");
            passfile = Some(file);
        }
        let result = run_tool(cmd, name);
        drop(passfile);
        result
    }
}

fn run_tool(cmd: &mut Command, name: &str) -> Result<(), StoreError> {
    let output = cmd.output().map_err(|e| {
        StoreError::Tool(format!(
            "cannot run {name} ({e}); install the PostgreSQL client tools (Debian: postgresql-client)"
        ))
    })?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(StoreError::Tool(format!(
            "{name} failed: {}",
            stderr.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_and_everything_else_stays() {
        let c = PgConnection::from_url(
            "postgres://vigil:p%40ss%3Aw0rd@db.example:5433/vigil?sslmode=require&options=-c%20x%3Dy",
        )
        .unwrap();
        assert_eq!(
            c.url,
            "postgres://vigil@db.example:5433/vigil?sslmode=require&options=-c%20x%3Dy"
        );
        assert_eq!(c.password.as_deref(), Some("p@ss:w0rd"));

        let c =
            PgConnection::from_url("postgresql://u@h/d?password=s%20cret&sslmode=disable").unwrap();
        assert_eq!(c.url, "postgresql://u@h/d?sslmode=disable");
        assert_eq!(c.password.as_deref(), Some("s cret"));

        for plain in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres:///vigil?host=/var/run/postgresql",
        ] {
            let c = PgConnection::from_url(plain).unwrap();
            assert_eq!(c.url, plain);
            assert_eq!(c.password, None);
        }
    }
}
