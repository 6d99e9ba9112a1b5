//! The `spoke` server: HubSpot webhook receiver with a durable inbox.
//!
//! [`App::build`] wires configuration, storage and the HTTP routes; [`App::run`] serves on
//! a listener until a cancellation token fires. `main.rs` only parses the command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod http;
pub mod ingest;
pub mod install;
pub mod install_state;
pub mod receiver;
pub mod telemetry;
pub mod tokens;
pub mod vault;

pub use app::App;
pub use config::Config;
