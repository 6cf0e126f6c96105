//! Blobs as files in a local folder: `<root>/<2-hex shard>/<key>`.
//!
//! Writes go to `<root>/.tmp/<key>.part`, are fsynced, renamed into place, and the
//! shard folder is fsynced, so after a crash a blob is either complete or absent.
//! Leftover `.part` files from a crash are removed when the store is opened.
//!
//! The same `.tmp` folder is the store's staging area: a large upload is spooled to a
//! file there and [`BlobStore::put_file`] then fsyncs it and renames it into place, the
//! same durable sequence as for bytes, without a copy.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{blocking, clear_staging, io_err, BlobError, BlobKey, BlobStore, BlobStream};
use crate::private_fs;

const TMP_DIR: &str = ".tmp";

/// Bytes per chunk when streaming a blob out: big enough for few system calls, small
/// enough that many concurrent downloads cost little memory.
const READ_CHUNK: usize = 256 * 1024;

/// A blob store in a local folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    staging: PathBuf,
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store at `root` and clears interrupted writes.
    /// The folder and its staging area are private (0700; see [`crate::private_fs`]).
    pub async fn open(root: PathBuf) -> Result<Self, BlobError> {
        let dir = root.clone();
        blocking(move || {
            private_fs::private_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))
        })
        .await?;
        let staging = root.join(TMP_DIR);
        clear_staging(staging.clone()).await?;
        Ok(LocalBlobStore { root, staging })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.shard()).join(key.as_str())
    }

    /// Makes the fsynced file at `src` the blob `key`: rename into place, fsync the folder.
    fn install(&self, src: &Path, key: &BlobKey) -> Result<(), BlobError> {
        let shard_dir = self.root.join(key.shard());
        if !shard_dir.exists() {
            private_fs::create_missing_dirs(&shard_dir)
                .map_err(io_err("creating a blob folder"))?;
            sync_dir(&self.root).map_err(io_err("syncing the blob folder"))?;
        }
        fs::rename(src, self.path_of(key)).map_err(io_err("moving a blob into place"))?;
        sync_dir(&shard_dir).map_err(io_err("syncing the blob folder"))?;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put_with_key(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        let tmp_path = self
            .root
            .join(TMP_DIR)
            .join(format!("{}.part", key.as_str()));
        let store = self.clone();
        let key = key.clone();
        blocking(move || {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(private_fs::FILE_MODE)
                .open(&tmp_path)
                .map_err(io_err("creating a temporary blob file"))?;
            file.write_all(&data).map_err(io_err("writing a blob"))?;
            file.sync_all().map_err(io_err("syncing a blob"))?;
            drop(file);
            store.install(&tmp_path, &key)
        })
        .await
    }

    fn staging_dir(&self) -> &Path {
        &self.staging
    }

    async fn put_file(&self, file: &Path) -> Result<BlobKey, BlobError> {
        let store = self.clone();
        let src = file.to_path_buf();
        blocking(move || {
            let key = BlobKey::generate();
            // fsync is per file, not per handle: this makes the writer's data durable.
            File::open(&src)
                .and_then(|f| f.sync_all())
                .map_err(io_err("syncing a staged file"))?;
            match store.install(&src, &key) {
                Ok(()) => Ok(key),
                // Staged on another filesystem: copy into our own staging area first,
                // so the blob still appears whole or not at all.
                Err(BlobError::Io { source, .. }) if source.kind() == ErrorKind::CrossesDevices => {
                    let part = store.staging.join(format!("{}.part", key.as_str()));
                    fs::copy(&src, &part).map_err(io_err("copying a staged file"))?;
                    File::open(&part)
                        .and_then(|f| f.sync_all())
                        .map_err(io_err("syncing a blob"))?;
                    store.install(&part, &key)?;
                    let _ = fs::remove_file(&src);
                    Ok(key)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<Option<BlobStream>, BlobError> {
        let mut file = match tokio::fs::File::open(self.path_of(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("opening a blob")(e)),
        };
        if range.start > 0 {
            file.seek(std::io::SeekFrom::Start(range.start))
                .await
                .map_err(io_err("seeking in a blob"))?;
        }
        let len = range.end.saturating_sub(range.start);
        let reader = file.take(len);
        let stream = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK)
            .map_err(|e| io_err("reading a blob")(e));
        Ok(Some(stream.boxed()))
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError> {
        let path = self.path_of(key);
        blocking(move || match fs::read(&path) {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading a blob")(e)),
        })
        .await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        let path = self.path_of(key);
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting a blob")(e)),
        })
        .await
    }

    async fn list(&self) -> Result<Vec<BlobKey>, BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let mut keys = Vec::new();
            for shard in fs::read_dir(&root).map_err(io_err("listing blobs"))? {
                let shard = shard.map_err(io_err("listing blobs"))?;
                let name = shard.file_name();
                let Some(name) = name.to_str() else { continue };
                if name == TMP_DIR || !shard.path().is_dir() {
                    continue;
                }
                for entry in fs::read_dir(shard.path()).map_err(io_err("listing blobs"))? {
                    let entry = entry.map_err(io_err("listing blobs"))?;
                    if let Some(key) = entry.file_name().to_str().and_then(BlobKey::parse) {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }

    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_delete_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalBlobStore::open(dir.path().to_path_buf())
            .await
            .expect("open");
        let key = store.put(Bytes::from_static(b"hello")).await.expect("put");
        assert_eq!(
            store.get(&key).await.expect("get").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(store.list().await.expect("list"), vec![key.clone()]);
        store.delete(&key).await.expect("delete");
        assert_eq!(store.get(&key).await.expect("get"), None);
        store.check_writable().await.expect("writable");
        assert!(store.list().await.expect("list").is_empty());
    }

    #[tokio::test]
    async fn a_staged_file_is_renamed_in_and_read_back_by_range() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalBlobStore::open(dir.path().to_path_buf())
            .await
            .expect("open");
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let staged = store.staging_dir().join("x.upload");
        fs::write(&staged, &data).expect("stage");
        let key = store.put_file(&staged).await.expect("put_file");
        assert!(!staged.exists(), "the staged file was moved, not copied");
        for range in [0..1, 10..300_000, 999_000..1_000_000, 0..1_000_000] {
            let stream = store
                .get_range(&key, range.start..range.end)
                .await
                .expect("get_range")
                .expect("present");
            let chunks: Vec<Bytes> = stream.map(|c| c.expect("chunk")).collect().await;
            assert!(chunks.iter().all(|c| c.len() <= READ_CHUNK));
            let back: Vec<u8> = chunks.concat();
            assert_eq!(back, data[range.start as usize..range.end as usize]);
        }
        store.delete(&key).await.expect("delete");
        assert!(store.get_range(&key, 0..1).await.expect("get").is_none());
    }

    #[tokio::test]
    async fn opening_removes_interrupted_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join(TMP_DIR)).expect("mkdir");
        fs::write(dir.path().join(TMP_DIR).join("x.part"), b"half").expect("write");
        LocalBlobStore::open(dir.path().to_path_buf())
            .await
            .expect("open");
        assert_eq!(
            fs::read_dir(dir.path().join(TMP_DIR)).expect("ls").count(),
            0
        );
    }
}
