//! What handlers share: the application's parts, cheap to clone. Handlers depend on this
//! type, and it on none of them, so the router (which knows every handler) sits above both.

use std::sync::Arc;

use hubspot::version::ApiVersion;
use store::Store;

use crate::config::OperatorToken;
use crate::dashboard::session::Dashboard;
use crate::metrics::Metrics;
use crate::monitor::alerts::{Alert, Alerts};
use crate::monitor::api_support::{api_support, ApiSupport};
use crate::monitor::standings::Standings;
use crate::monitor::tally::Tally;
use crate::oauth::install::InstallFlow;
use crate::oauth::tokens::TokenService;
use crate::webhooks::receiver::Receiver;
use crate::workers::hydrator::Hydrator;

/// What handlers share; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub receiver: Arc<Receiver>,
    /// The install flow, when an app is configured.
    pub install: Option<Arc<InstallFlow>>,
    /// The hydrator, when it runs here (its counters feed `/api/v1/stats`).
    pub hydrator: Option<Arc<Hydrator>>,
    /// Opens the admin API; `None` refuses every request to it.
    pub operator_token: Option<Arc<OperatorToken>>,
    pub metrics: Arc<Metrics>,
    /// The certification monitor's counts not yet flushed (handlers only count into it; the
    /// flush task writes them), and its alerts.
    pub tally: Arc<Tally>,
    pub alerts: Arc<Alerts>,
    /// Every portal's standing, shared by the admin API and the dashboard.
    pub standings: Arc<Standings>,
    /// The operator dashboard, when an operator token is configured.
    pub dashboard: Option<Arc<Dashboard>>,
    /// The CRM API version calls are made at, when an app is configured.
    pub crm_version: Option<ApiVersion>,
    /// Tokens, when an app is configured: the dashboard's uninstall revokes them.
    pub tokens: Option<Arc<TokenService>>,
    pub clock: hubspot::time::Clock,
}

impl AppState {
    /// The alerts of the monitor's last evaluation (none while it is off). Reading them
    /// evaluates nothing and announces nothing: that is the evaluation task's job alone.
    pub fn held_alerts(&self) -> Vec<Alert> {
        if self.tally.counting() {
            self.alerts.active()
        } else {
            Vec::new()
        }
    }

    /// How long HubSpot supports the CRM API version spoke calls; `None` without an app.
    pub fn api_support(&self) -> Option<ApiSupport> {
        self.crm_version
            .map(|version| api_support(version, self.clock.now_ms()))
    }
}
