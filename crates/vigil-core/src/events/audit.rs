//! Audit records become events: the audit log's observer publishes each one.

use std::future::Future;
use std::pin::Pin;

use vigil_auth::audit::{AuditObserver, AuditRecord};

use super::{EventBus, EventKind};

/// Publishes every appended audit record as an `audit.<action>` event.
#[derive(Debug, Clone)]
pub struct AuditPublisher {
    bus: EventBus,
}

impl AuditPublisher {
    /// An observer publishing on `bus`; attach with
    /// [`AuditLog::with_observer`](vigil_auth::audit::AuditLog::with_observer).
    pub fn new(bus: EventBus) -> AuditPublisher {
        AuditPublisher { bus }
    }
}

impl AuditObserver for AuditPublisher {
    fn recorded<'a>(
        &'a self,
        record: &'a AuditRecord,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            // The record is stored; failing to publish loses a live notification (and a
            // cache invalidation, bounded by the cache's few seconds), not the record.
            if let Err(e) = self.bus.publish(&EventKind::Audit(record.clone())).await {
                tracing::error!(error = %e, action = %record.action, "could not publish an audit event");
            }
        })
    }
}
