//! Access tokens on demand: [`TokenService::token_for`] never hands out an expired token,
//! and refreshing is single-flight per portal: callers in this process queue on one
//! per-portal lock, and instances sharing a database take the store's refresh lease, so
//! any number of concurrent callers cause one call to HubSpot. A refresh token HubSpot
//! refuses marks the portal `needs_reauth` (its events are kept); other failures are
//! retried. [`TokenService::run_refresher`] renews tokens ahead of expiry in the background.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot::failure::HubSpotError;
use hubspot::oauth::OAuthClient;
use hubspot::time::{duration_ms as ms, Clock};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use store::{PortalId, PortalState, SealedTokens, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::vault::{Keyring, VaultError};
use crate::backoff::Backoff;
use crate::metrics::{counters_for, Outcome};

/// How long a lease on a portal's refresh lasts: longer than one OAuth call may take.
const LEASE: Duration = Duration::from_secs(30);
/// How long a caller waits for another instance's refresh before giving up for now.
const LEASE_WAIT: Duration = Duration::from_secs(15);
/// How often a caller looks whether another instance has finished refreshing.
const LEASE_POLL: Duration = Duration::from_millis(50);
/// A token with less life than this left is refreshed before it is handed out (at most half
/// its lifetime, see [`fresh_enough`]).
const MIN_VALIDITY: Duration = Duration::from_secs(30);
/// Backoff after transient refresh failures: 2 s doubling up to 10 minutes.
const REFRESH_BACKOFF: Backoff = Backoff {
    start: Duration::from_secs(2),
    cap: Duration::from_secs(600),
};

/// Why no token could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("portal {0} has not installed the app")]
    NotInstalled(PortalId),
    #[error("portal {0} must install the app again")]
    NeedsReauth(PortalId),
    #[error("HubSpot could not refresh the token just now")]
    Unavailable(#[source] HubSpotError),
    #[error("another instance is still refreshing the token")]
    LeaseBusy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

#[derive(Debug)]
pub struct TokenService {
    store: Arc<dyn Store>,
    oauth: OAuthClient,
    keys: Keyring,
    clock: Clock,
    /// This instance, as lease holder.
    holder: String,
    margin: Duration,
    flights: Mutex<HashMap<PortalId, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<PortalId, (u32, i64)>>,
    /// Refreshes this instance made, by outcome: refreshed, refused, failed.
    refreshes: Family<Outcome, Counter>,
}

impl TokenService {
    pub fn new(
        store: Arc<dyn Store>,
        oauth: OAuthClient,
        keys: Keyring,
        margin: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            oauth,
            keys,
            clock,
            holder: format!("spoke-{}", uuid::Uuid::new_v4().simple()),
            margin,
            flights: Mutex::default(),
            backoff: Mutex::default(),
            refreshes: counters_for(&["refreshed", "refused", "failed"]),
        }
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "token_refreshes",
            "Access-token refreshes by outcome: refreshed, refused (the portal must install again), failed",
            self.refreshes.clone(),
        );
    }

    fn count_refresh(&self, outcome: &'static str) {
        self.refreshes.get_or_create(&Outcome { outcome }).inc();
    }

    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A valid access token for `portal`, refreshed first if it is about to expire.
    pub async fn token_for(&self, portal: PortalId) -> Result<SecretString, TokenError> {
        self.fresh_token(portal, MIN_VALIDITY).await
    }

    async fn sealed(&self, portal: PortalId) -> Result<SealedTokens, TokenError> {
        if let Some(sealed) = self.store.tokens(portal).await? {
            return Ok(sealed);
        }
        match self.store.portal(portal).await?.map(|p| p.state) {
            Some(PortalState::NeedsReauth) => Err(TokenError::NeedsReauth(portal)),
            _ => Err(TokenError::NotInstalled(portal)),
        }
    }

    /// A token valid for at least `wanted` more; refreshes (single-flight) if needed.
    async fn fresh_token(
        &self,
        portal: PortalId,
        wanted: Duration,
    ) -> Result<SecretString, TokenError> {
        let seen = self.sealed(portal).await?;
        if fresh_enough(&seen, wanted, self.now_ms()) {
            return Ok(self.keys.open_pair(portal, &seen)?.access);
        }
        let flight = self.flight(portal);
        let _turn = flight.lock().await;
        let current = self.sealed(portal).await?;
        if current.access_expires_at != seen.access_expires_at
            && current.access_expires_at > self.now_ms()
        {
            return Ok(self.keys.open_pair(portal, &current)?.access);
        }
        self.refresh(portal, current).await
    }

    /// A new access token after HubSpot refused `rejected` with a `401`: the one another
    /// caller got meanwhile, or one refresh (single-flight as in [`Self::token_for`]).
    pub async fn token_after_rejection(
        &self,
        portal: PortalId,
        rejected: &SecretString,
    ) -> Result<SecretString, TokenError> {
        let flight = self.flight(portal);
        let _turn = flight.lock().await;
        let current = self.sealed(portal).await?;
        let open = self.keys.open_pair(portal, &current)?;
        if open.access.expose_secret() != rejected.expose_secret() {
            return Ok(open.access);
        }
        self.refresh(portal, current).await
    }

    /// The lock callers of this instance queue on to refresh `portal`.
    fn flight(&self, portal: PortalId) -> Arc<tokio::sync::Mutex<()>> {
        self.flights
            .lock()
            .expect("flights lock")
            .entry(portal)
            .or_default()
            .clone()
    }

    /// Refreshes under the store's lease, or waits for the instance that holds it.
    async fn refresh(
        &self,
        portal: PortalId,
        seen: SealedTokens,
    ) -> Result<SecretString, TokenError> {
        let now = self.now_ms();
        if !self
            .store
            .lease_refresh(portal, &self.holder, now + ms(LEASE), now)
            .await?
        {
            return self
                .await_other_instance(portal, seen.access_expires_at)
                .await;
        }
        // The lease may have come free because another instance just stored new tokens.
        let current = self.sealed(portal).await?;
        if current.access_expires_at != seen.access_expires_at
            && current.access_expires_at > self.now_ms()
        {
            self.store
                .store_refreshed(portal, &self.holder, &current)
                .await?;
            return Ok(self.keys.open_pair(portal, &current)?.access);
        }
        let open = self.keys.open_pair(portal, &current)?;
        match self.oauth.refresh(&open.refresh).await {
            Ok(fresh) => {
                let issued_at = self.now_ms();
                let expires_at = fresh.expires_at(issued_at);
                let sealed = self.keys.seal_pair(
                    portal,
                    &fresh.access_token,
                    &fresh.refresh_token,
                    issued_at,
                    expires_at,
                );
                self.store
                    .store_refreshed(portal, &self.holder, &sealed)
                    .await?;
                self.backoff.lock().expect("backoff lock").remove(&portal);
                self.count_refresh("refreshed");
                info!(
                    portal_id = portal.0,
                    expires_in = fresh.expires_in,
                    "access token refreshed"
                );
                Ok(fresh.access_token)
            }
            Err(error) if error.is_revoked() => {
                warn!(portal_id = portal.0, error = %error, "refresh token refused: portal needs to install again");
                self.count_refresh("refused");
                self.store
                    .mark_needs_reauth(portal, &error.to_string(), self.now_ms())
                    .await?;
                Err(TokenError::NeedsReauth(portal))
            }
            Err(error) => {
                self.count_refresh("failed");
                self.store.refresh_failed(portal, &self.holder).await?;
                Err(TokenError::Unavailable(error))
            }
        }
    }

    async fn await_other_instance(
        &self,
        portal: PortalId,
        seen_expiry: i64,
    ) -> Result<SecretString, TokenError> {
        let deadline = tokio::time::Instant::now() + LEASE_WAIT;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(LEASE_POLL).await;
            let current = self.sealed(portal).await?;
            if current.access_expires_at != seen_expiry && current.access_expires_at > self.now_ms()
            {
                return Ok(self.keys.open_pair(portal, &current)?.access);
            }
        }
        Err(TokenError::LeaseBusy)
    }

    /// Renews tokens that expire within the margin (±10%), until `shutdown`.
    pub async fn run_refresher(self: Arc<Self>, shutdown: CancellationToken) {
        let tick = (self.margin / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
        let mut ticks = tokio::time::interval(tick);
        while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
            self.refresh_due().await;
        }
    }

    /// One round of the refresher: refreshes every installed portal's token that expires
    /// within the margin (±10% jitter, so instances and portals spread out), except those
    /// backing off after a failure.
    pub async fn refresh_due(&self) {
        let margin = self.margin.mul_f64(rand::rng().random_range(0.9..=1.1));
        let due = match self.store.expiring_before(self.now_ms() + ms(margin)).await {
            Ok(due) => due,
            Err(error) => {
                warn!(error = %error, "could not list tokens to refresh");
                return;
            }
        };
        for portal in due {
            if !self.backoff_allows(portal) {
                continue;
            }
            match self.fresh_token(portal, margin).await {
                Ok(_) | Err(TokenError::NeedsReauth(_)) => {}
                Err(error) => {
                    let wait = self.back_off(portal);
                    warn!(portal_id = portal.0, error = %error, retry_in_s = wait.as_secs(), "refresh failed");
                }
            }
        }
    }

    fn backoff_allows(&self, portal: PortalId) -> bool {
        self.backoff
            .lock()
            .expect("backoff lock")
            .get(&portal)
            .is_none_or(|(_, next)| self.now_ms() >= *next)
    }

    /// Records a failure; the next try waits per [`REFRESH_BACKOFF`].
    fn back_off(&self, portal: PortalId) -> Duration {
        let mut backoff = self.backoff.lock().expect("backoff lock");
        let (failures, _) = backoff.get(&portal).copied().unwrap_or((0, 0));
        let wait = REFRESH_BACKOFF.jittered(failures);
        backoff.insert(portal, (failures + 1, self.now_ms() + ms(wait)));
        wait
    }
}

