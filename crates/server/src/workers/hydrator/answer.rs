//! What one batch read's answer decides for the events of the ids it asked for. An event
//! finishes only with its record (the mirror takes it) or HubSpot's not-found (a
//! deletion); any other id, named with another error category or not answered at all, is a
//! failed attempt of its events. Every record the answer holds goes to the mirror (it is
//! HubSpot's own data, newer wins), but only the ids asked for decide events: an id the
//! answer names that was not asked for decides nothing.

use std::collections::{BTreeMap, BTreeSet};

use hubspot::crm::{BatchRead, Unread};
use store::{Claimed, Gone, ObjectId};

use super::decisions::Decisions;
use super::sort::{Reading, Reads};

/// Decides the events of `chunk` (the ids asked for) from `read`, HubSpot's answer.
pub(super) fn decide_answer(
    out: &mut Decisions,
    reading: Reading,
    by_id: &Reads<'_>,
    chunk: &[ObjectId],
    read: &BatchRead,
    trace: Option<String>,
    max_attempts: u32,
) {
    let Reading { portal, object, .. } = reading;
    out.records(portal, object, &read.records, &trace);
    out.seen.extend(
        read.records
            .iter()
            .map(|r| (reading.key(ObjectId(r.id)), r.updated_at)),
    );
    let found: BTreeSet<ObjectId> = read.records.iter().map(|r| ObjectId(r.id)).collect();
    let missing: BTreeSet<ObjectId> = read.missing.iter().map(|id| ObjectId(*id)).collect();
    let mut unread: BTreeMap<&str, Vec<&Claimed>> = BTreeMap::new();
    for id in chunk {
        let Some(events) = by_id.get(id) else {
            continue;
        };
        if found.contains(id) {
            out.finish(events.iter().copied());
        } else if missing.contains(id) {
            let at = events.iter().map(|e| e.key.occurred_at).max().unwrap_or(0);
            out.gone(portal, object, *id, Gone::Deleted, at, trace.clone());
            out.finish(events.iter().copied());
        } else {
            let category = read
                .unread
                .iter()
                .find(|u| ObjectId(u.id) == *id)
                .map_or(Unread::NO_ANSWER, |u| u.category.as_str());
            unread.entry(category).or_default().extend(events);
        }
    }
    for (category, events) in unread {
        let error = format!("HubSpot did not read the record ({category})");
        out.failed_with(events, &error, max_attempts);
    }
}

