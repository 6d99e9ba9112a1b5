//! The hydrator's CRM reads: a batch read with the portal's token (a `401` forces one
//! refresh and one retry), within the portal's rate limit, each call counted once, for the
//! metrics and the certification monitor alike.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot::crm::{BatchRead, CrmClient, ObjectType, RateLimit};
use hubspot::failure::{HubSpotError, Kind};
use hubspot::time::Clock;
use hubspot::version::ApiVersion;
use secrecy::SecretString;
use tracing::field::Empty;
use tracing::Instrument;

use super::super::limits::PortalLimits;
use super::decisions::Failure;
use crate::monitor::tally::Tally;
use crate::oauth::tokens::TokenService;
use crate::telemetry::context;
use store::{ObjectId, PortalId};

/// A portal's limiter wait up to this is waited out in the round; a longer one (a pause
/// after a `429`, an exhausted window) puts the events back instead.
const INLINE_WAIT: Duration = Duration::from_secs(1);
/// HubSpot's rate-limit window, for pauses after a `429` without `Retry-After`.
pub(super) const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The endpoint class the monitor counts the hydrator's calls under, with the API version
/// they were made at, so a report shows which calls still use a version near its end.
fn batch_read_class(version: ApiVersion) -> &'static str {
    match version {
        ApiVersion::V3 => "crm.batch_read@v3",
        ApiVersion::V2026_03 => "crm.batch_read@2026-03",
        ApiVersion::V2026_09 => "crm.batch_read@2026-09",
    }
}

/// CRM reads for every portal of one process.
#[derive(Debug)]
pub(super) struct CrmReader {
    crm: CrmClient,
    tokens: Arc<TokenService>,
    limits: PortalLimits,
    /// Where each call is counted for the certification monitor.
    tally: Arc<Tally>,
    /// Calls made, by HTTP status (0: no answer), for metrics and `/api/v1/stats`.
    calls: Mutex<BTreeMap<u16, u64>>,
    /// Object types HubSpot refused with `403 MISSING_SCOPES`, per portal, with the install
    /// they were refused under: no more calls for them until the portal installs again.
    refused: Mutex<BTreeMap<(PortalId, ObjectType), i64>>,
}

impl CrmReader {
    pub(super) fn new(
        crm: CrmClient,
        tokens: Arc<TokenService>,
        rate_limit: u32,
        tally: Arc<Tally>,
        clock: Clock,
    ) -> Self {
        Self {
            crm,
            tokens,
            limits: PortalLimits::new(rate_limit, RATE_WINDOW, clock),
            tally,
            calls: Mutex::default(),
            refused: Mutex::default(),
        }
    }

    /// HubSpot refused `object`'s scope under the portal's install `installed_at`.
    pub(super) fn refuse(&self, portal: PortalId, object: ObjectType, installed_at: i64) {
        self.refused
            .lock()
            .expect("refused lock")
            .insert((portal, object), installed_at);
    }

    /// Whether HubSpot refused `object`'s scope under this install of the portal.
    pub(super) fn refused(&self, portal: PortalId, object: ObjectType, installed_at: i64) -> bool {
        self.refused
            .lock()
            .expect("refused lock")
            .get(&(portal, object))
            == Some(&installed_at)
    }

    /// The calls made, by HTTP status (0: no answer).
    pub(super) fn calls(&self) -> BTreeMap<u16, u64> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// What HubSpot's `X-HubSpot-RateLimit-*` headers said of the portal's window.
    pub(super) fn observe(&self, portal: PortalId, seen: &RateLimit) {
        self.limits.observe(portal, seen);
    }

    /// No calls for the portal for `wait` (HubSpot answered `429`).
    pub(super) fn pause(&self, portal: PortalId, wait: Duration) {
        self.limits.pause(portal, wait);
    }

    /// Takes one of the portal's calls, waiting a short while for it; the longer wait
    /// otherwise.
    pub(super) async fn slot(&self, portal: PortalId) -> Result<(), Duration> {
        loop {
            match self.limits.acquire(portal) {
                Err(wait) if wait <= INLINE_WAIT => tokio::time::sleep(wait).await,
                other => return other,
            }
        }
    }

    /// One batch read with the portal's token; a `401` forces one refresh and one retry.
    pub(super) async fn batch_read(
        &self,
        portal: PortalId,
        object: ObjectType,
        ids: &[ObjectId],
    ) -> Result<BatchRead, Failure> {
        let token = self.tokens.token_for(portal).await?;
        match self.call(portal, object, &token, ids).await {
            Err(error) if error.kind() == Kind::Unauthorized => {
                let fresh: SecretString = self.tokens.token_after_rejection(portal, &token).await?;
                if self.slot(portal).await.is_err() {
                    return Err(Failure::HubSpot(error));
                }
                Ok(self.call(portal, object, &fresh, ids).await?)
            }
            other => Ok(other?),
        }
    }

    /// One CRM call, in its own span, counted by the status HubSpot answered here and for
    /// the monitor.
    async fn call(
        &self,
        portal: PortalId,
        object: ObjectType,
        token: &SecretString,
        ids: &[ObjectId],
    ) -> Result<BatchRead, HubSpotError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let span = tracing::info_span!(
            target: context::TRACED,
            "crm.batch_read",
            portal_id = portal.0,
            object_type = object.plural(),
            hubspot.api_version = self.crm.version().as_str(),
            records = ids.len() as i64,
            http.status_code = Empty,
        );
        let result = self
            .crm
            .batch_read(token, object, &ids, &[])
            .instrument(span.clone())
            .await;
        let status = match &result {
            Ok(read) => read.status,
            Err(HubSpotError::Answered { status, .. }) => *status,
            Err(_) => 0,
        };
        span.record("http.status_code", i64::from(status));
        self.count(portal, status);
        result
    }

    /// The one place a CRM call is counted: for the monitor, and by status.
    fn count(&self, portal: PortalId, status: u16) {
        self.tally
            .api_call(portal, batch_read_class(self.crm.version()), status);
        *self
            .calls
            .lock()
            .expect("calls lock")
            .entry(status)
            .or_default() += 1;
    }
}
