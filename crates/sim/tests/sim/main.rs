//! The simulator against HubSpot's published contracts: OpenAPI response shapes, rate
//! limits, and webhook deliveries (signatures, batching, concurrency, retries, ledger).

mod binary;
mod conformance;
mod crm_client;
mod oauth;
mod rate_limits;
mod support;
mod webhooks;
