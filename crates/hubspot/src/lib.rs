//! HubSpot's protocol as spoke needs it, with no database and no web server.
//!
//! - [`signature`]: request validation (v3, and v1/v2 for older sources) over raw bytes.
//! - [`webhook`]: the app-webhook event model and the batch parser.
//! - [`time`]: epoch milliseconds, HubSpot's unit, and the injectable [`time::Clock`].
//! - [`oauth`]: the OAuth endpoints a public app calls (install, refresh, uninstall).
//! - [`crm`]: CRM object types (standard ones as data, custom objects by type id) and a
//!   client that reads records, one or a batch, lists a type's properties and a portal's
//!   custom object types.
//! - [`listing`]: a type's records, page by page (backfill).
//! - [`search`]: records modified since an instant, and a type's count (reconciliation).
//! - [`associations`]: batch reads of records' associations to another type.
//! - [`version`]: the CRM API versions, their end of support, and their paths.
//! - [`failure`]: one classification of HubSpot's failures for every client.
//! - [`ClientSecret`]: the app's secret, shared by signatures and OAuth.
//!
//! Facts come from `shared/hubspot-reference.md`; its test vectors are the unit tests here,
//! so the simulator and the server cannot agree on a wrong signature.
#![forbid(unsafe_code)]

pub mod associations;
mod client_secret;
pub mod crm;
pub mod failure;
pub mod listing;
pub mod oauth;
mod object_type;
pub mod outbound;
mod record_properties;
pub mod search;
pub mod signature;
pub mod time;
pub mod version;
pub mod webhook;

pub use client_secret::ClientSecret;
