//! The `spoke` server, in folders by job:
//!
//! - [`webhooks`]: `POST /webhooks/hubspot`, verification, group commit into the inbox.
//! - [`oauth`]: the install flow, the token service and the vault.
//! - [`workers`]: the hydrator, which turns stored events into records, and the sinks.
//! - [`metrics`]: what `/metrics` exposes; [`monitor`]: success rates against HubSpot's bar.
//! - [`ops`]: operator commands and the demo.
//! - [`http`]: the router, its layers and the one error mapping.
//! - [`config`], [`cli`], [`telemetry`], and [`app`], which wires them together:
//!   [`App::build`] from a [`Config`] and a clock, [`App::run`] on a listener until a
//!   cancellation token fires. `main.rs` only parses the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod oauth;
pub mod ops;
pub mod telemetry;
pub mod timestamp;
pub mod webhooks;
pub mod workers;

pub use app::App;
pub use config::Config;
