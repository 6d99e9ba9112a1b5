//! The store's conformance suite, one binary: every test on SQLite and on PostgreSQL.

mod associations;
mod backfills;
mod inbox;
mod portals;
mod queue;
mod reconciliations;
mod sinks;
mod state_machine;
mod statistics;
