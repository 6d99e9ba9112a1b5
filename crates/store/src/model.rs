//! Engine-free values that cross the store's traits.

use std::collections::HashSet;

use crate::{ObjectId, PortalId};

/// An event's identity: what stays the same when HubSpot redelivers it (reference §2.7).
/// Parts HubSpot left out are 0, so the key stays comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::FromRow)]
pub struct EventKey {
    pub portal_id: PortalId,
    pub subscription_id: i64,
    pub event_id: i64,
    pub object_id: ObjectId,
    /// Epoch milliseconds.
    pub occurred_at: i64,
}

/// One event as received, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub key: EventKey,
    pub subscription_type: String,
    pub app_id: Option<i64>,
    pub attempt_number: i32,
    /// The event's JSON as HubSpot sent it.
    pub payload: String,
    /// The trace its receipt began (W3C `traceparent`), when traces are on.
    pub trace_context: Option<String>,
}

/// What [`crate::Inbox::append`] did with one delivery's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events stored for the first time.
    pub stored: u32,
    /// Events already in the inbox (a redelivery), counted and not stored again.
    pub duplicates: u32,
}

impl AppendOutcome {
    fn count(&mut self, stored: bool) {
        if stored {
            self.stored += 1;
        } else {
            self.duplicates += 1;
        }
    }

    /// Each delivery's outcome, given the keys the database reports as newly inserted. An
    /// event whose key is not among them, or was claimed by an earlier copy in the same
    /// group, is a redelivery.
    pub(crate) fn attribute(
        deliveries: &[Vec<NewEvent>],
        mut new_keys: HashSet<EventKey>,
    ) -> Vec<Self> {
        deliveries
            .iter()
            .map(|delivery| {
                let mut outcome = Self::default();
                for event in delivery {
                    outcome.count(new_keys.remove(&event.key));
                }
                outcome
            })
            .collect()
    }
}

/// Where a portal stands with the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalState {
    Installed,
    /// HubSpot refused the refresh token: a user must install again. Events are kept.
    NeedsReauth,
    Uninstalled,
}

impl PortalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::NeedsReauth => "needs_reauth",
            Self::Uninstalled => "uninstalled",
        }
    }
}

/// A state the database holds that this build does not know: refused rather than guessed,
/// since reading it as "uninstalled" would silently stop a portal's work.
#[derive(Debug, thiserror::Error)]
#[error("unknown portal state `{0}`")]
pub struct UnknownPortalState(String);

impl TryFrom<String> for PortalState {
    type Error = UnknownPortalState;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "installed" => Ok(Self::Installed),
            "needs_reauth" => Ok(Self::NeedsReauth),
            "uninstalled" => Ok(Self::Uninstalled),
            _ => Err(UnknownPortalState(text)),
        }
    }
}

/// A HubSpot account that installed the app, as spoke knows it (never its tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    pub portal_id: PortalId,
    pub state: PortalState,
    pub hub_domain: Option<String>,
    pub app_id: Option<i64>,
    pub scopes: Vec<String>,
    pub installer_id: Option<i64>,
    pub installer_email: Option<String>,
    pub reauth_reason: Option<String>,
    /// Epoch milliseconds.
    pub installed_at: i64,
    pub updated_at: i64,
    /// When the access token expires, if spoke holds tokens.
    pub access_expires_at: Option<i64>,
}

/// Access and refresh token as sealed by the vault: opaque bytes under a key id.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SealedTokens {
    pub key_id: String,
    pub access: Vec<u8>,
    pub refresh: Vec<u8>,
    /// When HubSpot issued the access token, epoch milliseconds: with the expiry, the
    /// token's lifetime.
    pub issued_at: i64,
    /// Epoch milliseconds.
    pub access_expires_at: i64,
}

impl std::fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTokens")
            .field("key_id", &self.key_id)
            .field("issued_at", &self.issued_at)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

