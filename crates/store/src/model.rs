//! Engine-free values that cross the store's traits.

/// An event's identity: what stays the same when HubSpot redelivers it (reference §2.7).
/// Parts HubSpot left out are 0, so the key stays comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub portal_id: i64,
    pub subscription_id: i64,
    pub event_id: i64,
    pub object_id: i64,
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
    pub(crate) fn count(&mut self, stored: bool) {
        if stored {
            self.stored += 1;
        } else {
            self.duplicates += 1;
        }
    }
}
