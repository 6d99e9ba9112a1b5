//! Background work on what the receiver stored: the [`hydrator`] (claimed events become
//! records in the mirror), the per-portal rate limits it keeps ([`limits`]), the versions
//! of records it has seen ([`versions`]), the [`sinks`] that receive each change beside the
//! mirror, [`sync`] (backfill: records from before an install) and [`retention`]
//! (finished events and deliveries pruned).

pub mod hydrator;
pub mod limits;
pub mod retention;
pub mod sinks;
pub mod sync;
pub mod versions;
