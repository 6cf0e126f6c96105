//! Spooling a request body to a staged file: chunks go through a small bounded channel
//! to one blocking writer that hashes and writes them, so neither the SHA-256 nor the
//! disk writes run on the async workers, and at most a few chunks are in memory.
//!
//! The staged file is removed when the [`Spool`] (or the [`Staged`] it turns into) is
//! dropped, whether the upload failed, was refused or was cancelled by a client
//! disconnect. A crash leaves it behind; the blob store empties its staging folder at
//! start-up.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks waiting for the writer; with hyper's reads of up to a few hundred KiB this
/// bounds a transfer's buffered body to a few MiB.
const QUEUE: usize = 8;
/// The writer's buffer: large sequential writes.
const WRITE_BUFFER: usize = 1024 * 1024;

/// A staged file that is deleted on drop unless it has been moved away.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
}

impl Staged {
    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // After a successful move into the blob store the path no longer exists and this
        // fails harmlessly. Unlinking a file the writer still has open is safe on Unix.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A file being written from a stream of chunks.
#[derive(Debug)]
pub struct Spool {
    staged: Staged,
    tx: Option<mpsc::Sender<Bytes>>,
    writer: JoinHandle<std::io::Result<[u8; 32]>>,
    written: u64,
}

/// What the writer produced.
#[derive(Debug)]
pub struct Spooled {
    /// The file, removed on drop unless moved.
    pub staged: Staged,
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

impl Spool {
    /// Creates a new, uniquely named file in `dir` and starts its writer.
    pub async fn create(dir: &Path) -> std::io::Result<Spool> {
        let path = dir.join(format!(
            "{}.upload",
            vigil_store::BlobKey::generate().as_str()
        ));
        let file = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                OpenOptions::new().write(true).create_new(true).open(path)
            })
            .await
            .map_err(std::io::Error::other)??
        };
        let staged = Staged { path };
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut hash = Sha256::new();
            while let Some(chunk) = rx.blocking_recv() {
                hash.update(&chunk);
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(hash.finalize().into())
        });
        Ok(Spool {
            staged,
            tx: Some(tx),
            writer,
            written: 0,
        })
    }

    /// Bytes handed to the writer so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Queues a chunk, waiting while the writer is behind (backpressure to the client).
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        self.written += chunk.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            // The writer stopped early: its error says why.
            self.tx = None;
            match (&mut self.writer).await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(_)) => Err(std::io::Error::other("the spool writer stopped early")),
                Err(e) => Err(std::io::Error::other(e)),
            }
        }
    }

    /// Waits for every byte to be written; returns the file, its size and its hash.
    pub async fn finish(mut self) -> std::io::Result<Spooled> {
        drop(self.tx.take());
        let digest = (&mut self.writer).await.map_err(std::io::Error::other)??;
        Ok(Spooled {
            staged: self.staged,
            size: self.written,
            sha256: hex::encode(digest),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spools_hashes_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::create(dir.path()).await.expect("create");
        spool.write(Bytes::from_static(b"hello ")).await.expect("w");
        spool.write(Bytes::from_static(b"world")).await.expect("w");
        let done = spool.finish().await.expect("finish");
        assert_eq!(done.size, 11);
        assert_eq!(
            done.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(
            std::fs::read(done.staged.path()).expect("read"),
            b"hello world"
        );
        let path = done.staged.path().to_path_buf();
        drop(done);
        assert!(!path.exists(), "the staged file is removed on drop");

        let mut abandoned = Spool::create(dir.path()).await.expect("create");
        abandoned
            .write(Bytes::from_static(b"half"))
            .await
            .expect("w");
        drop(abandoned);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
