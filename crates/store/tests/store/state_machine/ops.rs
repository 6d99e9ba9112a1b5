//! The operations the state machine draws, and what they are made of.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use spoke_store::{EventKey, NewEvent, ObjectId, PortalId};

use super::T0;

#[derive(Debug, Clone)]
pub(super) enum Op {
    Append {
        portal: usize,
        event: i64,
    },
    Claim {
        holder: usize,
    },
    Advance {
        past_lease: bool,
    },
    /// Settles one of the events `holder` ever claimed, whether it still holds it or not.
    Settle {
        holder: usize,
        pick: usize,
        outcome: Outcome,
        version: i64,
    },
    /// A sink takes what is due and delivers it, or fails it for good.
    Deliver {
        fail: bool,
    },
    ReplayEvents,
    ReplayDeliveries,
    Erase {
        portal: usize,
    },
    Prune,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    Fetched,
    Deleted,
    Retried,
    Dead,
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        Just(Outcome::Fetched),
        Just(Outcome::Deleted),
        Just(Outcome::Retried),
        Just(Outcome::Dead),
    ];
    prop_oneof![
        3 => (0..2usize, 0..8i64).prop_map(|(portal, event)| Op::Append { portal, event }),
        3 => (0..2usize).prop_map(|holder| Op::Claim { holder }),
        1 => any::<bool>().prop_map(|past_lease| Op::Advance { past_lease }),
        4 => (0..2usize, any::<usize>(), outcome, 0..6i64).prop_map(
            |(holder, pick, outcome, version)| Op::Settle { holder, pick, outcome, version }
        ),
        2 => any::<bool>().prop_map(|fail| Op::Deliver { fail }),
        1 => Just(Op::ReplayEvents),
        1 => Just(Op::ReplayDeliveries),
        1 => (0..2usize).prop_map(|portal| Op::Erase { portal }),
        1 => Just(Op::Prune),
    ]
}

pub(super) fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if condition {
        Ok(())
    } else {
        Err(TestCaseError::fail(what()))
    }
}

pub(super) fn new_event(portal: PortalId, event_id: i64) -> NewEvent {
    NewEvent {
        key: EventKey {
            portal_id: portal,
            subscription_id: 1,
            event_id,
            object_id: object_of(event_id),
            occurred_at: T0,
        },
        subscription_type: "contact.propertyChange".into(),
        app_id: None,
        attempt_number: 0,
        payload: format!(r#"{{"eventId":{event_id}}}"#),
        trace_context: None,
    }
}

/// The record an event is about: three per portal, so events share records.
pub(super) fn object_of(event_id: i64) -> ObjectId {
    ObjectId(100 + event_id % 3)
}
