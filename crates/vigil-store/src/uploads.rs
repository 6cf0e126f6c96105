//! Uploaded media: one row per upload, its bytes in the blob store.

use bytes::Bytes;
use serde::Serialize;
use sqlx::Row;

use crate::{now_ms, sha256_hex, BlobKey, BlobStore, Database, StoreError};

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upload {
    /// Generated id (32 hex digits).
    pub id: String,
    /// Content type decided by sniffing the bytes, never by the client's word.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// The file name the client sent, for display only (never used as a path).
    pub original_name: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Where the bytes are.
    #[serde(skip)]
    pub blob_key: BlobKey,
}

/// What a caller supplies to create an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The bytes.
    pub data: Bytes,
    /// Sniffed content type.
    pub content_type: String,
    /// Display name from the client, already sanitised.
    pub original_name: Option<String>,
}

/// What a caller supplies to create an upload from a file it has already written,
/// hashed and sniffed (a streamed request body).
#[derive(Debug, Clone)]
pub struct StagedUpload {
    /// Sniffed content type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Display name from the client, already sanitised.
    pub original_name: Option<String>,
}

const COLUMNS: &str = "id, blob_key, content_type, size_bytes, sha256, original_name, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Upload, StoreError> {
    let key: String = row
        .try_get("blob_key")
        .map_err(StoreError::db("reading an upload"))?;
    Ok(Upload {
        id: row
            .try_get("id")
            .map_err(StoreError::db("reading an upload"))?,
        blob_key: BlobKey::parse(&key).ok_or_else(|| {
            StoreError::Schema(format!("upload row has a malformed blob key `{key}`"))
        })?,
        content_type: row
            .try_get("content_type")
            .map_err(StoreError::db("reading an upload"))?,
        size_bytes: row
            .try_get("size_bytes")
            .map_err(StoreError::db("reading an upload"))?,
        sha256: row
            .try_get("sha256")
            .map_err(StoreError::db("reading an upload"))?,
        original_name: row
            .try_get("original_name")
            .map_err(StoreError::db("reading an upload"))?,
        created_at: row
            .try_get("created_at")
            .map_err(StoreError::db("reading an upload"))?,
    })
}

/// Stores the bytes (durably) and then commits the row; returns the row.
pub async fn create(
    db: &Database,
    blobs: &dyn BlobStore,
    new: NewUpload,
) -> Result<Upload, StoreError> {
    let sha256 = sha256_hex(&new.data);
    let size_bytes = i64::try_from(new.data.len()).unwrap_or(i64::MAX);
    let key = blobs.put(new.data).await?;
    insert(
        db,
        blobs,
        key,
        StagedUpload {
            content_type: new.content_type,
            size_bytes,
            sha256,
            original_name: new.original_name,
        },
    )
    .await
}

/// Moves the staged file at `file` into the blob store (durably) and then commits the
/// row; returns the row. On failure the file may still exist and is the caller's to
/// remove; a crash at any point leaves at most an unreferenced blob or staged file,
/// never a row without its blob.
pub async fn create_from_file(
    db: &Database,
    blobs: &dyn BlobStore,
    file: &std::path::Path,
    staged: StagedUpload,
) -> Result<Upload, StoreError> {
    let key = blobs.put_file(file).await?;
    insert(db, blobs, key, staged).await
}

/// Commits the row for a blob that is already durable; removes the blob if that fails.
async fn insert(
    db: &Database,
    blobs: &dyn BlobStore,
    key: BlobKey,
    staged: StagedUpload,
) -> Result<Upload, StoreError> {
    let upload = Upload {
        id: BlobKey::generate().as_str().to_string(),
        blob_key: key,
        content_type: staged.content_type,
        size_bytes: staged.size_bytes,
        sha256: staged.sha256,
        original_name: staged.original_name,
        created_at: now_ms(),
    };
    let inserted = sqlx::query(
        "INSERT INTO uploads (id, blob_key, content_type, size_bytes, sha256, original_name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&upload.id)
    .bind(upload.blob_key.as_str())
    .bind(&upload.content_type)
    .bind(upload.size_bytes)
    .bind(&upload.sha256)
    .bind(upload.original_name.as_deref())
    .bind(upload.created_at)
    .execute(db.pool())
    .await;
    if let Err(e) = inserted {
        // The row never existed, so nothing references the blob: remove it.
        let _ = blobs.delete(&upload.blob_key).await;
        return Err(StoreError::db("saving an upload")(e));
    }
    Ok(upload)
}

/// One upload by id.
pub async fn get(db: &Database, id: &str) -> Result<Option<Upload>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(StoreError::db("loading an upload"))?;
    row.as_ref().map(from_row).transpose()
}

/// Uploads, newest first, at most `limit`, created before `before` (ms) when given.
pub async fn list(
    db: &Database,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Upload>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM uploads WHERE created_at < $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(StoreError::db("listing uploads"))?;
    rows.iter().map(from_row).collect()
}

/// Deletes the row, then the blob. Returns false when there was no such upload.
pub async fn delete(db: &Database, blobs: &dyn BlobStore, id: &str) -> Result<bool, StoreError> {
    let key: Option<String> =
        sqlx::query_scalar("DELETE FROM uploads WHERE id = $1 RETURNING blob_key")
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .map_err(StoreError::db("deleting an upload"))?;
    let Some(key) = key else {
        return Ok(false);
    };
    // The row is gone, so nothing references the blob any more.
    match BlobKey::parse(&key) {
        Some(key) => blobs.delete(&key).await?,
        None => tracing::warn!(
            upload = id,
            "deleted upload had a malformed blob key; nothing to remove"
        ),
    }
    Ok(true)
}

/// Sets or clears the display name; returns the updated row, or `None` if absent.
pub async fn rename(
    db: &Database,
    id: &str,
    name: Option<&str>,
) -> Result<Option<Upload>, StoreError> {
    let done = sqlx::query("UPDATE uploads SET original_name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(db.pool())
        .await
        .map_err(StoreError::db("renaming an upload"))?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get(db, id).await
}