/// Whether a token may be handed out without refreshing: it has more than `wanted` left, or,
/// for a token whose whole lifetime is shorter than twice that, more than half its life.
/// Without the second rule a just-issued short-lived token would look stale at once and
/// every instance would refresh it again.
pub fn fresh_enough(tokens: &SealedTokens, wanted: Duration, now_ms: i64) -> bool {
    let lifetime = tokens.access_expires_at - tokens.issued_at;
    tokens.access_expires_at > now_ms + ms(wanted).min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(at: i64, lifetime_ms: i64) -> SealedTokens {
        SealedTokens {
            key_id: "k".into(),
            access: vec![],
            refresh: vec![],
            issued_at: at,
            access_expires_at: at + lifetime_ms,
        }
    }

    #[test]
    fn long_lived_tokens_are_fresh_until_the_wanted_margin() {
        let token = issued(0, 1_800_000);
        assert!(fresh_enough(&token, Duration::from_secs(30), 1_769_999));
        assert!(!fresh_enough(&token, Duration::from_secs(30), 1_770_000));
    }

    #[test]
    fn short_lived_tokens_are_fresh_for_half_their_life() {
        let token = issued(0, 1_000);
        assert!(
            fresh_enough(&token, Duration::from_secs(30), 0),
            "just issued"
        );
        assert!(fresh_enough(&token, Duration::from_secs(30), 499));
        assert!(!fresh_enough(&token, Duration::from_secs(30), 500));
        assert!(
            !fresh_enough(&issued(0, 0), Duration::ZERO, 0),
            "an expired token never is"
        );
    }
}
