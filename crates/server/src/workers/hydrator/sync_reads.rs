//! What sync (backfill, reconciliation) reads through the hydrator: the types a portal's
//! install lets spoke read (its custom objects listed with the schemas API), pages of one
//! type's records or ids, records by id with the properties hydration reads them with, and
//! searches by last modification and counts. Searches keep to the portal's search limit;
//! every other call is one of the portal's, taken only when no live read waits for one
//! (`CrmReader::background_slot`).

use std::sync::Arc;
use std::time::Duration;

use hubspot::crm::{ObjectType, Record, CUSTOM_READ_SCOPE, MAX_BATCH};
use hubspot::failure::Kind;
use hubspot::search::SearchPage;
use store::{MirroredRecord, ObjectId, PortalId};

use super::catalog::Listed;
use super::crm::RATE_WINDOW;
use super::decisions::{missing_scope, Failure};
use super::sort::{granted, Reading};
use super::Hydrator;
use crate::oauth::tokens::TokenError;
use crate::telemetry::Chain;
use crate::workers::versions::RecordKey;

/// The types a backfill reads for a portal, under its install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillScope {
    pub installed_at: i64,
    pub types: Vec<ObjectType>,
}

/// Why a page, or a portal's scope, was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageFailure {
    /// The portal cannot be read now (uninstalled, or it must install again): its backfill
    /// waits for an install.
    Portal(String),
    /// The type cannot be read under this install (HubSpot refused its scope).
    Type(String),
    /// Worth another try: after `wait` when HubSpot said how long.
    Again {
        error: String,
        wait: Option<Duration>,
    },
}

/// A page read: its records as the mirror stores them, and the next page's cursor.
#[derive(Debug, Clone, Default)]
pub struct PageRead {
    pub records: Vec<MirroredRecord>,
    pub next: Option<String>,
    seen: Vec<(RecordKey, i64)>,
}

/// Records read by id, as the mirror stores them, and the ids HubSpot answered not found.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub records: Vec<MirroredRecord>,
    pub missing: Vec<ObjectId>,
    seen: Vec<(RecordKey, i64)>,
}

/// The search API's limit window, for pauses after its `429` without `Retry-After`.
const SEARCH_WINDOW: Duration = Duration::from_secs(1);

/// What a list call asks for when a type's properties do not fit its URL: ids alone.
const IDS_ONLY: &str = "hs_object_id";

impl Hydrator {
    /// The types to backfill for `portal`: those hydrated that its install lets spoke read.
    pub async fn backfill_scope(&self, portal: PortalId) -> Result<BackfillScope, PageFailure> {
        let row = self
            .store
            .portal(portal)
            .await
            .map_err(|e| PageFailure::Again {
                error: Chain(&e).to_string(),
                wait: None,
            })?;
        let granted = granted(row).map_err(|reason| PageFailure::Portal(reason.to_owned()))?;
        let installed_at = granted.installed_at;
        let readable = |object: ObjectType| {
            self.config.objects.includes(object)
                && object.readable_with(&granted.scopes)
                && !self.crm.refused(portal, object, installed_at)
        };
        let mut types: Vec<ObjectType> = ObjectType::STANDARD
            .into_iter()
            .filter(|o| readable(*o))
            .collect();
        let objects = &self.config.objects;
        let wants_custom = objects.every_custom() || objects.listed().iter().any(|o| o.is_custom());
        if wants_custom && granted.scopes.iter().any(|s| s == CUSTOM_READ_SCOPE) {
            let custom = self.custom_types_of(portal, installed_at).await?;
            let custom = custom.iter().filter_map(|id| ObjectType::from_path(id));
            types.extend(custom.filter(|o| readable(*o)));
        }
        Ok(BackfillScope {
            installed_at,
            types,
        })
    }

    /// The page of `object`'s records after `after` (the first without), with every
    /// property hydration reads.
    pub async fn read_page(
        &self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
        after: Option<&str>,
    ) -> Result<PageRead, PageFailure> {
        let reading = Reading {
            portal,
            installed_at,
            object,
        };
        let properties = self.page_properties(reading).await?;
        let fits = self
            .crm
            .fits_list(object, &properties, self.config.list_url_bytes);
        let listed = if fits {
            properties.to_vec()
        } else {
            vec![IDS_ONLY.to_owned()]
        };
        self.crm.background_slot(portal).await;
        let page = self
            .crm
            .list_page(portal, object, after, &listed)
            .await
            .map_err(|f| self.page_failure(reading, f))?;
        let fetched = if fits || page.records.is_empty() {
            self.fetched(reading, &page.records, Vec::new())
        } else {
            // Records deleted between the two calls are left out: their deletions say so.
            let ids: Vec<ObjectId> = page.records.iter().map(|r| ObjectId(r.id)).collect();
            self.batch(reading, &ids, &properties).await?
        };
        Ok(PageRead {
            records: fetched.records,
            next: page.next,
            seen: fetched.seen,
        })
    }

