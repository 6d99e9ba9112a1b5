//! A portal's relationship with the app: [`pages`] (`GET /oauth/install` and
//! `/oauth/callback`), [`install`] (the flow behind them), [`state`] (the signed,
//! single-use OAuth state), [`tokens`] (access tokens on demand, refreshed single-flight
//! and in the background), [`vault`] (tokens sealed at rest) and [`removal`] (uninstall
//! and erase).

pub mod install;
pub mod pages;
pub mod removal;
pub mod state;
pub mod throttle;
pub mod tokens;
pub mod vault;
