//! What an operator sees of one portal: its install and token state (never a token), its
//! standing, the records mirrored and the events kept unhandled by type, the properties
//! read, dead letters (the hydrator's and the sinks'), quarantined events and audit
//! trail. The admin API's `GET /api/v1/portals/{id}` and the dashboard's portal page are
//! both this.

use serde::Serialize;
use store::{
    AuditEntry, EventsKept, Portal, PortalId, RecordsHeld, SetAside, SetAsideEvent, Store,
    StoreError,
};
use utoipa::ToSchema;

use super::dead_letters::{dead_letters, DeadLetter, DeadLetters, SetAsideView};
use crate::monitor::levels::AlertLevels;
use crate::monitor::standings::{standing, Standing};
use crate::timestamp::Timestamp;
use crate::workers::hydrator::properties::TrackedProperties;
use crate::workers::hydrator::Hydrator;

/// Most dead letters and quarantined events one portal's view lists.
const LISTED: u32 = 200;

#[derive(Debug)]
pub struct PortalView {
    pub portal: Portal,
    pub standing: Standing,
    pub records: Vec<RecordsHeld>,
    pub unhandled: Vec<EventsKept>,
    /// Empty where no hydrator runs.
    pub properties: Vec<TrackedProperties>,
    pub dead: DeadLetters,
    pub quarantined: Vec<SetAsideEvent>,
    pub audit: Vec<AuditEntry>,
}

/// The portal's view, if spoke knows the portal.
pub async fn portal_view(
    store: &dyn Store,
    hydrator: Option<&Hydrator>,
    levels: AlertLevels,
    portal_id: PortalId,
    now_ms: i64,
) -> Result<Option<PortalView>, StoreError> {
    let (Some(portal), Some(standing)) = (
        store.portal(portal_id).await?,
        standing(store, levels, portal_id, now_ms).await?,
    ) else {
        return Ok(None);
    };
    let properties = hydrator
        .map(|h| h.tracked_properties(portal_id, portal.installed_at))
        .unwrap_or_default();
    Ok(Some(PortalView {
        records: store.records_held(portal_id).await?,
        unhandled: store.unhandled_kept(portal_id).await?,
        properties,
        portal,
        standing,
        dead: dead_letters(store, Some(portal_id), None, LISTED).await?,
        quarantined: store
            .set_aside_events(SetAside::Quarantined, Some(portal_id), LISTED)
            .await?,
        audit: store.audit_trail(portal_id).await?,
    }))
}

/// One portal as the admin API shows it: `GET /api/v1/portals/{id}`. Never a token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalDetail {
    pub portal_id: PortalId,
    /// `installed`, `needs_reauth` or `uninstalled`.
    pub state: &'static str,
    pub hub_domain: Option<String>,
    pub app_id: Option<i64>,
    pub scopes: Vec<String>,
    pub installer_email: Option<String>,
    pub reauth_reason: Option<String>,
    pub installed_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the access token spoke holds expires.
    pub token_expires_at: Option<Timestamp>,
    pub standing: Standing,
    /// Records mirrored, by type and state.
    pub records: Vec<RecordsView>,
    /// Events kept unhandled, by subscription type and reason.
    pub unhandled: Vec<UnhandledView>,
    /// The properties read per hydrated type.
    pub properties: Vec<TrackedProperties>,
    pub dead_letters: Vec<DeadLetter>,
    pub quarantined: Vec<SetAsideView>,
    pub audit: Vec<AuditView>,
}

/// A portal's mirrored records of one type in one state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordsView {
    pub object_type: String,
    pub state: String,
    pub records: i64,
}

/// A portal's events of one subscription type kept unhandled for one reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnhandledView {
    pub subscription_type: String,
    pub reason: String,
    pub events: i64,
}

/// An entry of a portal's audit trail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub at: Timestamp,
    pub action: String,
    pub actor: String,
    pub detail: String,
}

impl From<&PortalView> for PortalDetail {
    fn from(view: &PortalView) -> Self {
        let p = &view.portal;
        Self {
            portal_id: p.portal_id,
            state: p.state.as_str(),
            hub_domain: p.hub_domain.clone(),
            app_id: p.app_id,
            scopes: p.scopes.clone(),
            installer_email: p.installer_email.clone(),
            reauth_reason: p.reauth_reason.clone(),
            installed_at: Timestamp(p.installed_at),
            updated_at: Timestamp(p.updated_at),
            token_expires_at: p.access_expires_at.map(Timestamp),
            standing: view.standing.clone(),
            records: view
                .records
                .iter()
                .map(|r| RecordsView {
                    object_type: r.object_type.clone(),
                    state: r.state.clone(),
                    records: r.records,
                })
                .collect(),
            unhandled: view
                .unhandled
                .iter()
                .map(|k| UnhandledView {
                    subscription_type: k.subscription_type.clone(),
                    reason: k.reason.clone(),
                    events: k.events,
                })
                .collect(),
            properties: view.properties.clone(),
            dead_letters: view.dead.views(),
            quarantined: view.quarantined.iter().map(SetAsideView::from).collect(),
            audit: view
                .audit
                .iter()
                .map(|a| AuditView {
                    at: Timestamp(a.at),
                    action: a.action.clone(),
                    actor: a.actor.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
        }
    }
}
