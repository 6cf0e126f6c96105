//! The untrusted front of an upload, as `POST /api/v1/uploads` and `/analyze` read it:
//! a `multipart/form-data` body (fixed boundary `XyZ`) read field by field with
//! `Field::chunk`, each file name sanitised and each file's first bytes sniffed; the raw
//! input sniffed as a raw-body upload; and the input as a `Range` header value. None of
//! it may panic, whatever the bytes.
//!
//! `sniff`, `sanitise_name` and `parse_range` are compiled from vigil-core's own source
//! files (they depend on nothing in vigil-core), so this build does not pull in
//! vigil-core's database and storage dependencies.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/vigil-core/src/uploads/name.rs"]
mod name;
#[allow(dead_code)]
#[path = "../../crates/vigil-core/src/uploads/range.rs"]
mod range;
#[allow(dead_code)]
#[path = "../../crates/vigil-core/src/uploads/sniff.rs"]
mod sniff;

use name::sanitise_name;
use range::parse_range;
use sniff::{sniff, Sniffed, ACCEPTED, SNIFF_BYTES};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Sniffs a file's first bytes and checks the verdict is one Vigil can act on.
fn check_sniff(head: &[u8]) {
    match sniff(head) {
        Sniffed::Accepted(mime) => assert!(ACCEPTED.contains(&mime), "{mime}"),
        Sniffed::Empty => assert!(head.is_empty()),
        Sniffed::Unrecognised | Sniffed::NotAccepted(_) => {}
    }
}

/// A sanitised name is a label: no path separator, no control character, not empty.
fn check_name(raw: &str) {
    if let Some(clean) = sanitise_name(raw) {
        assert!(!clean.is_empty() && clean.chars().count() <= 200, "{clean:?}");
        assert!(!clean.contains(['/', '\\']), "{clean:?}");
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        assert!(clean != "." && clean != "..", "{clean:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    check_sniff(&data[..data.len().min(SNIFF_BYTES)]);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(request) = parse_range(text) {
            for len in [0, 1, 10, u64::MAX] {
                if let Some(r) = request.resolve(len) {
                    assert!(r.start < r.end && r.end <= len, "{text:?} in {len}: {r:?}");
                }
            }
        }
        check_name(text);
    }
    runtime().block_on(async {
        let Ok(req) = axum::http::Request::builder()
            .method("POST")
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(Body::from(bytes::Bytes::copy_from_slice(data)))
        else {
            return;
        };
        let Ok(mut form) = Multipart::from_request(req, &()).await else {
            return;
        };
        while let Ok(Some(mut field)) = form.next_field().await {
            if let Some(raw) = field.file_name() {
                check_name(raw);
            }
            let mut head = Vec::new();
            while let Ok(Some(chunk)) = field.chunk().await {
                if head.len() < SNIFF_BYTES {
                    head.extend_from_slice(&chunk);
                }
            }
            check_sniff(&head[..head.len().min(SNIFF_BYTES)]);
        }
    });
});
