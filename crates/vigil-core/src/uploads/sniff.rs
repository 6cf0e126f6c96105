//! Deciding what a file is from its first bytes, never from its name or the client's
//! word, and which types Vigil accepts.
//!
//! Free of crate dependencies but `infer` on purpose: the fuzz target `upload_body`
//! compiles this file as it is (see `fuzz/`).

/// How many leading bytes are examined. Every accepted format announces itself well
/// inside this (DOCX, the latest, names its `word/` folder within a few KiB); the rest
/// of a large upload is not read before the type is known.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Content types accepted, by sniffed MIME type.
pub const ACCEPTED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/webm",
    "video/x-matroska",
    "video/quicktime",
    "video/x-msvideo",
    "audio/x-wav",
    "audio/mpeg",
    "audio/ogg",
    "audio/x-flac",
    "audio/m4a",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
];

/// What sniffing concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// An accepted type.
    Accepted(&'static str),
    /// Nothing to examine.
    Empty,
    /// No known signature.
    Unrecognised,
    /// A known type Vigil does not take.
    NotAccepted(&'static str),
}

/// Sniffs `head`, the first bytes of a file (at most [`SNIFF_BYTES`] are looked at).
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.is_empty() {
        return Sniffed::Empty;
    }
    let head = &head[..head.len().min(SNIFF_BYTES)];
    let Some(kind) = infer::get(head) else {
        return Sniffed::Unrecognised;
    };
    let mime = kind.mime_type();
    match ACCEPTED.iter().find(|&&m| m == mime) {
        Some(m) => Sniffed::Accepted(m),
        None => Sniffed::NotAccepted(mime),
    }
}

/// Whether a sniffed type counts as an image (and so has the image size limit).
pub fn is_image(mime: &str) -> bool {
    mime.starts_with("image/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b"just some text"), Sniffed::Unrecognised);
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Sniffed::Accepted("image/png")
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom"),
            Sniffed::Accepted("video/mp4")
        );
        assert_eq!(
            sniff(b"GIF89a\x01\0\x01\0\0\0\0"),
            Sniffed::NotAccepted("image/gif")
        );
    }
}
