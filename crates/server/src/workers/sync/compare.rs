//! Reconciliation's comparisons of what HubSpot has with what the mirror holds, as plain
//! functions, and the tally of one type's run.

use std::collections::{BTreeSet, HashMap};

use hubspot::search::Found;
use store::{ObjectId, ReconciledType};

/// What one type's run found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Drift {
    pub(super) missing: usize,
    pub(super) stale: usize,
    pub(super) deleted: usize,
    pub(super) repaired: usize,
}

impl Drift {
    /// The run as the drift report keeps it: its watermark for the next run, when it
    /// started and finished, and why it stopped early, if it did.
    pub(super) fn report(
        self,
        object_type: String,
        (watermark, started_at, finished_at): (i64, i64, i64),
        error: Option<String>,
    ) -> ReconciledType {
        let n = |count: usize| i64::try_from(count).unwrap_or(i64::MAX);
        ReconciledType {
            object_type,
            watermark,
            started_at,
            finished_at,
            missing: n(self.missing),
            stale: n(self.stale),
            deleted_unannounced: n(self.deleted),
            repaired: n(self.repaired),
            error,
        }
    }
}

/// Of the records a search found, those the mirror lacks, and those it holds at an older
/// version (by `updatedAt`); `held` is the mirror's version of each it has.
pub(super) fn out_of_date(
    found: &[Found],
    held: &HashMap<ObjectId, i64>,
) -> (Vec<ObjectId>, Vec<ObjectId>) {
    let mut absent = Vec::new();
    let mut older = Vec::new();
    for f in found {
        match held.get(&ObjectId(f.id)) {
            None => absent.push(ObjectId(f.id)),
            Some(version) if *version < f.updated_at => older.push(ObjectId(f.id)),
            Some(_) => {}
        }
    }
    (absent, older)
}

/// The mirror's live records HubSpot did not list: deleted without a notification, unless
/// a read says otherwise.
pub(super) fn deleted_unannounced(held: &[ObjectId], listed: &[ObjectId]) -> Vec<ObjectId> {
    let listed: BTreeSet<&ObjectId> = listed.iter().collect();
    held.iter()
        .filter(|id| !listed.contains(id))
        .copied()
        .collect()
}

/// HubSpot's records the mirror does not hold live.
pub(super) fn absent(held: &[ObjectId], listed: &[ObjectId]) -> Vec<ObjectId> {
    deleted_unannounced(listed, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[i64]) -> Vec<ObjectId> {
        ids.iter().map(|id| ObjectId(*id)).collect()
    }

    #[test]
    fn a_search_finds_what_the_mirror_lacks_or_holds_older_and_nothing_else() {
        let found =
            [(1, 10), (2, 20), (3, 30), (4, 40)].map(|(id, updated_at)| Found { id, updated_at });
        let held = HashMap::from([(ObjectId(2), 20), (ObjectId(3), 29), (ObjectId(4), 41)]);
        assert_eq!(out_of_date(&found, &held), (ids(&[1]), ids(&[3])));
    }

    #[test]
    fn listings_say_which_side_lacks_which_record() {
        let held = ids(&[1, 2, 3, 5]);
        let listed = ids(&[2, 3, 4]);
        assert_eq!(deleted_unannounced(&held, &listed), ids(&[1, 5]));
        assert_eq!(absent(&held, &listed), ids(&[4]));
    }

    #[test]
    fn a_report_keeps_the_tally() {
        let drift = Drift {
            missing: 2,
            stale: 1,
            deleted: 3,
            repaired: 6,
        };
        let report = drift.report("deals".into(), (5, 6, 7), None);
        assert_eq!(
            (
                report.missing,
                report.stale,
                report.deleted_unannounced,
                report.repaired
            ),
            (2, 1, 3, 6)
        );
        assert_eq!(
            (report.watermark, report.started_at, report.finished_at),
            (5, 6, 7)
        );
    }
}
