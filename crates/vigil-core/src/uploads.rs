//! Uploaded media (images, video, audio, documents): creating one from a streamed body,
//! listing, reading (whole or a byte range), renaming and deleting.
//!
//! Data flow of a create: the body arrives as chunks; the first [`SNIFF_BYTES`] are
//! held to decide the type from the bytes (refused types stop here, before the rest is
//! read); then every chunk goes to a staged file in the blob store's staging folder
//! while its SHA-256 is computed ([`spool`]), and the size limit is enforced as bytes
//! arrive. The staged file is then moved into the blob store (local: fsync + rename;
//! S3: a streamed multipart upload) and only after the blob is durable is the row
//! committed. A crash at any point leaves at most a staged file (removed at the next
//! start) or an unreferenced blob, never a row pointing at a missing blob. No body is
//! ever held whole in memory.
//!
//! Reading streams from the blob store in chunks, for the whole file or one byte range.
//!
//! [`MediaGate`] caps how many transfers run at once; the HTTP layer holds one permit
//! per upload or download.

mod gate;
mod range;
mod sniff;
pub mod spool;

use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use vigil_config::Settings;
use vigil_store::uploads::{self as rows, StagedUpload};
use vigil_store::{BlobError, BlobStore, BlobStream, Database, StoreError};

pub use gate::{MediaBusy, MediaGate, MediaPermit};
pub use range::{ByteRange, RangeRequest};
pub use sniff::{is_image, sniff, Sniffed, ACCEPTED, SNIFF_BYTES};

use spool::Spool;

/// An upload's id (also its blob's name): the crate's typed id for uploads.
pub use crate::ids::UploadId;

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Id.
    pub id: UploadId,
    /// Content type sniffed from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Display name sent by the client, sanitised; never used as a path.
    pub name: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl From<rows::Upload> for Upload {
    fn from(u: rows::Upload) -> Self {
        Upload {
            id: UploadId::from_stored(u.id),
            content_type: u.content_type,
            size_bytes: u64::try_from(u.size_bytes).unwrap_or(0),
            sha256: u.sha256,
            name: u.original_name,
            created_at: u.created_at,
        }
    }
}

/// Why reading a request body failed (the HTTP layer maps its own errors to these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body went over a size limit enforced below us.
    #[error("the body is larger than this route accepts")]
    TooLarge,
    /// The body is malformed or the client went away.
    #[error("{0}")]
    Malformed(String),
}

/// A use-case failure; each variant maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Nothing was sent.
    #[error("the upload is empty")]
    Empty,
    /// The bytes match no known type.
    #[error(
        "the file type could not be recognised; send an image, video, audio file, PDF or DOCX"
    )]
    UnrecognisedType,
    /// The bytes are of a known type Vigil does not accept.
    #[error("files of type {0} are not accepted")]
    TypeNotAccepted(String),
    /// Over the size limit for this kind of file.
    #[error("{what} may be at most {limit} bytes")]
    TooLarge {
        /// "images" or "uploads".
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The request body could not be read.
    #[error("bad request body: {0}")]
    BadBody(String),
    /// No such upload.
    #[error("upload not found")]
    NotFound,
    /// A display name that breaks the rules.
    #[error("name must be 1–200 printable characters without slashes")]
    InvalidName,
    /// A page size out of range.
    #[error("limit must be between 1 and 500")]
    InvalidLimit,
    /// The requested byte range lies outside the file.
    #[error("the requested range is outside the {size} bytes of the upload")]
    RangeNotSatisfiable {
        /// The file's length, for `Content-Range: bytes */len`.
        size: u64,
    },
    /// The row exists but its blob does not (an operator deleted files by hand).
    #[error("the bytes of upload {0} are missing from the blob store")]
    BlobMissing(UploadId),
    /// Writing the staged file failed (disk full, permissions).
    #[error("staging the upload on disk failed")]
    Staging(#[source] std::io::Error),
    /// The database or blob store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BlobError> for UploadError {
    fn from(e: BlobError) -> Self {
        UploadError::Store(StoreError::Blob(e))
    }
}

/// Size limits, from `limits.*` in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Any accepted file (`limits.media_upload_bytes`).
    pub media_bytes: u64,
    /// Images (`limits.image_upload_bytes`).
    pub image_bytes: u64,
}

impl UploadLimits {
    /// The largest body any upload may have.
    pub fn max(&self) -> u64 {
        self.media_bytes.max(self.image_bytes)
    }

    /// The limit for a file of type `mime`, and what to call such files in a message.
    fn for_type(&self, mime: &str) -> (u64, &'static str) {
        if is_image(mime) {
            (self.image_bytes, "images")
        } else {
            (self.max(), "uploads")
        }
    }
}

