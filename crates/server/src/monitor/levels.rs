//! The one classification of a success rate against the levels (HubSpot's 95% threshold
//! and the operator's warning level), and of a portal's risk. Alerts, standings, the admin
//! API and the dashboard all classify through here.

use serde::Serialize;
use store::PortalState;
use utoipa::ToSchema;

/// The levels, as fractions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertLevels {
    pub warning: f64,
    pub threshold: f64,
}

impl AlertLevels {
    /// The warning level as `SPOKE_ALERT_WARNING` takes it, in percent.
    pub const DEFAULT_WARNING_PERCENT: f64 = 97.0;
    pub const DEFAULT_WARNING: f64 = Self::DEFAULT_WARNING_PERCENT / 100.0;
    pub const HUBSPOT_THRESHOLD: f64 = 0.95;

    /// Where `rate` (0–1) stands.
    pub fn classify(&self, rate: f64) -> Level {
        if rate < self.threshold {
            Level::Critical
        } else if rate < self.warning {
            Level::Warning
        } else {
            Level::Ok
        }
    }
}

impl Default for AlertLevels {
    fn default() -> Self {
        Self {
            warning: Self::DEFAULT_WARNING,
            threshold: Self::HUBSPOT_THRESHOLD,
        }
    }
}

/// Where a rate stands: at or above the warning level, under it, or under HubSpot's
/// threshold. An alert is `warning` or `critical`, never `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// How much a portal needs an operator's eye, most first (the order of the variants).
/// Shown as its rank, 0 (most) to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(into = "u8")]
pub enum Risk {
    /// It must install again, or is gone.
    NotInstalled,
    /// Under HubSpot's threshold over the day.
    Critical,
    /// Under the warning level over the day.
    Warning,
    /// Dead letters or quarantined events wait for an operator.
    SetAside,
    Fine,
}

impl Risk {
    /// A portal's risk: its state, the day's combined rate (`None` without attempts) and
    /// whether anything of it is set aside.
    pub fn of(
        state: PortalState,
        day_rate: Option<f64>,
        set_aside: bool,
        levels: AlertLevels,
    ) -> Self {
        if state != PortalState::Installed {
            return Self::NotInstalled;
        }
        match day_rate.map(|rate| levels.classify(rate)) {
            Some(Level::Critical) => Self::Critical,
            Some(Level::Warning) => Self::Warning,
            _ if set_aside => Self::SetAside,
            _ => Self::Fine,
        }
    }

    /// "At risk", as the listing's filter means it: not installed, or under the warning
    /// level.
    pub fn at_risk(self) -> bool {
        matches!(self, Self::NotInstalled | Self::Critical | Self::Warning)
    }
}

impl From<Risk> for u8 {
    fn from(risk: Risk) -> Self {
        risk as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_classed_against_both_levels() {
        let levels = AlertLevels::default();
        assert_eq!(levels.classify(0.949), Level::Critical);
        assert_eq!(levels.classify(0.95), Level::Warning);
        assert_eq!(levels.classify(0.969), Level::Warning);
        assert_eq!(levels.classify(0.97), Level::Ok);
    }

    #[test]
    fn risk_orders_portals_most_first_and_shows_as_its_rank() {
        let levels = AlertLevels::default();
        let installed = |rate, set_aside| Risk::of(PortalState::Installed, rate, set_aside, levels);
        let ranked = [
            Risk::of(PortalState::NeedsReauth, Some(1.0), false, levels),
            installed(Some(0.9), true),
            installed(Some(0.96), false),
            installed(Some(1.0), true),
            installed(None, false),
        ];
        assert_eq!(
            ranked,
            [
                Risk::NotInstalled,
                Risk::Critical,
                Risk::Warning,
                Risk::SetAside,
                Risk::Fine
            ]
        );
        assert!(ranked.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(
            serde_json::to_value(ranked).unwrap(),
            serde_json::json!([0, 1, 2, 3, 4])
        );
        assert_eq!(ranked.map(Risk::at_risk), [true, true, true, false, false]);
    }
}
