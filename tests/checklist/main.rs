//! HubSpot's pre-flight checklist for an app backend, as tests against the real `spoke`
//! binary over HTTP. Each test is named after the checklist item it proves; storage-facing
//! items run on SQLite and on PostgreSQL.

mod demo;
mod durability;
mod hydration;
mod install;
mod monitoring;
mod otlp;
mod scopes;
mod simulator;
mod support;
mod webhook_receiver;
