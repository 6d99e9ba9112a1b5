//! The hydrator's record cache: which version (HubSpot's `updatedAt`) of each record this
//! process has seen committed to the mirror, in a `moka` cache bounded by entries and with
//! a time to live. An event whose `occurredAt` is not newer than the cached version costs
//! neither an API call nor a mirror lookup; a newer event supersedes (drops) the entry.
//!
//! It holds versions, not properties: the mirror is the copy of each record, and a second
//! one in memory would be one more copy for a privacy deletion to chase. Entries are keyed
//! by the portal's install too, so after a portal is erased and installs again (perhaps by
//! another process) no old entry answers for it. Only committed versions go in, and the
//! mirror's versions only grow ("newer wins"; an erase is newer than anything), so a cached
//! version never claims more than the mirror holds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hubspot::crm::ObjectType;
use moka::sync::Cache;
use store::{ObjectId, PortalId};

/// One record of one install of a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub portal: PortalId,
    /// The install's time: a reinstall after an erase starts afresh.
    pub installed_at: i64,
    pub object: ObjectType,
    pub id: ObjectId,
}

#[derive(Debug)]
pub struct Versions {
    cache: Cache<RecordKey, i64>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What the cache has done, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

impl Versions {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Of the records `newest` names (by id, each with the newest `occurredAt` among its
    /// events), those whose cached version reflects every event; an entry older than an
    /// event is dropped, since that event supersedes it.
    pub fn reflected(
        &self,
        key: impl Fn(ObjectId) -> RecordKey,
        newest: &BTreeMap<ObjectId, i64>,
    ) -> Vec<ObjectId> {
        let mut reflected = Vec::new();
        for (&id, &occurred_at) in newest {
            match self.cache.get(&key(id)) {
                Some(version) if occurred_at <= version => reflected.push(id),
                Some(_) => self.cache.invalidate(&key(id)),
                None => {}
            }
        }
        self.hits
            .fetch_add(reflected.len() as u64, Ordering::Relaxed);
        self.misses
            .fetch_add((newest.len() - reflected.len()) as u64, Ordering::Relaxed);
        reflected
    }

    /// Versions the mirror is known to hold (committed).
    pub fn remember(&self, versions: impl IntoIterator<Item = (RecordKey, i64)>) {
        for (key, version) in versions {
            if self.cache.get(&key).is_none_or(|held| held < version) {
                self.cache.insert(key, version);
            }
        }
    }

    pub fn forget(&self, key: &RecordKey) {
        self.cache.invalidate(key);
    }

    pub fn stats(&self) -> CacheStats {
        self.cache.run_pending_tasks();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: ObjectId) -> RecordKey {
        RecordKey {
            portal: PortalId(1),
            installed_at: 100,
            object: ObjectType::CONTACTS,
            id,
        }
    }

    /// The newest `occurredAt` of each record named.
    fn newest<const N: usize>(ids: [(i64, i64); N]) -> BTreeMap<ObjectId, i64> {
        ids.into_iter().map(|(id, at)| (ObjectId(id), at)).collect()
    }

    #[test]
    fn a_cached_version_answers_older_events_and_a_newer_event_drops_it() {
        let versions = Versions::new(100, Duration::from_secs(60));
        versions.remember([(key(ObjectId(1)), 50), (key(ObjectId(2)), 50)]);
        versions.remember([(key(ObjectId(1)), 40)]);
        assert_eq!(
            versions.reflected(key, &newest([(1, 50), (2, 51), (3, 10)])),
            [ObjectId(1)]
        );
        // 2 was superseded by its newer event: gone, so it misses again.
        assert_eq!(
            versions.reflected(key, &newest([(2, 1)])),
            Vec::<ObjectId>::new()
        );
        let stats = versions.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 1));
    }

    #[test]
    fn another_install_of_the_portal_sees_nothing_of_the_last_one() {
        let versions = Versions::new(100, Duration::from_secs(60));
        versions.remember([(key(ObjectId(1)), 50)]);
        let reinstalled = |id| RecordKey {
            installed_at: 200,
            ..key(id)
        };
        assert!(versions
            .reflected(reinstalled, &newest([(1, 10)]))
            .is_empty());
        versions.forget(&key(ObjectId(1)));
        assert!(versions.reflected(key, &newest([(1, 10)])).is_empty());
    }
}