/// The entity tags an `If-None-Match` lists (`*` is [`IfNoneMatch::Any`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// `*`: any current representation matches.
    Any,
    /// The opaque tags, without quotes or `W/`.
    Tags(Vec<String>),
}

/// How to read an upload's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadRequest {
    /// Only these bytes (`Range`); `None` for the whole file.
    pub range: Option<RangeRequest>,
    /// Answer "not modified" when the upload's tag (its SHA-256) is listed.
    pub if_none_match: Option<IfNoneMatch>,
    /// Honour `range` only if the upload's tag is this one (`If-Range`).
    pub if_range: Option<String>,
}

/// The bytes of an upload, being read.
pub struct Content {
    /// The upload.
    pub upload: Upload,
    /// The range served, or `None` for the whole file.
    pub range: Option<ByteRange>,
    /// The bytes, streamed from the blob store.
    pub body: BlobStream,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("upload", &self.upload)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Content {
    /// Bytes in `body`.
    pub fn len(&self) -> u64 {
        self.range.map_or(self.upload.size_bytes, |r| r.len())
    }

    /// Whether `body` is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The outcome of [`Uploads::read`].
#[derive(Debug)]
pub enum Read {
    /// The caller's copy is current (`If-None-Match` matched).
    NotModified(Upload),
    /// The bytes.
    Content(Content),
}

/// The uploads use case: storage, limits and the transfer gate.
#[derive(Debug)]
pub struct Uploads {
    db: Database,
    blobs: Arc<dyn BlobStore>,
    limits: UploadLimits,
    gate: MediaGate,
}

/// Keeps a display name printable and path-free: the last path component, control
/// characters removed, at most 200 characters, trimmed; `None` if nothing is left.
pub fn sanitise_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

impl Uploads {
    /// The use case over `db` and `blobs`, with limits from `settings`.
    pub fn new(db: Database, blobs: Arc<dyn BlobStore>, settings: &Settings) -> Self {
        let l = &settings.limits;
        Uploads {
            db,
            blobs,
            limits: UploadLimits {
                media_bytes: l.media_upload_bytes as u64,
                image_bytes: l.image_upload_bytes as u64,
            },
            gate: MediaGate::new(l.media_in_flight, l.media_in_flight_per_caller),
        }
    }

    /// The size limits in force.
    pub fn limits(&self) -> UploadLimits {
        self.limits
    }

    /// The gate every media transfer passes.
    pub fn gate(&self) -> &MediaGate {
        &self.gate
    }

    /// Stores a file read from `body` (chunks as they arrive) with display name `name`
    /// (already sanitised). See the module docs for the order of events.
    pub async fn create<S>(&self, body: S, name: Option<String>) -> Result<Upload, UploadError>
    where
        S: Stream<Item = Result<Bytes, BodyError>> + Send,
    {
        let mut body = pin!(body);
        let too_large = |what, limit| UploadError::TooLarge { what, limit };

        // 1. Enough leading bytes to sniff the type, or the whole body if shorter.
        let mut head: Vec<Bytes> = Vec::new();
        let mut head_len = 0usize;
        while head_len < SNIFF_BYTES {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(body_error(self.limits))?;
                    head_len += chunk.len();
                    if head_len as u64 > self.limits.max() {
                        return Err(too_large("uploads", self.limits.max()));
                    }
                    head.push(chunk);
                }
                None => break,
            }
        }
        let mut sniff_buf = Vec::with_capacity(head_len.min(SNIFF_BYTES));
        for chunk in &head {
            let room = SNIFF_BYTES - sniff_buf.len();
            sniff_buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let content_type = match sniff(&sniff_buf) {
            Sniffed::Accepted(m) => m,
            Sniffed::Empty => return Err(UploadError::Empty),
            Sniffed::Unrecognised => return Err(UploadError::UnrecognisedType),
            Sniffed::NotAccepted(m) => return Err(UploadError::TypeNotAccepted(m.to_string())),
        };
        drop(sniff_buf);
        let (limit, what) = self.limits.for_type(content_type);

        // 2. Everything to a staged file, hashed on the way, the limit checked per chunk.
        let mut spool = Spool::create(self.blobs.staging_dir())
            .await
            .map_err(UploadError::Staging)?;
        for chunk in head {
            if spool.written() + chunk.len() as u64 > limit {
                return Err(too_large(what, limit));
            }
            spool.write(chunk).await.map_err(UploadError::Staging)?;
        }
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_error(self.limits))?;
            if spool.written() + chunk.len() as u64 > limit {
                return Err(too_large(what, limit));
            }
            spool.write(chunk).await.map_err(UploadError::Staging)?;
        }
        let spooled = spool.finish().await.map_err(UploadError::Staging)?;

