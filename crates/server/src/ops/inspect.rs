//! What an operator sees of one portal: its install and token state (never a token), its
//! standing, dead letters (the hydrator's and the sinks'), quarantined events and audit
//! trail. The admin API's `GET /api/v1/portals/{id}` and the dashboard's portal page are
//! both this.

use serde_json::{json, Value};
use store::{AuditEntry, DeadDelivery, Portal, SetAside, SetAsideEvent, Store, StoreError};

use super::dead_letters::{dead_letters, DeadLetters};
use crate::monitor::alerts::AlertLevels;
use crate::monitor::standings::{standing, Standing};

/// Most dead letters and quarantined events one portal's view lists.
const LISTED: u32 = 200;

#[derive(Debug)]
pub struct PortalView {
    pub portal: Portal,
    pub standing: Standing,
    pub dead: DeadLetters,
    pub quarantined: Vec<SetAsideEvent>,
    pub audit: Vec<AuditEntry>,
}

/// The portal's view, if spoke knows the portal.
pub async fn portal_view(
    store: &dyn Store,
    levels: AlertLevels,
    portal_id: i64,
    now_ms: i64,
) -> Result<Option<PortalView>, StoreError> {
    let (Some(portal), Some(standing)) = (
        store.portal(portal_id).await?,
        standing(store, levels, portal_id, now_ms).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some(PortalView {
        portal,
        standing,
        dead: dead_letters(store, Some(portal_id), None, LISTED).await?,
        quarantined: store
            .set_aside_events(SetAside::Quarantined, Some(portal_id), LISTED)
            .await?,
        audit: store.audit_trail(portal_id).await?,
    }))
}

impl PortalView {
    pub fn json(&self) -> Value {
        let p = &self.portal;
        json!({
            "portalId": p.portal_id,
            "state": p.state.as_str(),
            "hubDomain": p.hub_domain,
            "appId": p.app_id,
            "scopes": p.scopes,
            "installerEmail": p.installer_email,
            "reauthReason": p.reauth_reason,
            "installedAt": p.installed_at,
            "updatedAt": p.updated_at,
            "tokenExpiresAt": p.access_expires_at,
            "standing": self.standing,
            "deadLetters": self.dead.json(),
            "quarantined": self.quarantined.iter().map(event_json).collect::<Vec<_>>(),
            "audit": self.audit.iter().map(|a| json!({
                "at": a.at,
                "action": a.action,
                "actor": a.actor,
                "detail": a.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

impl DeadLetters {
    /// The hydrator's (`"sink": null`) and the sinks' dead letters, in one list.
    pub fn json(&self) -> Value {
        let events = self.events.iter().map(event_json);
        let deliveries = self.deliveries.iter().map(delivery_json);
        Value::Array(events.chain(deliveries).collect())
    }
}

/// An event set aside (dead or quarantined), as the admin API shows it.
pub fn event_json(event: &SetAsideEvent) -> Value {
    json!({
        "id": event.id,
        "sink": null,
        "portalId": event.portal_id,
        "objectId": event.object_id,
        "subscriptionType": event.subscription_type,
        "attempts": event.attempts,
        "reason": event.reason,
        "lastError": event.last_error,
    })
}

/// A sink's dead delivery, as the admin API shows it.
pub fn delivery_json(delivery: &DeadDelivery) -> Value {
    json!({
        "id": delivery.id,
        "sink": delivery.sink,
        "portalId": delivery.portal_id,
        "objectType": delivery.object_type,
        "objectId": delivery.object_id,
        "state": delivery.record_state,
        "attempts": delivery.attempts,
        "lastError": delivery.last_error,
    })
}
