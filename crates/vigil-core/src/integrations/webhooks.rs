//! Webhooks: an admin registers a URL, a secret and event type prefixes; every event
//! whose type starts with one of them is POSTed there, signed (see [`super::signature`]),
//! retried with back-off, and logged (see [`super::dispatch`]). Admins only: a webhook
//! sends data out of Vigil.
//!
//! The URL is a secret and a network risk like a camera's: stored sealed, shown
//! redacted, and checked by the SSRF guard when saved and again, after DNS resolution,
//! before every attempt (see [`super::delivery`]). The signing secret is generated when
//! not given, shown once (in the answer to the creation), and stored sealed (it must be
//! recoverable to sign).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigil_auth::audit::{Actor, AuditAction, AuditLog, Event as AuditEvent};
use vigil_auth::keys::purpose;
use vigil_auth::token::{new_id, random_token};
use vigil_auth::Keys;
use vigil_config::Settings;
use vigil_store::webhooks::{self as store, DeliveryRow, WebhookRow};
use vigil_store::{now_ms, Database};

use super::delivery::{Attempt, Sender};
use crate::error::{Error, Result};
use crate::ids::{Id, IdKind};
use crate::net::{self, NetPolicy, NetworkUrl, SourceRules, SourceUrl};

/// Marks webhook ids.
#[derive(Debug)]
pub enum Webhook {}
impl IdKind for Webhook {
    const NAME: &'static str = "webhook";
}
/// A webhook's id.
pub type WebhookId = Id<Webhook>;

/// Most event type prefixes per webhook.
pub const MAX_EVENT_TYPES: usize = 20;
/// Shortest secret a caller may choose, in characters.
pub const MIN_SECRET_CHARS: usize = 16;
/// Longest secret, in characters.
pub const MAX_SECRET_CHARS: usize = 256;
/// Deliveries listed per request at most.
pub const MAX_DELIVERIES_LISTED: i64 = 200;

/// A webhook as the API shows it: the URL redacted, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookView {
    /// Id (32 hex digits).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Where events are posted, with any password or secret-looking query value masked.
    pub url: String,
    /// Event type prefixes it receives (`violation.`, `camera.state`).
    pub event_types: Vec<String>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// A created webhook and its secret, shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The signing secret: store it with the receiver; Vigil never shows it again.
    pub secret: String,
    /// The webhook.
    pub webhook: WebhookView,
}

/// One delivery in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Id, the `X-Vigil-Delivery` header.
    pub id: String,
    /// The event's id on the bus.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// `pending` (an attempt is due), `delivered` or `failed` (given up).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the latest attempt, if the receiver answered.
    pub last_status_code: Option<i64>,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (Unix ms), while pending.
    pub next_attempt_at: Option<i64>,
    /// When it was delivered (Unix ms).
    pub delivered_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(row: DeliveryRow) -> Self {
        let status = if row.delivered_at.is_some() {
            "delivered"
        } else if row.next_attempt_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        DeliveryView {
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: status.to_string(),
            attempts: row.attempts,
            last_status_code: row.last_status,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
        }
    }
}

/// What the test endpoint reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TestResult {
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Its HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why not, in words.
    pub error: Option<String>,
    /// How long the attempt took, in ms.
    pub duration_ms: u64,
}

/// A webhook to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// What it is for (1–100 printable characters).
    pub name: String,
    /// `http://` or `https://` URL; the SSRF guard applies (private LAN addresses are
    /// fine; loopback, link-local and metadata addresses need `cameras.allowed_networks`).
    pub url: String,
    /// The signing secret (16–256 printable ASCII characters); generated when left out.
    #[serde(default)]
    pub secret: Option<String>,
    /// Event type prefixes, 1 to 20 (`violation.`, `camera.state`, `camera.`).
    /// `camera.detections` (several a second, never stored) is not sent to webhooks;
    /// use MQTT or the event stream for it.
    pub event_types: Vec<String>,
    /// Whether events are delivered (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a webhook; fields left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New URL (checked like at creation).
    #[serde(default)]
    pub url: Option<String>,
    /// New signing secret (16–256 printable ASCII characters).
    #[serde(default)]
    pub secret: Option<String>,
    /// New event type prefixes.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Turn deliveries on or off.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// The webhooks use case.
#[derive(Clone)]
pub struct Webhooks {
    db: Database,
    keys: Keys,
    audit: AuditLog,
    rules: SourceRules,
    sender: Sender,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// A webhook ready to send to: URL and secret opened.
#[derive(Clone)]
pub struct Target {
    /// Id.
    pub id: String,
    /// The URL (full; never log it, print it redacted).
    pub url: NetworkUrl,
    /// The signing secret.
    pub secret: String,
    /// Event type prefixes.
    pub event_types: Vec<String>,
    /// Unix ms: events older than the webhook are not sent to it.
    pub created_at: i64,
}

impl Target {
    /// Whether events of type `kind` go to this webhook.
    pub fn wants(&self, kind: &str) -> bool {
        self.event_types
            .iter()
            .any(|p| kind.starts_with(p.as_str()))
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "name: give 1 to 100 printable characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn check_secret(secret: &str) -> Result<String> {
    let n = secret.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&n)
        || !secret.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(Error::Invalid(format!(
            "secret: give {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} printable ASCII characters \
             without spaces, or leave it out to have one generated"
        )));
    }
    Ok(secret.to_string())
}

