//! What operators run besides `serve`: [`portals`], [`keys`], [`dead_letters`], [`records`]
//! and [`sync`] commands, and the [`demo`] (behind the default `demo` feature, the only part of spoke that links the
//! simulator).

pub mod dead_letters;
#[cfg(feature = "demo")]
pub mod demo;
pub mod healthcheck;
pub mod inspect;
pub mod keys;
pub mod portals;
pub mod records;
pub mod sync;

/// An epoch-milliseconds time as the command line prints it (RFC 3339, as JSON does).
fn iso(ms: i64) -> String {
    crate::timestamp::Timestamp(ms).rfc3339()
}