        // 3. Blob first (durable), then the row.
        let row = rows::create_from_file(
            &self.db,
            self.blobs.as_ref(),
            spooled.staged.path(),
            StagedUpload {
                content_type: content_type.to_string(),
                size_bytes: i64::try_from(spooled.size).unwrap_or(i64::MAX),
                sha256: spooled.sha256.clone(),
                original_name: name,
            },
        )
        .await?;
        drop(spooled);
        Ok(row.into())
    }

    /// Newest first, at most `limit` (1–500, default 50), created before `before` (ms).
    pub async fn list(
        &self,
        limit: Option<i64>,
        before: Option<i64>,
    ) -> Result<Vec<Upload>, UploadError> {
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(UploadError::InvalidLimit);
        }
        let rows = rows::list(&self.db, limit, before).await?;
        Ok(rows.into_iter().map(Upload::from).collect())
    }

    /// One upload's metadata.
    pub async fn get(&self, id: &UploadId) -> Result<Upload, UploadError> {
        self.row(id).await.map(Upload::from)
    }

    async fn row(&self, id: &UploadId) -> Result<rows::Upload, UploadError> {
        rows::get(&self.db, id.as_str())
            .await?
            .ok_or(UploadError::NotFound)
    }

    /// Sets (or with `None` clears) the display name. A name must already be clean:
    /// 1–200 printable characters, no slashes, no surrounding spaces.
    pub async fn rename(&self, id: &UploadId, name: Option<&str>) -> Result<Upload, UploadError> {
        let name = match name {
            None => None,
            Some(raw) => Some(
                sanitise_name(raw)
                    .filter(|c| c == raw && raw.chars().count() <= 200)
                    .ok_or(UploadError::InvalidName)?,
            ),
        };
        rows::rename(&self.db, id.as_str(), name.as_deref())
            .await?
            .map(Upload::from)
            .ok_or(UploadError::NotFound)
    }

    /// Deletes the row, then the bytes.
    pub async fn delete(&self, id: &UploadId) -> Result<(), UploadError> {
        if rows::delete(&self.db, self.blobs.as_ref(), id.as_str()).await? {
            Ok(())
        } else {
            Err(UploadError::NotFound)
        }
    }

    /// Opens an upload's bytes for reading: all of them, or the range asked for, unless
    /// the caller's copy is current. Nothing is read until the body is polled.
    pub async fn read(&self, id: &UploadId, request: ReadRequest) -> Result<Read, UploadError> {
        let row = self.row(id).await?;
        let size = u64::try_from(row.size_bytes).unwrap_or(0);
        let matches = |tag: &str| tag == row.sha256;
        let current = match &request.if_none_match {
            Some(IfNoneMatch::Any) => true,
            Some(IfNoneMatch::Tags(tags)) => tags.iter().any(|t| matches(t)),
            None => false,
        };
        if current {
            return Ok(Read::NotModified(row.into()));
        }
        // A stale `If-Range` means the client's partial copy is of other bytes: send all.
        let honour_range = request.if_range.as_deref().is_none_or(matches);
        let range = match request.range.filter(|_| honour_range) {
            Some(r) => Some(
                r.resolve(size)
                    .ok_or(UploadError::RangeNotSatisfiable { size })?,
            ),
            None => None,
        };
        let bytes = range.map_or(0..size, |r| r.start..r.end);
        let body = self
            .blobs
            .get_range(&row.blob_key, bytes)
            .await?
            .ok_or_else(|| UploadError::BlobMissing(UploadId::from_stored(row.id.clone())))?;
        Ok(Read::Content(Content {
            upload: row.into(),
            range,
            body,
        }))
    }
}