fn check_event_types(types: &[String]) -> Result<Vec<String>> {
    if types.is_empty() || types.len() > MAX_EVENT_TYPES {
        return Err(Error::Invalid(format!(
            "event_types: list 1 to {MAX_EVENT_TYPES} type prefixes, e.g. \"violation.\" or \
             \"camera.state\""
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim();
        let ok = (1..=64).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'));
        if !ok {
            return Err(Error::Invalid(format!(
                "event_types: `{}` is not a type prefix (lowercase letters, digits, `.` and `_`)",
                t.chars().take(64).collect::<String>()
            )));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Parses a webhook URL, with the messages worded for webhooks.
fn parse_url(input: &str) -> Result<NetworkUrl> {
    NetworkUrl::parse_http(input.trim()).map_err(|e| {
        Error::Invalid(format!(
            "url: {}",
            e.to_string().replace("the camera URL", "the webhook URL")
        ))
    })
}

impl Webhooks {
    /// The use case over `db`, sealing with `keys`, auditing to `audit`, connecting
    /// only where `policy` allows (give it the listeners' bound addresses, so a webhook
    /// cannot point at Vigil even when the configured port was 0).
    pub fn new(
        settings: &Settings,
        db: Database,
        keys: Keys,
        audit: AuditLog,
        policy: NetPolicy,
    ) -> Webhooks {
        Webhooks {
            db,
            keys,
            audit,
            rules: SourceRules::from_settings(settings),
            sender: Sender::new(policy, &settings.webhooks),
        }
    }

    /// The database it stores into (for the dispatcher).
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The HTTP sender (for the dispatcher).
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    fn view(row: &WebhookRow) -> WebhookView {
        WebhookView {
            id: row.id.clone(),
            name: row.name.clone(),
            url: row.url_redacted.clone(),
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    async fn row(&self, id: &WebhookId) -> Result<WebhookRow> {
        store::get(&self.db, id.as_str())
            .await?
            .ok_or(Error::NotFound("webhook"))
    }

    /// Opens a stored webhook's URL and secret.
    pub fn target(&self, row: &WebhookRow) -> Result<Target> {
        let source = net::open(&row.url_sealed, &self.keys, &self.rules)?;
        let url = match source {
            SourceUrl::Network(url) => parse_url(url.expose())?,
            _ => {
                return Err(Error::Internal(
                    "a stored webhook URL is not http(s)".into(),
                ))
            }
        };
        let secret = self
            .keys
            .decrypt(purpose::WEBHOOK_SECRET, &row.secret_sealed)
            .ok()
            .and_then(|s| String::from_utf8(s).ok())
            .ok_or_else(|| {
                Error::Internal(
                    "a webhook secret cannot be decrypted (did secret_key change?)".into(),
                )
            })?;
        Ok(Target {
            id: row.id.clone(),
            url,
            secret,
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            created_at: row.created_at,
        })
    }

    /// The enabled webhooks, opened (ones that cannot be opened are logged and skipped).
    pub async fn enabled_targets(&self) -> Result<Vec<Target>> {
        let rows = store::list(&self.db).await?;
        Ok(rows
            .iter()
            .filter(|r| r.enabled)
            .filter_map(|r| match self.target(r) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(webhook = %r.id, error = %e, "webhook skipped");
                    None
                }
            })
            .collect())
    }

    /// Every webhook, oldest first.
    pub async fn list(&self) -> Result<Vec<WebhookView>> {
        Ok(store::list(&self.db)
            .await?
            .iter()
            .map(Self::view)
            .collect())
    }

    /// One webhook.
    pub async fn get(&self, id: &WebhookId) -> Result<WebhookView> {
        Ok(Self::view(&self.row(id).await?))
    }

    /// Checks the URL (syntax and SSRF guard after DNS) and seals it.
    async fn seal_url(&self, input: &str) -> Result<(String, String)> {
        let url = parse_url(input)?;
        net::resolve_and_check(&url, self.sender.policy())
            .await
            .map_err(|e| Error::Invalid(format!("url: {e}")))?;
        let redacted = url.redacted();
        let sealed = net::seal(&SourceUrl::Network(url), &self.keys)?;
        Ok((sealed, redacted))
    }

    fn seal_secret(&self, secret: &str) -> Result<String> {
        self.keys
            .encrypt(purpose::WEBHOOK_SECRET, secret.as_bytes())
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Creates a webhook; the answer carries the secret, shown only now.
    pub async fn create(&self, actor: &Actor, new: NewWebhook) -> Result<CreatedWebhook> {
        let name = check_name(&new.name)?;
        let event_types = check_event_types(&new.event_types)?;
        let secret = match &new.secret {
            Some(s) => check_secret(s)?,
            None => random_token(32),
        };
        let (url_sealed, url_redacted) = self.seal_url(&new.url).await?;
        let now = now_ms();
        let row = WebhookRow {
            id: new_id(),
            name,
            url_sealed,
            url_redacted,
            secret_sealed: self.seal_secret(&secret)?,
            event_types: serde_json::to_string(&event_types)
                .map_err(|e| Error::Internal(e.to_string()))?,
            enabled: new.enabled,
            created_at: now,
            updated_at: now,
        };
        store::insert(&self.db, &row).await?;
        self.record(
            actor,
            AuditEvent::new(AuditAction::WebhookCreate)
                .target("webhook", row.id.clone())
                .detail("name", row.name.clone())
                .detail("url", row.url_redacted.clone())
                .detail("event_types", event_types),
        )
        .await;
        Ok(CreatedWebhook {
            secret,
            webhook: Self::view(&row),
        })
    }

    /// Changes a webhook.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &WebhookId,
        patch: WebhookPatch,
    ) -> Result<WebhookView> {
        let mut row = self.row(id).await?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = &patch.name {
            row.name = check_name(name)?;
            changed.push("name");
        }
        if let Some(types) = &patch.event_types {
            row.event_types = serde_json::to_string(&check_event_types(types)?)
                .map_err(|e| Error::Internal(e.to_string()))?;
            changed.push("event_types");
        }
        if let Some(secret) = &patch.secret {
            row.secret_sealed = self.seal_secret(&check_secret(secret)?)?;
            changed.push("secret");
        }
        if let Some(url) = &patch.url {
            (row.url_sealed, row.url_redacted) = self.seal_url(url).await?;
            changed.push("url");
        }
        if let Some(enabled) = patch.enabled {
            row.enabled = enabled;
            changed.push("enabled");
        }
        row.updated_at = now_ms();
        if !store::update(&self.db, &row).await? {
            return Err(Error::NotFound("webhook"));
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::WebhookUpdate)
                .target("webhook", row.id.clone())
                .detail("changed", changed)
                .detail("url", row.url_redacted.clone())
                .detail("enabled", row.enabled),
        )
        .await;
        Ok(Self::view(&row))
    }

    /// Deletes a webhook and its delivery log.
    pub async fn delete(&self, actor: &Actor, id: &WebhookId) -> Result<()> {
        let row = self.row(id).await?;
        if !store::delete(&self.db, id.as_str()).await? {
            return Err(Error::NotFound("webhook"));
        }
        self.record(
            actor,
            AuditEvent::new(AuditAction::WebhookDelete)
                .target("webhook", row.id.clone())
                .detail("name", row.name),
        )
        .await;
        Ok(())
    }

    /// A webhook's latest deliveries, newest first.
    pub async fn deliveries(&self, id: &WebhookId, limit: i64) -> Result<Vec<DeliveryView>> {
        self.row(id).await?;
        let limit = limit.clamp(1, MAX_DELIVERIES_LISTED);
        Ok(store::deliveries(&self.db, id.as_str(), limit)
            .await?
            .into_iter()
            .map(DeliveryView::from)
            .collect())
    }

    /// Posts a `webhook.test` event to the webhook now, once (no retry, not logged),
    /// signed like every delivery, and reports how the receiver answered.
    pub async fn test(&self, id: &WebhookId) -> Result<TestResult> {
        let target = self.target(&self.row(id).await?)?;
        let at = now_ms();
        let body = serde_json::json!({
            "id": 0,
            "type": "webhook.test",
            "at": at,
            "payload": { "webhook_id": target.id, "message": "a test from Vigil" },
        })
        .to_string();
        let started = std::time::Instant::now();
        let attempt = self
            .sender
            .send(&target, &new_id(), "webhook.test", &body)
            .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(match attempt {
            Attempt::Delivered { status } => TestResult {
                ok: true,
                status_code: Some(status),
                error: None,
                duration_ms,
            },
            Attempt::Failed { status, error } => TestResult {
                ok: false,
                status_code: status,
                error: Some(error),
                duration_ms,
            },
        })
    }

    async fn record(&self, actor: &Actor, event: AuditEvent) {
        let action = event.action.as_str();
        if let Err(e) = self.audit.record(actor, event).await {
            tracing::error!(error = %e, action, "could not write the audit record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_with_sentences() {
        assert!(check_name("  ").is_err());
        assert_eq!(check_name(" Slack ").unwrap(), "Slack");
        assert!(check_secret("short").is_err());
        assert!(check_secret("a secret with spaces in it").is_err());
        assert!(check_secret("0123456789abcdef").is_ok());
        assert!(check_event_types(&[]).is_err());
        assert!(check_event_types(&["Violation.".into()]).is_err());
        assert_eq!(
            check_event_types(&[
                "violation.".into(),
                " violation.".into(),
                "camera.state".into()
            ])
            .unwrap(),
            ["violation.", "camera.state"]
        );
        let e = parse_url("ftp://x").unwrap_err().to_string();
        assert!(e.starts_with("url:"), "{e}");
        let e = parse_url("http://a b").unwrap_err().to_string();
        assert!(e.contains("webhook URL"), "{e}");
    }
}
