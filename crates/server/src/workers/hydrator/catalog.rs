//! Lists the hydrator reads from HubSpot and holds per portal: a type's properties, the
//! portal's custom object types. A list is read again on a schedule, and at once when a
//! name is wanted that it lacks (the portal created a property or a custom object); a name
//! a fresh list still lacks (a sensitive property, a deleted type) does not make it read
//! again before its time: one extra call, not one a round.

use std::collections::BTreeSet;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// A list as last read, with the names wanted then that it lacked.
#[derive(Debug)]
struct List {
    names: Arc<[String]>,
    absent: BTreeSet<String>,
    read_at: Instant,
}

/// What the catalog holds of a list.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Listed {
    /// Held, and good to use.
    Current(Arc<[String]>),
    /// To be read again: never read, due, or lacking a wanted name. The list held, if any,
    /// serves when reading it again fails.
    Due(Option<Arc<[String]>>),
}

/// The lists of the portals this process reads for, by whose list it is.
#[derive(Debug)]
pub(super) struct Catalog<K: Hash + Eq + Send + Sync + 'static> {
    lists: Cache<K, Arc<List>>,
    refresh: Duration,
}

impl<K: Hash + Eq + Send + Sync + 'static> Catalog<K> {
    /// Names held at most, over every list: about 50 MB of names.
    const MAX_NAMES: u64 = 1_000_000;

    /// Lists are read again `refresh` after they were read.
    pub(super) fn new(refresh: Duration) -> Self {
        Self {
            lists: Cache::builder()
                .max_capacity(Self::MAX_NAMES)
                .weigher(|_, list: &Arc<List>| {
                    u32::try_from(list.names.len() + list.absent.len()).unwrap_or(u32::MAX)
                })
                .build(),
            refresh,
        }
    }

    /// The held list, and whether it serves a reader that wants `wanted` in it.
    pub(super) fn lookup(&self, key: &K, wanted: &[String]) -> Listed {
        let Some(list) = self.lists.get(key) else {
            return Listed::Due(None);
        };
        let lacking = wanted
            .iter()
            .any(|name| !list.names.contains(name) && !list.absent.contains(name));
        if lacking || list.read_at.elapsed() >= self.refresh {
            Listed::Due(Some(list.names.clone()))
        } else {
            Listed::Current(list.names.clone())
        }
    }

    /// The held list, due or not.
    pub(super) fn held(&self, key: &K) -> Option<Arc<[String]>> {
        self.lists.get(key).map(|list| list.names.clone())
    }

    /// Holds `names`, just read for a reader that wanted `wanted`.
    pub(super) fn learn(&self, key: K, names: Vec<String>, wanted: &[String]) -> Arc<[String]> {
        let names: Arc<[String]> = names.into();
        let absent = wanted
            .iter()
            .filter(|name| !names.contains(name))
            .cloned()
            .collect();
        let list = List {
            names: names.clone(),
            absent,
            read_at: Instant::now(),
        };
        self.lists.insert(key, Arc::new(list));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_list_is_held_until_a_name_it_lacks_is_wanted() {
        let catalog = Catalog::new(Duration::from_secs(3_600));
        assert_eq!(
            catalog.lookup(&1, &[]),
            Listed::Due(None),
            "nothing held yet"
        );
        let list = catalog.learn(1, names(&["email", "firstname"]), &[]);
        assert_eq!(
            catalog.lookup(&1, &names(&["email"])),
            Listed::Current(list.clone())
        );
        assert_eq!(
            catalog.lookup(&1, &names(&["email", "favourite_colour"])),
            Listed::Due(Some(list)),
            "read it again, the held one in hand"
        );
        assert_eq!(
            catalog.lookup(&2, &[]),
            Listed::Due(None),
            "another key's list"
        );
    }

    #[test]
    fn a_name_missing_from_a_fresh_list_does_not_make_it_read_again() {
        let catalog = Catalog::new(Duration::from_secs(3_600));
        let hidden = names(&["hs_sensitive_note"]);
        let list = catalog.learn(1, names(&["email"]), &hidden);
        assert_eq!(catalog.lookup(&1, &hidden), Listed::Current(list));
    }

    #[test]
    fn a_list_is_due_after_its_refresh_interval() {
        let catalog = Catalog::new(Duration::ZERO);
        let list = catalog.learn(1, names(&["dealname"]), &[]);
        assert_eq!(catalog.lookup(&1, &[]), Listed::Due(Some(list)));
        assert!(catalog.held(&1).is_some(), "kept to fall back on");
        let fresh = Catalog::new(Duration::from_secs(3_600));
        let list = fresh.learn(1, names(&["dealname"]), &[]);
        assert_eq!(fresh.lookup(&1, &[]), Listed::Current(list));
    }
}
