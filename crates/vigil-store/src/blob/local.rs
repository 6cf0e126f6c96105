//! Blobs as files in a local folder: `<root>/<2-hex shard>/<key>`.
//!
//! Writes go to `<root>/.tmp/<key>.part`, are fsynced, renamed into place, and the
//! shard folder is fsynced, so after a crash a blob is either complete or absent.
//! Leftover `.part` files from a crash are removed when the store is opened.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{BlobError, BlobKey, BlobStore};

const TMP_DIR: &str = ".tmp";

/// A blob store in a local folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BlobError {
    let context = context.into();
    move |source| BlobError::Io { context, source }
}

impl LocalBlobStore {
    /// Opens (creating if needed) the store at `root` and clears interrupted writes.
    pub async fn open(root: PathBuf) -> Result<Self, BlobError> {
        let store = LocalBlobStore { root };
        let s = store.clone();
        blocking(move || {
            let tmp = s.root.join(TMP_DIR);
            fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
            for entry in fs::read_dir(&tmp).map_err(io_err("listing interrupted writes"))? {
                let entry = entry.map_err(io_err("listing interrupted writes"))?;
                // A `.part` file is a write that never completed: it was never acknowledged.
                let _ = fs::remove_file(entry.path());
            }
            Ok(())
        })
        .await?;
        Ok(store)
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.shard()).join(key.as_str())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io {
            context: "running a blocking file operation".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put_with_key(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        let final_path = self.path_of(key);
        let tmp_path = self
            .root
            .join(TMP_DIR)
            .join(format!("{}.part", key.as_str()));
        let shard_dir = self.root.join(key.shard());
        let root = self.root.clone();
        blocking(move || {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_path)
                .map_err(io_err("creating a temporary blob file"))?;
            file.write_all(&data).map_err(io_err("writing a blob"))?;
            file.sync_all().map_err(io_err("syncing a blob"))?;
            drop(file);
            if !shard_dir.exists() {
                fs::create_dir_all(&shard_dir).map_err(io_err("creating a blob folder"))?;
                sync_dir(&root).map_err(io_err("syncing the blob folder"))?;
            }
            fs::rename(&tmp_path, &final_path).map_err(io_err("moving a blob into place"))?;
            sync_dir(&shard_dir).map_err(io_err("syncing the blob folder"))?;
            Ok(())
        })
        .await
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
