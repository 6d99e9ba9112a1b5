//! The certification monitor: HubSpot certifies an app whose activity (the webhook
//! deliveries HubSpot sends it and the API calls it makes) succeeds more than 95% of the
//! time. The [`tally`] counts both per portal and minute in memory (nothing slow on the
//! webhook path) and flushes the counts to the store every few seconds; [`rates`] turns
//! stored counts into rolling success rates per portal and app-wide, including the
//! attempts spoke never saw but HubSpot's `attemptNumber` reveals, as an estimate;
//! [`levels`] classifies a rate and a portal's risk; [`alerts`] warns before HubSpot's
//! bar is crossed, judged with the [`standings`] from one read of [`sums`] per
//! [`evaluation`]; [`report`] is the admin API's JSON. [`api_support`] warns before the
//! CRM API version spoke calls goes out of HubSpot's support.

pub mod alerts;
pub mod api_support;
pub mod evaluation;
pub mod levels;
pub mod rates;
pub mod report;
pub mod standings;
pub mod sums;
pub mod tally;
