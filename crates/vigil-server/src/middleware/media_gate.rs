//! The media gate on transfer routes (upload, content download): at most
//! `limits.media_in_flight` transfers on the server and `limits.media_in_flight_per_caller`
//! per caller (API key, else user, else client address, as rate limiting counts them).
//! Over the server's cap the answer is 503 `overloaded` with `Retry-After`; over the
//! caller's, 429 `rate_limited` with `Retry-After`; both in our JSON error shape, before
//! any of the body is read.
//!
//! The permit lives as long as the transfer: through the handler for an upload, and
//! inside the response body for a download, so a slow reader keeps its slot until its
//! last byte is sent or it goes away.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use vigil_auth::Principal;
use vigil_core::uploads::{MediaBusy, MediaPermit};

use super::client_ip::ClientAddr;
use super::rate_limit::caller_subject;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Seconds a refused client is told to wait: transfers end at human speed, so a
/// second or two usually frees a slot.
const RETRY_AFTER_SECS: u64 = 2;

/// Middleware: admits the transfer or refuses it.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ClientAddr>().and_then(|c| c.ip);
    let subject = caller_subject(req.extensions().get::<Principal>(), ip);
    let permit = match state.uploads.gate().try_enter(&subject) {
        Ok(permit) => permit,
        Err(busy) => {
            let code = match busy {
                MediaBusy::Server => ErrorCode::Overloaded,
                MediaBusy::Caller => ErrorCode::RateLimited,
            };
            return ApiError::new(code, format!("{busy}; try again shortly"))
                .with_retry_after(RETRY_AFTER_SECS)
                .into_response();
        }
    };
    let response = next.run(req).await;
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(PermitBody {
            inner: body,
            _permit: permit,
        }),
    )
}

/// A response body that holds a transfer's permit until it is finished or dropped.
struct PermitBody {
    inner: Body,
    _permit: MediaPermit,
}

impl http_body::Body for PermitBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
