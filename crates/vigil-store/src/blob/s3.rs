//! Blobs in any S3-compatible object store (AWS S3, MinIO, Ceph, Garage…) through the
//! `object_store` crate. S3 puts are atomic, so no temporary objects are needed.
//!
//! Large files go up as a multipart upload read from the staged file a part at a time
//! (at most [`PARTS_IN_FLIGHT`] parts of [`PART_BYTES`] in memory); an upload that fails
//! is aborted, so no half object is ever visible.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use vigil_config::S3Settings;

use super::{io_err, BlobError, BlobKey, BlobStore, BlobStream};

/// Size of one multipart part (S3's minimum is 5 MiB, except for the last).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploading at once.
const PARTS_IN_FLIGHT: usize = 2;

/// A blob store in an S3 bucket.
#[derive(Debug)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Option<Path>,
    staging: std::path::PathBuf,
}

fn remote(context: &'static str) -> impl FnOnce(object_store::Error) -> BlobError {
    move |source| BlobError::Remote { context, source }
}

impl S3BlobStore {
    /// Builds the client from settings (no request is made until first use).
    pub fn open(settings: &S3Settings) -> Result<Self, BlobError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        builder = builder.with_region(
            settings
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".into()),
        );
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Config(format!("S3 store: {e}")))?;
        let prefix = settings
            .prefix
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .map(Path::from);
        Ok(S3BlobStore {
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            prefix,
            staging: std::env::temp_dir(),
        })
    }

    /// Stages incoming files in `dir` (default: the system temporary folder).
    /// [`super::open_blob_store`] uses `<data_dir>/staging` and empties it at start-up.
    pub fn with_staging_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.staging = dir;
        self
    }

    async fn upload_file(&self, location: &Path, file: &std::path::Path) -> Result<(), BlobError> {
        let mut reader = tokio::fs::File::open(file)
            .await
            .map_err(io_err("opening a staged file"))?;
        let len = reader
            .metadata()
            .await
            .map_err(io_err("reading a staged file's size"))?
            .len();
        if len <= PART_BYTES as u64 {
            // Small: one plain PUT of at most one part's worth of memory.
            let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            reader
                .read_to_end(&mut data)
                .await
                .map_err(io_err("reading a staged file"))?;
            self.store
                .put(location, PutPayload::from(data))
                .await
                .map_err(remote("writing a blob"))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(location)
            .await
            .map_err(remote("starting a multipart upload"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(io_err("reading a staged file")(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(remote("uploading a part")(e));
            }
            writer.write(&buf[..n]);
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        writer
            .finish()
            .await
            .map_err(remote("completing a multipart upload"))?;
        Ok(())
    }

    fn path_of(&self, key: &BlobKey) -> Path {
        let rel = format!("{}/{}", key.shard(), key.as_str());
        match &self.prefix {
            Some(p) => Path::from(format!("{p}/{rel}")),
            None => Path::from(rel),
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn put_with_key(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&self.path_of(key), PutPayload::from_bytes(data))
            .await
            .map_err(remote("writing a blob"))?;
        Ok(())
    }

    fn staging_dir(&self) -> &std::path::Path {
        &self.staging
    }

    async fn put_file(&self, file: &std::path::Path) -> Result<BlobKey, BlobError> {
        let key = BlobKey::generate();
        self.upload_file(&self.path_of(&key), file).await?;
        // The object is stored; the staged copy is no longer needed.
        let _ = tokio::fs::remove_file(file).await;
        Ok(key)
    }

    async fn get_range(
        &self,
        key: &BlobKey,
        range: Range<u64>,
    ) -> Result<Option<BlobStream>, BlobError> {
        if range.start >= range.end {
            return Ok(Some(futures::stream::empty().boxed()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.path_of(key), options).await {
            Ok(result) => Ok(Some(
                result
                    .into_stream()
                    .map_err(|e| remote("reading a blob")(e))
                    .boxed(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote("reading a blob")(e)),
        }
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Bytes>, BlobError> {
        match self.store.get(&self.path_of(key)).await {
            Ok(result) => Ok(Some(
                result.bytes().await.map_err(remote("reading a blob"))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote("reading a blob")(e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&self.path_of(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote("deleting a blob")(e)),
        }
    }

    async fn list(&self) -> Result<Vec<BlobKey>, BlobError> {
        let metas: Vec<_> = self
            .store
            .list(self.prefix.as_ref())
            .try_collect()
            .await
            .map_err(remote("listing blobs"))?;
        let mut keys: Vec<BlobKey> = metas
            .iter()
            .filter_map(|m| m.location.filename().and_then(BlobKey::parse))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn describe(&self) -> String {
        match &self.prefix {
            Some(p) => format!("s3://{}/{p}", self.bucket),
            None => format!("s3://{}", self.bucket),
        }
    }
}
