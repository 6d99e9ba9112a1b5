//! The hydrator's CRM reads: a batch read with the portal's token (a `401` forces one
//! refresh and one retry), within the portal's rate limit, each call counted once, for the
//! metrics and the certification monitor alike.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot::associations::AssociationRead;
use hubspot::crm::{BatchRead, CrmClient, ObjectType, RateLimit};
use hubspot::failure::{HubSpotError, Kind};
use hubspot::listing::Page;
use hubspot::search::SearchPage;
use hubspot::time::Clock;
use hubspot::version::ApiVersion;
use secrecy::SecretString;
use tracing::field::Empty;
use tracing::{Instrument, Span};

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
/// Searches a portal's token makes a second at most: HubSpot allows about 5 and sends no
/// headers to say how many are left (reference §5.1), so spoke keeps one in hand.
const SEARCHES_PER_SECOND: u32 = 4;

/// The span of one CRM call (span names are static: one per kind of call).
macro_rules! crm_span {
    ($name:literal, $reader:expr, $portal:expr, $object:expr $(, $field:ident = $value:expr)*) => {
        tracing::info_span!(
            target: context::TRACED,
            $name,
            portal_id = $portal.0,
            object_type = %$object,
            hubspot.api_version = $reader.crm.version().as_str(),
            $($field = $value,)*
            http.status_code = Empty,
        )
    };
}

/// The hydrator's kinds of CRM call.
#[derive(Debug, Clone, Copy)]
enum Call {
    BatchRead,
    List,
    Search,
    Properties,
    Schemas,
    Associations,
}

impl Call {
    /// The endpoint class the monitor counts the call under, with the API version it was
    /// made at, so a report shows which calls still use a version near its end.
    fn class(self, version: ApiVersion) -> &'static str {
        match (self, version) {
            (Self::BatchRead, ApiVersion::V3) => "crm.batch_read@v3",
            (Self::BatchRead, ApiVersion::V2026_03) => "crm.batch_read@2026-03",
            (Self::BatchRead, ApiVersion::V2026_09) => "crm.batch_read@2026-09",
            (Self::List, ApiVersion::V3) => "crm.list@v3",
            (Self::List, ApiVersion::V2026_03) => "crm.list@2026-03",
            (Self::List, ApiVersion::V2026_09) => "crm.list@2026-09",
            (Self::Search, ApiVersion::V3) => "crm.search@v3",
            (Self::Search, ApiVersion::V2026_03) => "crm.search@2026-03",
            (Self::Search, ApiVersion::V2026_09) => "crm.search@2026-09",
            (Self::Properties, ApiVersion::V3) => "crm.properties@v3",
            (Self::Properties, ApiVersion::V2026_03) => "crm.properties@2026-03",
            (Self::Properties, ApiVersion::V2026_09) => "crm.properties@2026-09",
            (Self::Schemas, ApiVersion::V3) => "crm.schemas@v3",
            (Self::Schemas, ApiVersion::V2026_03) => "crm.schemas@2026-03",
            (Self::Schemas, ApiVersion::V2026_09) => "crm.schemas@2026-09",
            // v3 has no associations of its own: HubSpot's current undated ones are v4.
            (Self::Associations, ApiVersion::V3) => "crm.associations@v4",
            (Self::Associations, ApiVersion::V2026_03) => "crm.associations@2026-03",
            (Self::Associations, ApiVersion::V2026_09) => "crm.associations@2026-09",
        }
    }
}

/// CRM reads for every portal of one process.
#[derive(Debug)]
pub(super) struct CrmReader {
    crm: CrmClient,
    tokens: Arc<TokenService>,
    limits: PortalLimits,
    /// The search API's own limit, per portal.
    search_limits: PortalLimits,
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
            limits: PortalLimits::new(rate_limit, RATE_WINDOW, clock.clone()),
            search_limits: PortalLimits::new(
                SEARCHES_PER_SECOND + 1,
                Duration::from_secs(1),
                clock,
            ),
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

    /// No searches for the portal for `wait` (the search API answered `429`): its limit is
    /// its own, so the portal's other calls go on.
    pub(super) fn pause_search(&self, portal: PortalId, wait: Duration) {
        self.search_limits.pause(portal, wait);
    }

