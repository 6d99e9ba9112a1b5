//! Keeping the mirror complete beyond what webhooks say: [`backfill`] reads every record a
//! portal had before it installed; [`reconcile`] finds and repairs what notifications never
//! said.

pub mod backfill;
mod compare;
mod leased;
pub mod reconcile;
