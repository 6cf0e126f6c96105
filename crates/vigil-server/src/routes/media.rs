//! Serving stored media over HTTP: the `Range`, `If-None-Match` and `If-Range` headers
//! in, and the headers out (`Accept-Ranges`, `Content-Range`, `ETag`, a sandboxing CSP,
//! `Content-Disposition`). Used by the upload content route; later media routes
//! (gallery photos, snapshots, job results) answer the same way.
//!
//! Ranges: a single `bytes=a-b`, `bytes=a-` or `bytes=-n` is answered with 206 and
//! `Content-Range`; one that selects no byte with 416 and `Content-Range: bytes */LEN`.
//! A multi-range request (`bytes=0-1,5-6`) or a malformed one is answered with the whole
//! body and 200, which RFC 9110 §14.2 allows (a server may ignore `Range`); no player
//! needs `multipart/byteranges`.
//!
//! The entity tag is the bytes' SHA-256, a strong validator.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use vigil_core::uploads::{parse_range, Content, IfNoneMatch, ReadRequest, Upload};

use crate::error::ApiError;

/// What served media may do in a browser: nothing. Opened directly, an uploaded HTML or
/// SVG file (were one ever accepted) could run no script and load nothing.
pub const MEDIA_CSP: &str = "sandbox; default-src 'none'";

/// Types a browser may show inline: raster images, which run no code.
const INLINE_SAFE: &[&str] = &["image/jpeg", "image/png", "image/webp"];

/// The entity tags of an `If-None-Match` value, without quotes or the weak marker
/// (RFC 9110 compares weakly here).
fn parse_if_none_match(value: &str) -> IfNoneMatch {
    if value.trim() == "*" {
        return IfNoneMatch::Any;
    }
    IfNoneMatch::Tags(
        value
            .split(',')
            .map(|t| {
                let t = t.trim();
                let t = t.strip_prefix("W/").unwrap_or(t);
                t.trim_matches('"').to_string()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

/// The read a GET or HEAD asks for, from its headers.
pub fn read_request(method: &Method, headers: &HeaderMap) -> ReadRequest {
    let text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let ranged = *method == Method::GET || *method == Method::HEAD;
    ReadRequest {
        range: text(header::RANGE).filter(|_| ranged).and_then(parse_range),
        if_none_match: text(header::IF_NONE_MATCH).map(parse_if_none_match),
        // `If-Range` compares strongly: only an exact `"tag"` matches (a date never does,
        // as no `Last-Modified` is sent).
        if_range: text(header::IF_RANGE).map(|v| {
            v.trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or("\u{0}not a strong tag")
                .to_string()
        }),
    }
}

fn etag(upload: &Upload) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", upload.sha256))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// `attachment` unless the type is safe inline, with the display name (RFC 6266/8187).
fn disposition(upload: &Upload) -> HeaderValue {
    let kind = if INLINE_SAFE.contains(&upload.content_type.as_str()) {
        "inline"
    } else {
        "attachment"
    };
    let value = match &upload.name {
        Some(name) => format!("{kind}; filename*=UTF-8''{}", encode_attr(name)),
        None => kind.to_string(),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Percent-encodes everything but RFC 8187's `attr-char`.
fn encode_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Headers every answer about an upload's bytes carries.
fn common_headers(upload: &Upload, headers: &mut HeaderMap) {
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag(upload));
    headers.insert(
        header::CACHE_CONTROL,
        // Media may show faces: never kept in shared or on-disk caches.
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(MEDIA_CSP),
    );
}

/// 200 with the whole body, or 206 with the range, streamed.
pub fn content_response(content: Content) -> Response {
    let Content {
        upload,
        range,
        body,
    } = content;
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    common_headers(&upload, headers);
    let content_type = HeaderValue::from_str(&upload.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_DISPOSITION, disposition(&upload));
    let length = match range {
        Some(r) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                r.start,
                r.last(),
                upload.size_bytes
            )) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r.len()
        }
        None => upload.size_bytes,
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// 304: the caller's copy is current.
pub fn not_modified(upload: &Upload) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    common_headers(upload, response.headers_mut());
    response
}

/// 416 in our error shape, with `Content-Range: bytes */LEN`.
pub fn unsatisfiable(size: u64, error: ApiError) -> Response {
    let mut response = error.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::uploads::RangeRequest;

    #[test]
    fn conditional_headers_become_tags() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("W/\"ab\", \"cd\""),
        );
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"ef\""));
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=1-"));
        let r = read_request(&Method::GET, &headers);
        assert_eq!(
            r.if_none_match,
            Some(IfNoneMatch::Tags(vec!["ab".into(), "cd".into()]))
        );
        assert_eq!(r.if_range.as_deref(), Some("ef"));
        assert_eq!(r.range, Some(RangeRequest::From(1)));
        assert_eq!(read_request(&Method::POST, &headers).range, None);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert_eq!(
            read_request(&Method::GET, &headers).if_none_match,
            Some(IfNoneMatch::Any)
        );
    }

    #[test]
    fn names_are_encoded_for_content_disposition() {
        assert_eq!(encode_attr("a b\"ü.png"), "a%20b%22%C3%BC.png");
    }
}
