//! The untrusted front of an upload: a multipart body (fixed boundary) read field by
//! field with `Field::chunk`, its file name sanitised, its first bytes sniffed; and the
//! `Range` header parser. None of it may panic, whatever the bytes.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use libfuzzer_sys::fuzz_target;
use vigil_core::uploads::{sanitise_name, sniff, SNIFF_BYTES};
use vigil_server::routes::media::parse_range;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = sniff(&data[..data.len().min(SNIFF_BYTES)]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_range(text);
        let _ = sanitise_name(text);
    }
    runtime().block_on(async {
        let Ok(req) = Request::builder()
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
            let _ = field.file_name().map(sanitise_name);
            let mut head = Vec::new();
            while let Ok(Some(chunk)) = field.chunk().await {
                if head.len() < SNIFF_BYTES {
                    head.extend_from_slice(&chunk);
                }
            }
            let _ = sniff(&head[..head.len().min(SNIFF_BYTES)]);
        }
    });
});
