//! Keeping the mirror complete beyond what webhooks say: [`backfill`] reads every record a
//! portal had before it installed.

pub mod backfill;
