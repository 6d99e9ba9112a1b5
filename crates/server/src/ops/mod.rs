//! What operators run besides `serve`: [`portals`], [`keys`], [`dead_letters`] and
//! [`records`] commands, and the [`demo`] (behind the default `demo` feature, the only part of spoke that links the
//! simulator).

pub mod dead_letters;
#[cfg(feature = "demo")]
pub mod demo;
pub mod healthcheck;
pub mod inspect;
pub mod keys;
pub mod portals;
pub mod records;

/// An epoch-milliseconds time as operators read it.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}
