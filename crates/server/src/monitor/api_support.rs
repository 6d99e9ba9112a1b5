//! Whether the CRM API version spoke calls is near the end of HubSpot's support
//! (reference §9). HubSpot stops answering, and stops certifying apps on, a version once its
//! support ends, so the dashboard and `/api/v1/stats` warn [`WARNING_MONTHS`] ahead: time
//! enough to move `SPOKE_HUBSPOT_API_VERSION` to a newer one.

use chrono::DateTime;
use hubspot::version::ApiVersion;
use serde::Serialize;
use utoipa::ToSchema;

/// How long before the end of support the warning starts.
pub const WARNING_MONTHS: u32 = 6;

/// The configured CRM API version and how long HubSpot supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSupport {
    /// `SPOKE_HUBSPOT_API_VERSION`: `2026-03`, `2026-09` or `v3`.
    pub version: String,
    /// The first day HubSpot no longer supports it (`YYYY-MM-DD`).
    pub unsupported_from: String,
    /// Within six months of that day, or past it.
    pub ends_soon: bool,
    /// The newest version spoke calls, when it is not the configured one.
    pub newer: Option<String>,
}

/// `version`'s support as of `now_ms`.
pub fn api_support(version: ApiVersion, now_ms: i64) -> ApiSupport {
    let today = DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .date_naive();
    let newest = ApiVersion::newest();
    ApiSupport {
        version: version.to_string(),
        unsupported_from: version.unsupported_from().to_string(),
        ends_soon: version.support_ends_within(today, WARNING_MONTHS),
        newer: (newest != version).then(|| newest.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str) -> i64 {
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn the_warning_starts_six_months_before_the_end_of_support() {
        let early = api_support(ApiVersion::V2026_03, at("2026-12-06"));
        assert_eq!(
            early,
            ApiSupport {
                version: "2026-03".into(),
                unsupported_from: "2027-09-01".into(),
                ends_soon: false,
                newer: Some("2026-09".into()),
            }
        );
        assert!(api_support(ApiVersion::V2026_03, at("2027-03-01")).ends_soon);
        assert!(api_support(ApiVersion::V3, at("2027-10-01")).ends_soon);
        // v3 calls the v4 associations API, which ends first.
        assert!(api_support(ApiVersion::V3, at("2026-10-01")).ends_soon);
        assert!(!api_support(ApiVersion::V3, at("2026-09-29")).ends_soon);
        let newest = api_support(ApiVersion::V2026_09, at("2027-03-01"));
        assert!(!newest.ends_soon && newest.newer.is_none());
    }
}
