//! The webhook path, in the order a delivery takes it: [`handler`] (`POST
//! /webhooks/hubspot`: read the body within the limit), [`receiver`] (verify the signature,
//! parse the batch, turn events into inbox rows) and [`group_commit`] (many deliveries, one
//! durable transaction; `503` when the store cannot take more), and what it counts for
//! `/metrics` ([`metrics`]).

pub mod group_commit;
pub mod handler;
pub mod metrics;
pub mod receiver;