    /// Records of `object` by id, with every property hydration reads, 100 a call; those
    /// HubSpot answers not found are named apart.
    pub async fn read_records(
        &self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
        ids: &[ObjectId],
    ) -> Result<Fetched, PageFailure> {
        let reading = Reading {
            portal,
            installed_at,
            object,
        };
        let properties = self.page_properties(reading).await?;
        let mut all = Fetched::default();
        for chunk in ids.chunks(MAX_BATCH) {
            let fetched = self.batch(reading, chunk, &properties).await?;
            all.records.extend(fetched.records);
            all.missing.extend(fetched.missing);
            all.seen.extend(fetched.seen);
        }
        Ok(all)
    }

    /// The ids of `object`'s live records on the page after `after`, and the next page's
    /// cursor.
    pub async fn list_ids(
        &self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
        after: Option<&str>,
    ) -> Result<(Vec<ObjectId>, Option<String>), PageFailure> {
        let reading = Reading {
            portal,
            installed_at,
            object,
        };
        self.crm.background_slot(portal).await;
        let page = self
            .crm
            .list_page(portal, object, after, &[IDS_ONLY.to_owned()])
            .await
            .map_err(|f| self.page_failure(reading, f))?;
        let ids = page.records.iter().map(|r| ObjectId(r.id)).collect();
        Ok((ids, page.next))
    }

    /// A page of `object`'s records modified since `since_ms`, oldest first, within the
    /// portal's search limit.
    pub async fn search_modified(
        &self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
        since_ms: i64,
        after: Option<&str>,
    ) -> Result<SearchPage, PageFailure> {
        let reading = Reading {
            portal,
            installed_at,
            object,
        };
        self.crm
            .search_modified(portal, object, since_ms, after)
            .await
            .map_err(|f| self.search_failure(reading, f))
    }

    /// How many live records of `object` HubSpot has for the portal.
    pub async fn record_count(
        &self,
        portal: PortalId,
        installed_at: i64,
        object: ObjectType,
    ) -> Result<u64, PageFailure> {
        let reading = Reading {
            portal,
            installed_at,
            object,
        };
        self.crm
            .record_count(portal, object)
            .await
            .map_err(|f| self.search_failure(reading, f))
    }

    /// One batch read of `ids` behind live reads; an id HubSpot did not read fails the
    /// whole read (never taken for a deletion).
    async fn batch(
        &self,
        reading: Reading,
        ids: &[ObjectId],
        properties: &[String],
    ) -> Result<Fetched, PageFailure> {
        self.crm.background_slot(reading.portal).await;
        let read = self
            .crm
            .batch_read(reading.portal, reading.object, ids, properties)
            .await
            .map_err(|f| self.page_failure(reading, f))?;
        if let Some(seen) = &read.rate_limit {
            self.crm.observe(reading.portal, seen);
        }
        if let Some(unread) = read.unread.first() {
            return Err(PageFailure::Again {
                error: format!(
                    "HubSpot did not read record {}: {}",
                    unread.id, unread.category
                ),
                wait: None,
            });
        }
        let missing = read.missing.iter().map(|id| ObjectId(*id)).collect();
        Ok(self.fetched(reading, &read.records, missing))
    }

    /// Records read, as the mirror stores them.
    fn fetched(&self, reading: Reading, records: &[Record], missing: Vec<ObjectId>) -> Fetched {
        let now = self.clock.now_ms();
        Fetched {
            seen: records
                .iter()
                .map(|r| (reading.key(ObjectId(r.id)), r.updated_at))
                .collect(),
            records: records
                .iter()
                .map(|r| MirroredRecord {
                    portal_id: reading.portal,
                    object_type: reading.object.path_name().into_owned(),
                    object_id: ObjectId(r.id),
                    state: "live".into(),
                    properties: r.properties.as_json().to_owned(),
                    updated_at: r.updated_at,
                    fetched_at: now,
                    trace: None,
                })
                .collect(),
            missing,
        }
    }

