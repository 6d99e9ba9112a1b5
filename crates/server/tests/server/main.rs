//! The server's integration tests, one binary: spoke and the HubSpot simulator wired to
//! each other ([`support`]), every storage test on SQLite and PostgreSQL.

mod admin;
mod associations;
mod backfill;
mod commands;
mod dashboard;
mod demo;
mod hydrator;
mod install;
mod metrics;
mod monitor;
mod objects;
mod reconcile;
mod rounds;
mod sinks;
mod support;
mod webhooks;
