//! Wall-clock time in HubSpot's unit, epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