/// What an install (or reinstall) stores.
#[derive(Debug, Clone)]
pub struct Install {
    pub portal_id: PortalId,
    pub hub_domain: Option<String>,
    pub app_id: Option<i64>,
    pub scopes: Vec<String>,
    pub installer_id: Option<i64>,
    pub installer_email: Option<String>,
    pub tokens: SealedTokens,
}

/// One line of a portal's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Epoch milliseconds.
    pub at: i64,
    pub portal_id: PortalId,
    pub action: String,
    pub actor: String,
    pub detail: String,
}

/// Where an event that is not done and not to be retried goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAside {
    /// Kept and not fetched until its portal can be served (installed, scopes granted).
    Quarantined,
    /// Attempts used up: an operator replays it.
    Dead,
    /// A subscription type spoke does not hydrate: kept and marked, never dropped.
    Unhandled,
}

impl SetAside {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quarantined => "quarantined",
            Self::Dead => "dead",
            Self::Unhandled => "unhandled",
        }
    }
}

/// Which dead letters to replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    One(i64),
    /// One, only if it is `portal`'s (a page scoped to a portal replays nothing else).
    OneOf {
        id: i64,
        portal: PortalId,
    },
    Portal(PortalId),
    All,
}

impl Replay {
    /// The dead letter's id and the portal it must belong to, where the choice names them.
    pub(crate) fn filter(self) -> (Option<i64>, Option<PortalId>) {
        match self {
            Self::One(id) => (Some(id), None),
            Self::OneOf { id, portal } => (Some(id), Some(portal)),
            Self::Portal(portal) => (None, Some(portal)),
            Self::All => (None, None),
        }
    }
}

/// Events back to pending, due at `due_ms`; with an `error` the attempt counts as failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub ids: Vec<i64>,
    pub due_ms: i64,
    pub error: Option<String>,
}

/// Whose counts, or whose alert: one portal's, or the whole app's. In the statistics
/// tables the app's rows sum every portal's, written beside them so that app-wide figures
/// read a handful of rows whatever the number of portals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    #[default]
    App,
    /// `Portal(PortalId(0))`: deliveries whose body named no portal.
    Portal(PortalId),
}

impl Scope {
    /// How the tables key the app's rows: no portal id is negative.
    const APP_KEY: i64 = -1;

    /// The `portal_id` column's value for this scope.
    pub(crate) fn key(self) -> i64 {
        match self {
            Self::App => Self::APP_KEY,
            Self::Portal(id) => id.0,
        }
    }

    fn of_key(key: i64) -> Self {
        if key == Self::APP_KEY {
            Self::App
        } else {
            Self::Portal(PortalId(key))
        }
    }

    /// The portal, unless app-wide.
    pub fn portal(self) -> Option<PortalId> {
        match self {
            Self::App => None,
            Self::Portal(id) => Some(id),
        }
    }
}

impl From<Option<PortalId>> for Scope {
    /// `None` is the app.
    fn from(portal: Option<PortalId>) -> Self {
        portal.map_or(Self::App, Self::Portal)
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for Scope
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Scope
where
    i64: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self::of_key(i64::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::{PortalId, PortalState, Scope};

    #[test]
    fn portal_states_round_trip_and_unknown_ones_are_refused() {
        for state in [
            PortalState::Installed,
            PortalState::NeedsReauth,
            PortalState::Uninstalled,
        ] {
            let text = state.as_str().to_owned();
            assert_eq!(PortalState::try_from(text).expect("known"), state);
        }
        let error = PortalState::try_from("paused".to_owned()).unwrap_err();
        assert_eq!(error.to_string(), "unknown portal state `paused`");
    }

    #[test]
    fn the_app_and_each_portal_have_their_own_key() {
        assert_eq!(Scope::from(None), Scope::App);
        let portal = |id| Scope::Portal(PortalId(id));
        assert_eq!(Scope::from(Some(PortalId(7))), portal(7));
        for scope in [Scope::App, portal(0), portal(7)] {
            assert_eq!(Scope::of_key(scope.key()), scope);
        }
        assert_ne!(Scope::App.key(), portal(0).key());
    }
}