/// The events about `ids`.
pub(super) fn events_of<'a>(by_id: &Reads<'a>, ids: &[ObjectId]) -> Vec<&'a Claimed> {
    ids.iter()
        .flat_map(|id| by_id[id].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use hubspot::crm::{ObjectType, Record, Unread, OBJECT_NOT_FOUND};
    use proptest::prelude::*;
    use store::{Claimed, EventKey, PortalId};

    use super::*;

    const MAX_ATTEMPTS: u32 = 3;

    /// An id's answer, as a batch read may give it, or fail to.
    #[derive(Debug, Clone)]
    enum Answer {
        Record,
        NotFound,
        Error(&'static str),
        Omitted,
        /// Both a record and an error naming the id.
        RecordAndError(&'static str),
    }

    fn answer() -> impl Strategy<Value = Answer> {
        let category = prop_oneof![
            Just("RATE_LIMITS"),
            Just("INTERNAL_ERROR"),
            Just("VALIDATION_ERROR"),
            Just(""),
        ];
        prop_oneof![
            Just(Answer::Record),
            Just(Answer::NotFound),
            category.clone().prop_map(Answer::Error),
            Just(Answer::Omitted),
            category.prop_map(Answer::RecordAndError),
        ]
    }

    fn claimed(id: i64, object_id: i64, attempts: i32) -> Claimed {
        Claimed {
            id,
            key: EventKey {
                portal_id: PortalId(7),
                subscription_id: 1,
                event_id: id,
                object_id: ObjectId(object_id),
                occurred_at: 1_000 + id,
            },
            subscription_type: "contact.propertyChange".into(),
            payload: "{}".into(),
            attempts,
            trace_context: None,
        }
    }

    fn record(id: i64) -> Record {
        Record {
            id,
            properties: Default::default(),
            updated_at: 5_000,
            archived: false,
        }
    }

    /// The answer to the ids asked for, with `extra` ids nobody asked for in each list.
    fn batch(answers: &[(i64, Answer)], extra: &[i64]) -> BatchRead {
        let mut read = BatchRead::default();
        for (id, answer) in answers {
            match answer {
                Answer::Record => read.records.push(record(*id)),
                Answer::NotFound => read.missing.push(*id),
                Answer::Error(category) => read.unread.push(Unread {
                    id: *id,
                    category: (*category).to_owned(),
                }),
                Answer::Omitted => {}
                Answer::RecordAndError(category) => {
                    read.records.push(record(*id));
                    read.unread.push(Unread {
                        id: *id,
                        category: (*category).to_owned(),
                    });
                }
            }
        }
        for id in extra {
            read.records.push(record(*id));
            read.missing.push(*id);
            read.unread.push(Unread {
                id: *id,
                category: OBJECT_NOT_FOUND.to_owned(),
            });
        }
        read
    }

    proptest! {
        #[test]
        fn an_event_finishes_only_with_its_record_or_a_not_found(
            answers in proptest::collection::btree_map(1..60i64, (answer(), 1..4usize, 0..4i32), 1..30),
            extra in proptest::collection::vec(100..120i64, 0..4),
        ) {
            let mut events = Vec::new();
            for (object_id, (_, count, attempts)) in &answers {
                for _ in 0..*count {
                    events.push(claimed(events.len() as i64 + 1, *object_id, *attempts));
                }
            }
            let mut by_id: Reads<'_> = BTreeMap::new();
            for event in &events {
                by_id.entry(event.key.object_id).or_default().push(event);
            }
            let chunk: Vec<ObjectId> = by_id.keys().copied().collect();
            let listed: Vec<(i64, Answer)> =
                answers.iter().map(|(id, (a, _, _))| (*id, a.clone())).collect();
            let read = batch(&listed, &extra);
            let reading = Reading { portal: PortalId(7), installed_at: 1, object: ObjectType::CONTACTS };
            let mut out = Decisions::new(10_000);
            decide_answer(&mut out, reading, &by_id, &chunk, &read, None, MAX_ATTEMPTS);

            let settlement = &out.settlement;
            let mut decided: BTreeMap<i64, &str> = BTreeMap::new();
            let mut decide = |id: i64, how: &'static str| {
                prop_assert!(decided.insert(id, how).is_none(), "event {} decided twice", id);
                Ok(())
            };
            for id in &settlement.finished { decide(*id, "finished")?; }
            for id in settlement.retries.iter().flat_map(|r| &r.ids) { decide(*id, "retried")?; }
            for id in settlement.set_aside.iter().flat_map(|a| &a.ids) { decide(*id, "dead")?; }
            for event in &events {
                let (answer, _, attempts) = &answers[&event.key.object_id.0];
                let expected = match answer {
                    Answer::Record | Answer::RecordAndError(_) | Answer::NotFound => "finished",
                    _ if u32::try_from(*attempts).unwrap() + 1 >= MAX_ATTEMPTS => "dead",
                    _ => "retried",
                };
                prop_assert_eq!(decided.get(&event.id).copied(), Some(expected), "event {:?}", event.key);
            }
            let gone: Vec<i64> = settlement.gone.iter().map(|g| g.object_id.0).collect();
            let not_found: Vec<i64> = answers
                .iter()
                .filter(|(_, (a, _, _))| matches!(a, Answer::NotFound))
                .map(|(id, _)| *id)
                .collect();
            prop_assert_eq!(gone, not_found, "only a not-found is a deletion");
        }
    }
}
