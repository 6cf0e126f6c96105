//! One webhook attempt: SSRF check after DNS, a POST pinned to the checked addresses,
//! signed, with no redirects, no proxy and a time limit; only the status is read.
//!
//! Why a fresh client per attempt: the addresses the guard approved are fixed into the
//! client (`resolve_to_addrs`), so a second DNS answer (rebinding) cannot send the
//! request elsewhere, and nothing is pooled across webhooks. Attempts are rare (events
//! are), so the cost of building a client does not matter.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use url::Host;
use vigil_config::WebhookSettings;

use super::signature;
use super::webhooks::Target;
use crate::net::{self, NetPolicy};

/// How a single attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Anything else; worth retrying.
    Failed {
        /// Its status, when it answered.
        status: Option<u16>,
        /// What went wrong, in words (never the URL: it may hold credentials).
        error: String,
    },
}

/// Sends webhook requests under the SSRF guard.
#[derive(Debug, Clone)]
pub struct Sender {
    policy: NetPolicy,
    timeout: Duration,
}

impl Sender {
    /// A sender applying `policy`, with `settings.timeout_secs` per attempt.
    pub fn new(policy: NetPolicy, settings: &WebhookSettings) -> Sender {
        Sender {
            policy,
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
        }
    }

    /// The network policy applied.
    pub fn policy(&self) -> &NetPolicy {
        &self.policy
    }

    /// POSTs `body` to `target`, signed, as delivery `delivery_id` of an `event_type`.
    pub async fn send(
        &self,
        target: &Target,
        delivery_id: &str,
        event_type: &str,
        body: &str,
    ) -> Attempt {
        let failed = |error: String| Attempt::Failed {
            status: None,
            error,
        };
        let addrs = match net::resolve_and_check(&target.url, &self.policy).await {
            Ok(addrs) => addrs,
            Err(e) => return failed(e.to_string()),
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .timeout(self.timeout);
        if let Host::Domain(name) = target.url.host() {
            builder = builder.resolve_to_addrs(name, &addrs);
        }
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => return failed(describe(e)),
        };
        let timestamp = vigil_store::now_ms().div_euclid(1000);
        let signature = signature::sign(target.secret.as_bytes(), timestamp, body.as_bytes());
        let sent = client
            .post(target.url.expose())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("Vigil-Webhooks/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Vigil-Event", event_type)
            .header("X-Vigil-Delivery", delivery_id)
            .header("X-Vigil-Timestamp", timestamp.to_string())
            .header("X-Vigil-Signature", signature)
            .body(body.to_string())
            .send()
            .await;
        match sent {
            // The body is never read: the status is all a delivery needs, and a
            // receiver cannot make Vigil download anything.
            Ok(response) => {
                let status = response.status();
                drop(response);
                if status.is_success() {
                    Attempt::Delivered {
                        status: status.as_u16(),
                    }
                } else {
                    let hint = if status.is_redirection() {
                        " (redirects are not followed; use the final URL)"
                    } else {
                        ""
                    };
                    Attempt::Failed {
                        status: Some(status.as_u16()),
                        error: format!("the receiver answered {status}{hint}"),
                    }
                }
            }
            Err(e) => failed(describe(e)),
        }
    }
}

/// A client error in words, without the URL (it may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        let piece = inner.to_string();
        if !text.contains(&piece) {
            text.push_str(": ");
            text.push_str(&piece);
        }
        source = inner.source();
    }
    text.chars().take(300).collect()
}