/// Maps a body error; a limit hit below us reports our own (largest) limit.
fn body_error(limits: UploadLimits) -> impl Fn(BodyError) -> UploadError {
    move |e| match e {
        BodyError::TooLarge => UploadError::TooLarge {
            what: "uploads",
            limit: limits.max(),
        },
        BodyError::Malformed(m) => UploadError::BadBody(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn uploads(media: usize, image: usize) -> (tempfile::TempDir, Uploads) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        settings.limits.media_upload_bytes = media;
        settings.limits.image_upload_bytes = image;
        let db = Database::connect(
            &settings.database_url(),
            &vigil_store::db::DbOptions::default(),
        )
        .await
        .expect("db");
        db.prepare_schema(true).await.expect("schema");
        let blobs = vigil_store::open_blob_store(&settings)
            .await
            .expect("blobs");
        (dir, Uploads::new(db, blobs, &settings))
    }

    fn chunks(parts: Vec<Vec<u8>>) -> impl Stream<Item = Result<Bytes, BodyError>> + Send {
        futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))))
    }

    fn mp4(len: usize) -> Vec<u8> {
        let mut v = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
        v.extend((0..len.saturating_sub(v.len())).map(|i| (i * 7 % 251) as u8));
        v
    }

    fn staged_files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir.join("blobs/.tmp"))
            .expect("staging dir")
            .count()
    }

    #[tokio::test]
    async fn a_streamed_upload_is_hashed_stored_and_read_back_by_range() {
        let (dir, uploads) = uploads(1 << 20, 1 << 20).await;
        let data = mp4(300_000);
        let parts = data.chunks(7_000).map(<[u8]>::to_vec).collect();
        let up = uploads
            .create(chunks(parts), Some("clip.mp4".into()))
            .await
            .expect("create");
        assert_eq!(up.content_type, "video/mp4");
        assert_eq!(up.size_bytes, data.len() as u64);
        assert_eq!(up.sha256, vigil_store::sha256_hex(&data));
        assert_eq!(staged_files(dir.path()), 0, "the staged file was moved");

        let read = |range| ReadRequest {
            range,
            ..ReadRequest::default()
        };
        let Read::Content(c) = uploads
            .read(
                &up.id,
                read(Some(RangeRequest::FromTo {
                    first: 10,
                    last: 70_009,
                })),
            )
            .await
            .expect("read")
        else {
            panic!("content expected");
        };
        assert_eq!(
            c.range,
            Some(ByteRange {
                start: 10,
                end: 70_010
            })
        );
        let bytes: Vec<u8> = c.body.map(|b| b.expect("chunk").to_vec()).concat().await;
        assert_eq!(bytes, data[10..70_010]);

        let err = uploads
            .read(&up.id, read(Some(RangeRequest::From(300_000))))
            .await
            .expect_err("unsatisfiable");
        assert!(matches!(
            err,
            UploadError::RangeNotSatisfiable { size: 300_000 }
        ));

        let not_modified = uploads
            .read(
                &up.id,
                ReadRequest {
                    if_none_match: Some(IfNoneMatch::Tags(vec![up.sha256.clone()])),
                    ..ReadRequest::default()
                },
            )
            .await
            .expect("read");
        assert!(matches!(not_modified, Read::NotModified(_)));

        let stale_if_range = uploads
            .read(
                &up.id,
                ReadRequest {
                    range: Some(RangeRequest::Suffix(5)),
                    if_range: Some("0000".into()),
                    ..ReadRequest::default()
                },
            )
            .await
            .expect("read");
        assert!(matches!(
            stale_if_range,
            Read::Content(Content { range: None, .. })
        ));

        uploads.delete(&up.id).await.expect("delete");
        assert!(matches!(
            uploads.get(&up.id).await,
            Err(UploadError::NotFound)
        ));
    }

    #[tokio::test]
    async fn over_the_limit_is_refused_while_reading_and_leaves_no_file() {
        let (dir, uploads) = uploads(100_000, 1_000).await;
        let data = mp4(150_000);
        let parts = data.chunks(10_000).map(<[u8]>::to_vec).collect();
        let err = uploads
            .create(chunks(parts), None)
            .await
            .expect_err("too big");
        assert!(
            matches!(err, UploadError::TooLarge { limit: 100_000, .. }),
            "{err:?}"
        );
        assert_eq!(staged_files(dir.path()), 0);

        // An image has the image limit, known as soon as the type is.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.resize(5_000, 0);
        let err = uploads
            .create(chunks(vec![png]), None)
            .await
            .expect_err("too big for an image");
        assert!(matches!(
            err,
            UploadError::TooLarge {
                what: "images",
                limit: 1_000
            }
        ));

        // A refused type is refused from its first bytes; the rest is never read.
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        let endless = futures::stream::iter(std::iter::once(Ok(Bytes::from_static(
            b"GIF89a\x01\0\x01\0\0\0\0",
        ))))
        .chain(futures::stream::repeat_with(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Bytes::from(vec![0u8; 10_000]))
        }));
        let err = uploads.create(endless, None).await.expect_err("gif");
        assert!(matches!(err, UploadError::TypeNotAccepted(_)));
        assert!(
            pulled.load(std::sync::atomic::Ordering::Relaxed) <= SNIFF_BYTES / 10_000 + 1,
            "only the sniffing window was read"
        );
        assert!(matches!(
            uploads.create(chunks(vec![]), None).await,
            Err(UploadError::Empty)
        ));
        assert_eq!(staged_files(dir.path()), 0);
        assert!(uploads.list(None, None).await.expect("list").is_empty());
    }

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(sanitise_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            sanitise_name("C:\\x\\photo.jpg").as_deref(),
            Some("photo.jpg")
        );
        assert_eq!(sanitise_name("a\u{0}b\nc.png").as_deref(), Some("abc.png"));
        assert_eq!(sanitise_name(".."), None);
        assert_eq!(sanitise_name("dir/"), None);
    }
}