    /// Takes one of the portal's calls, waiting a short while for it; the longer wait
    /// otherwise.
    pub(super) async fn slot(&self, portal: PortalId) -> Result<(), Duration> {
        let mut waiting = None;
        if let Some(pace) = self.limits.live_pace(portal) {
            // Not a wait for the limit: background work keeps the calls meanwhile.
            tokio::time::sleep(pace).await;
        }
        loop {
            match self.limits.acquire_live(portal) {
                Err(wait) if wait <= INLINE_WAIT => {
                    waiting.get_or_insert_with(|| self.limits.live_wait(portal));
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => {
                    // The events go back until then: background work leaves the calls to
                    // them, with a round's slack to claim them again.
                    self.limits.live_due_in(portal, wait, INLINE_WAIT);
                    return Err(wait);
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// Takes one of the portal's calls for background work, waiting for it as long as it
    /// takes: live reads go first.
    pub(super) async fn background_slot(&self, portal: PortalId) {
        while let Err(wait) = self.limits.acquire_background(portal) {
            tokio::time::sleep(wait).await;
        }
    }

    /// One batch read of `ids` with `properties` (HubSpot's defaults when empty).
    pub(super) async fn batch_read(
        &self,
        portal: PortalId,
        object: ObjectType,
        ids: &[ObjectId],
        properties: &[String],
    ) -> Result<BatchRead, Failure> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let ids = ids.as_slice();
        self.authorized(portal, |token| async move {
            let span = crm_span!(
                "crm.batch_read",
                self,
                portal,
                object,
                records = ids.len() as i64
            );
            let read = self
                .crm
                .batch_read(&token, object, ids, properties)
                .instrument(span.clone())
                .await;
            self.counted(
                &span,
                portal,
                Call::BatchRead,
                read.as_ref().map(|r| r.status),
            );
            read
        })
        .await
    }

    /// One page of `object`'s records, the one after `after` (the first without).
    pub(super) async fn list_page(
        &self,
        portal: PortalId,
        object: ObjectType,
        after: Option<&str>,
        properties: &[String],
    ) -> Result<Page, Failure> {
        let span = crm_span!("crm.list", self, portal, object);
        let page = self
            .authorized(portal, |token| {
                let span = span.clone();
                async move {
                    let page = self
                        .crm
                        .list_page(&token, object, after, properties)
                        .instrument(span.clone())
                        .await;
                    self.counted(&span, portal, Call::List, page.as_ref().map(|_| 200));
                    page
                }
            })
            .await?;
        if let Some(seen) = &page.rate_limit {
            self.observe(portal, seen);
        }
        Ok(page)
    }

    /// One search of `object`'s records modified since `since_ms`, within the portal's
    /// search limit.
    pub(super) async fn search_modified(
        &self,
        portal: PortalId,
        object: ObjectType,
        since_ms: i64,
        after: Option<&str>,
    ) -> Result<SearchPage, Failure> {
        let span = crm_span!("crm.search", self, portal, object);
        self.searching(portal, span, |token| async move {
            self.crm
                .search_modified(&token, object, since_ms, after)
                .await
        })
        .await
    }

    /// How many live records of `object` the portal has (one search).
    pub(super) async fn record_count(
        &self,
        portal: PortalId,
        object: ObjectType,
    ) -> Result<u64, Failure> {
        let span = crm_span!("crm.search", self, portal, object);
        self.searching(portal, span, |token| async move {
            self.crm.count(&token, object).await
        })
        .await
    }

    /// One search call (within `span`) once the portal's search limit allows it.
    async fn searching<T, Searched>(
        &self,
        portal: PortalId,
        span: Span,
        search: impl Fn(SecretString) -> Searched,
    ) -> Result<T, Failure>
    where
        Searched: Future<Output = Result<T, HubSpotError>>,
    {
        while let Err(wait) = self.search_limits.acquire(portal) {
            tokio::time::sleep(wait).await;
        }
        self.authorized(portal, |token| {
            let (span, searched) = (span.clone(), search(token));
            async move {
                let searched = searched.instrument(span.clone()).await;
                self.counted(&span, portal, Call::Search, searched.as_ref().map(|_| 200));
                searched
            }
        })
        .await
    }

    /// Whether a list call of `object` with `properties` stays within `max` URL bytes.
    pub(super) fn fits_list(&self, object: ObjectType, properties: &[String], max: usize) -> bool {
        // The longest cursor HubSpot's list API is seen to send is well under 100 bytes.
        self.crm.list_url(object, None, properties).as_str().len() + 100 <= max
    }

    /// One associations batch read of `ids` of `from` to records of `to`.
    pub(super) async fn association_batch_read(
        &self,
        portal: PortalId,
        from: ObjectType,
        to: ObjectType,
        ids: &[ObjectId],
    ) -> Result<AssociationRead, Failure> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let ids = ids.as_slice();
        let read = self
            .authorized(portal, |token| async move {
                let span = crm_span!(
                    "crm.associations",
                    self,
                    portal,
                    from,
                    to_object_type = to.to_string(),
                    records = ids.len() as i64
                );
                let read = self
                    .crm
                    .association_batch_read(&token, from, to, ids)
                    .instrument(span.clone())
                    .await;
                self.counted(
                    &span,
                    portal,
                    Call::Associations,
                    read.as_ref().map(|_| 200),
                );
                read
            })
            .await?;
        if let Some(seen) = &read.rate_limit {
            self.observe(portal, seen);
        }
        Ok(read)
    }

    /// The names of every property `object` has in the portal.
    pub(super) async fn property_names(
        &self,
        portal: PortalId,
        object: ObjectType,
    ) -> Result<Vec<String>, Failure> {
        let span = crm_span!("crm.properties", self, portal, object);
        self.listing(portal, Call::Properties, span, |token| async move {
            self.crm.property_names(&token, object).await
        })
        .await
    }

    /// The custom object types the portal defines, as type ids.
    pub(super) async fn custom_types(&self, portal: PortalId) -> Result<Vec<String>, Failure> {
        let span = tracing::info_span!(
            target: context::TRACED,
            "crm.schemas",
            portal_id = portal.0,
            hubspot.api_version = self.crm.version().as_str(),
            http.status_code = Empty,
        );
        let types = self
            .listing(portal, Call::Schemas, span, |token| async move {
                self.crm.custom_object_types(&token).await
            })
            .await?;
        Ok(types.iter().map(|t| t.type_id().into_owned()).collect())
    }

    /// One listing call (within `span`) with the portal's token, counted as `call`; the
    /// rate-limit figures HubSpot sends with it are observed.
    async fn listing<T, Listed>(
        &self,
        portal: PortalId,
        call: Call,
        span: Span,
        list: impl Fn(SecretString) -> Listed,
    ) -> Result<T, Failure>
    where
        Listed: Future<Output = Result<(T, Option<RateLimit>), HubSpotError>>,
    {
        let (listed, seen) = self
            .authorized(portal, |token| {
                let (span, listing) = (span.clone(), list(token));
                async move {
                    let listed = listing.instrument(span.clone()).await;
                    self.counted(&span, portal, call, listed.as_ref().map(|_| 200));
                    listed
                }
            })
            .await?;
        if let Some(seen) = &seen {
            self.observe(portal, seen);
        }
        Ok(listed)
    }

    /// One CRM call with the portal's token; a `401` forces one refresh and one retry.
    async fn authorized<T, Made>(
        &self,
        portal: PortalId,
        call: impl Fn(SecretString) -> Made,
    ) -> Result<T, Failure>
    where
        Made: Future<Output = Result<T, HubSpotError>>,
    {
        let token = self.tokens.token_for(portal).await?;
        match call(token.clone()).await {
            Err(error) if error.kind() == Kind::Unauthorized => {
                let fresh: SecretString = self.tokens.token_after_rejection(portal, &token).await?;
                if self.slot(portal).await.is_err() {
                    return Err(Failure::HubSpot(error));
                }
                Ok(call(fresh).await?)
            }
            other => Ok(other?),
        }
    }

    /// Records the status HubSpot answered (0: no answer) on the call's span and counts it.
    fn counted(
        &self,
        span: &Span,
        portal: PortalId,
        call: Call,
        status: Result<u16, &HubSpotError>,
    ) {
        let status = match status {
            Ok(status) => status,
            Err(HubSpotError::Answered { status, .. }) => *status,
            Err(_) => 0,
        };
        span.record("http.status_code", i64::from(status));
        self.count(portal, call, status);
    }

    /// The one place a CRM call is counted: for the monitor, and by status.
    fn count(&self, portal: PortalId, call: Call, status: u16) {
        self.tally
            .api_call(portal, call.class(self.crm.version()), status);
        *self
            .calls
            .lock()
            .expect("calls lock")
            .entry(status)
            .or_default() += 1;
    }
}
