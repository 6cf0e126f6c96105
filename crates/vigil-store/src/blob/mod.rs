//! The blob store: immutable binary objects (snapshots, uploads, reference photos) under
//! names Vigil generates. A client never chooses a name, so no client-supplied path ever
//! reaches a filesystem or a bucket.

mod local;
mod s3;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use vigil_config::{Settings, StorageBackend};

pub use local::LocalBlobStore;
pub use s3::S3BlobStore;

/// The name of a blob: 32 lowercase hex digits (128 random bits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        BlobKey(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Accepts only a well-formed key; anything else (paths, dots, slashes) is refused.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| BlobKey(s.to_string()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First two characters: the fan-out folder that keeps directories small.
    pub(crate) fn shard(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({})", self.0)
    }
}

/// A blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Local filesystem failure.
    #[error("blob store I/O error while {context}")]
    Io {
        /// What Vigil was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Object store failure.
    #[error("object store error while {context}")]
    Remote {
        /// What Vigil was doing.
        context: &'static str,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// The store is misconfigured.
    #[error("blob store configuration: {0}")]
    Config(String),
}

/// A blob's bytes as they are read, in chunks of at most a few hundred KiB.
pub type BlobStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// Storage for immutable blobs.
///
/// Large blobs go in through a file and come out as a stream, never whole in memory:
/// write the bytes to a file in [`BlobStore::staging_dir`], hand it to
/// [`BlobStore::put_file`], read them back with [`BlobStore::get_range`].
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `data` under a new key and returns it once the blob is durable.
    async fn put(&self, data: Bytes) -> Result<BlobKey, BlobError> {
        let key = BlobKey::generate();
        self.put_with_key(&key, data).await?;
        Ok(key)
    }

    /// Stores `data` under `key` (used by restore, which keeps the archived keys).
    async fn put_with_key(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError>;

    /// The folder for files on their way into the store. For the local backend it is on
    /// the same filesystem as the blobs, so [`BlobStore::put_file`] is a rename; it is
    /// emptied when the store is opened, so a crash leaves no lasting debris there.
    fn staging_dir(&self) -> &Path;

    /// Moves the file at `file` (best in [`BlobStore::staging_dir`]) into the store
    /// under a new key and returns the key once the blob is durable. On success the file
    /// is gone from `file`; on failure the caller still owns (and should remove) it.
    async fn put_file(&self, file: &Path) -> Result<BlobKey, BlobError>;

    /// The blob's bytes, or `None` if there is no such blob.
    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError>;

    /// Streams bytes `range` of the blob (the caller knows its size and keeps the range
    /// inside it), or `None` if there is no such blob.
    async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<Option<BlobStream>, BlobError>;

    /// Removes a blob; removing a missing blob is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Every key in the store, sorted.
    async fn list(&self) -> Result<Vec<BlobKey>, BlobError>;

    /// Proves the store is writable (writes, reads back and removes a probe blob).
    async fn check_writable(&self) -> Result<(), BlobError> {
        let probe = Bytes::from_static(b"vigil readiness probe");
        let key = self.put(probe.clone()).await?;
        let back = self.get(&key).await?;
        self.delete(&key).await?;
        if back.as_ref() == Some(&probe) {
            Ok(())
        } else {
            Err(BlobError::Config("a probe blob did not read back".into()))
        }
    }

    /// A short description for logs and `/readyz` (never includes credentials).
    fn describe(&self) -> String;
}

/// Opens the configured blob store. The S3 backend stages incoming files in
/// `<data_dir>/staging`.
pub async fn open_blob_store(settings: &Settings) -> Result<Arc<dyn BlobStore>, BlobError> {
    match settings.storage.backend {
        StorageBackend::Local => Ok(Arc::new(LocalBlobStore::open(settings.blob_dir()).await?)),
        StorageBackend::S3 => {
            let staging = settings.data_dir.join("staging");
            clear_staging(staging.clone()).await?;
            Ok(Arc::new(
                S3BlobStore::open(&settings.storage.s3)?.with_staging_dir(staging),
            ))
        }
    }
}

/// Creates `dir` private (0700) and removes everything in it: files there were never
/// acknowledged.
pub(crate) async fn clear_staging(dir: PathBuf) -> Result<(), BlobError> {
    blocking(move || {
        crate::private_fs::private_dir(&dir)
            .map_err(io_err(format!("creating {}", dir.display())))?;
        for entry in std::fs::read_dir(&dir).map_err(io_err("listing interrupted writes"))? {
            let entry = entry.map_err(io_err("listing interrupted writes"))?;
            // A staged file is a write that never completed: it was never acknowledged.
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(())
    })
    .await
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

/// Runs blocking file work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io {
            context: "running a blocking file operation".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

#[cfg(test)]
mod tests {
    use super::BlobKey;

    #[test]
    fn keys_refuse_anything_but_32_hex_digits() {
        assert!(BlobKey::parse(BlobKey::generate().as_str()).is_some());
        for bad in [
            "",
            "../../etc/passwd",
            "ABCDEF0123456789abcdef0123456789",
            "0123456789abcdef0123456789abcde/",
            "0123456789abcdef0123456789abcdef0",
        ] {
            assert!(BlobKey::parse(bad).is_none(), "{bad}");
        }
    }
}