    /// The cache learns what a page written to the mirror holds.
    pub fn remember_page(&self, page: &PageRead) {
        self.versions.remember(page.seen.iter().copied());
    }

    /// The cache learns what records written to the mirror hold.
    pub fn remember_fetched(&self, fetched: &Fetched) {
        self.versions.remember(fetched.seen.iter().copied());
    }

    /// The sinks each change the mirror accepts is queued for.
    pub fn sinks(&self) -> &[String] {
        &self.sinks
    }

    /// The properties a page is read with: the configured list, or the portal's own list
    /// (read again when due, within the portal's limit; the held one serves if that fails).
    async fn page_properties(&self, reading: Reading) -> Result<Arc<[String]>, PageFailure> {
        if let Some(named) = self.config.properties.named(reading.object) {
            return Ok(named);
        }
        let key = (reading.portal, reading.installed_at, reading.object);
        let held = match self.properties.lookup(&key, &[]) {
            Listed::Current(list) => return Ok(list),
            Listed::Due(held) => held,
        };
        self.crm.background_slot(reading.portal).await;
        match self
            .crm
            .property_names(reading.portal, reading.object)
            .await
        {
            Ok(names) => Ok(self.properties.learn(key, names, &[])),
            Err(_) if held.is_some() => Ok(held.expect("held")),
            Err(failure) => Err(self.page_failure(reading, failure)),
        }
    }

    /// The custom object types the portal defines (read again when due); none if HubSpot
    /// refuses the schemas API.
    async fn custom_types_of(
        &self,
        portal: PortalId,
        installed_at: i64,
    ) -> Result<Arc<[String]>, PageFailure> {
        let key = (portal, installed_at);
        let held = match self.custom_types.lookup(&key, &[]) {
            Listed::Current(list) => return Ok(list),
            Listed::Due(held) => held,
        };
        self.crm.background_slot(portal).await;
        match self.crm.custom_types(portal).await {
            Ok(types) => Ok(self.custom_types.learn(key, types, &[])),
            Err(_) if held.is_some() => Ok(held.expect("held")),
            Err(Failure::HubSpot(error)) if error.kind() == Kind::MissingScopes => {
                Ok(Arc::from(Vec::new()))
            }
            Err(failure) => Err(PageFailure::Again {
                error: Chain(&failure).to_string(),
                wait: None,
            }),
        }
    }

    /// What a failed search means: a `429` pauses the portal's searches (the search API's
    /// limit is its own, a second long), the rest as any call's failure.
    fn search_failure(&self, reading: Reading, failure: Failure) -> PageFailure {
        match failure {
            Failure::HubSpot(error) if error.kind() == Kind::RateLimited => {
                let wait = error.retry_after().unwrap_or(SEARCH_WINDOW);
                self.crm.pause_search(reading.portal, wait);
                PageFailure::Again {
                    error: "HubSpot's search API answered 429".into(),
                    wait: Some(wait),
                }
            }
            failure => self.page_failure(reading, failure),
        }
    }

    /// What a failed call means for the backfill; a `429` pauses the portal, and a refused
    /// scope stops calls for the type until the portal installs again, as in hydration.
    fn page_failure(&self, reading: Reading, failure: Failure) -> PageFailure {
        let Reading {
            portal,
            installed_at,
            object,
        } = reading;
        match failure {
            Failure::Token(TokenError::NeedsReauth(_)) => {
                PageFailure::Portal("the portal must install the app again".into())
            }
            Failure::Token(TokenError::NotInstalled(_)) => {
                PageFailure::Portal("the portal has not installed the app".into())
            }
            Failure::HubSpot(error) if error.kind() == Kind::MissingScopes => {
                self.crm.refuse(portal, object, installed_at);
                PageFailure::Type(missing_scope(object))
            }
            Failure::HubSpot(error) if error.kind() == Kind::RateLimited => {
                let wait = error.retry_after().unwrap_or(RATE_WINDOW);
                self.crm.pause(portal, wait);
                PageFailure::Again {
                    error: "HubSpot answered 429".into(),
                    wait: Some(wait),
                }
            }
            failure => PageFailure::Again {
                error: Chain(&failure).to_string(),
                wait: None,
            },
        }
    }
}
