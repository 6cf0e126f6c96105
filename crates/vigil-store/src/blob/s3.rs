//! Blobs in any S3-compatible object store (AWS S3, MinIO, Ceph, Garage…) through the
//! `object_store` crate. S3 puts are atomic, so no temporary objects are needed.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use vigil_config::S3Settings;

use super::{BlobError, BlobKey, BlobStore};

/// A blob store in an S3 bucket.
#[derive(Debug)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Option<Path>,
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
        })
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
