//! `spoke-sim serve`'s settings: every one a flag and a `SPOKE_SIM_*` variable.

use clap::Args;

use crate::ratelimit::Limits;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free one (printed on start).
    #[arg(long, env = "SPOKE_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Seed of all generated portals and records.
    #[arg(long, env = "SPOKE_SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Number of portals (accounts that have installed the app).
    #[arg(long, env = "SPOKE_SIM_PORTALS", default_value_t = 10)]
    pub portals: u32,
    /// The first portal id; the others follow it.
    #[arg(long, env = "SPOKE_SIM_FIRST_PORTAL", default_value_t = 10_000_001)]
    pub first_portal: i64,
    /// Records every portal has of each type before any install (`--seed-records` too).
    #[arg(
        long,
        alias = "seed-records",
        env = "SPOKE_SIM_RECORDS",
        default_value_t = 1_000
    )]
    pub records: u32,
    /// The app's id, as in every webhook event's `appId`.
    #[arg(long, env = "SPOKE_SIM_APP_ID", default_value_t = 1_160_452)]
    pub app_id: i64,
    /// The app's OAuth client id.
    #[arg(
        long,
        env = "SPOKE_SIM_CLIENT_ID",
        default_value = "spoke-sim-client-id"
    )]
    pub client_id: String,
    /// Redirect URLs the app registered (repeat the flag, or comma-separate the variable);
    /// none means any http(s) URL is accepted.
    #[arg(
        long = "redirect-uri",
        env = "SPOKE_SIM_REDIRECT_URIS",
        value_delimiter = ','
    )]
    pub redirect_uris: Vec<String>,
    /// Scopes the app marks required: an authorize request without one of them is refused.
    #[arg(long, env = "SPOKE_SIM_REQUIRED_SCOPES", default_value = "oauth")]
    pub required_scopes: String,
    /// Seconds an authorization code stays redeemable (HubSpot: a "short window").
    #[arg(long, env = "SPOKE_SIM_AUTH_CODE_TTL", default_value_t = 300)]
    pub auth_code_ttl: u64,
    /// The app's client secret: the key of webhook signatures.
    #[arg(
        long,
        env = "SPOKE_SIM_CLIENT_SECRET",
        default_value = "spoke-sim-client-secret",
        hide_env_values = true
    )]
    pub client_secret: String,
    /// Scopes granted to issued tokens, space-separated.
    #[arg(
        long,
        env = "SPOKE_SIM_SCOPES",
        default_value = "oauth crm.objects.contacts.read crm.objects.companies.read crm.objects.deals.read tickets e-commerce crm.objects.quotes.read crm.objects.custom.read"
    )]
    pub scopes: String,
    /// Access-token lifetime in seconds (HubSpot: 1800).
    #[arg(long, env = "SPOKE_SIM_ACCESS_TOKEN_TTL", default_value_t = 1_800)]
    pub access_token_ttl: u64,
    /// Requests per window and portal (HubSpot, OAuth apps: 110 per 10 s).
    #[arg(long, env = "SPOKE_SIM_RATE_LIMIT", default_value_t = 110)]
    pub rate_limit: u32,
    /// The rolling window, in milliseconds.
    #[arg(long, env = "SPOKE_SIM_RATE_WINDOW_MS", default_value_t = 10_000)]
    pub rate_window_ms: u64,
    /// Requests per day and portal; unset for OAuth apps, which have none.
    #[arg(long, env = "SPOKE_SIM_DAILY_LIMIT")]
    pub daily_limit: Option<u32>,
    /// The app's webhook URL: what deliveries are signed for. No deliveries without it.
    #[arg(long, env = "SPOKE_SIM_WEBHOOK_TARGET_URL")]
    pub webhook_target_url: Option<String>,
    /// Connect to this base URL instead, keeping the target's path (a proxy's stand-in).
    #[arg(long, env = "SPOKE_SIM_WEBHOOK_DELIVER_TO")]
    pub webhook_deliver_to: Option<String>,
    /// Requests in flight per portal (HubSpot's default: 10).
    #[arg(long, env = "SPOKE_SIM_WEBHOOK_MAX_CONCURRENT", default_value_t = 10)]
    pub webhook_max_concurrent: usize,
    /// An attempt slower than this fails (HubSpot: 5000 ms).
    #[arg(long, env = "SPOKE_SIM_WEBHOOK_TIMEOUT_MS", default_value_t = 5_000)]
    pub webhook_timeout_ms: u64,
    /// Seconds before each retry, comma-separated (default: 10 retries doubling from 60 s,
    /// 21.3 hours in all; HubSpot documents only "up to 10 times over 24 hours").
    #[arg(
        long,
        env = "SPOKE_SIM_RETRY_DELAYS",
        value_delimiter = ',',
        default_value = "60,120,240,480,960,1920,3840,7680,15360,30720"
    )]
    pub retry_delays: Vec<f64>,
    /// Each retry's delay varies by up to ± this share, per event.
    #[arg(long, env = "SPOKE_SIM_RETRY_JITTER", default_value_t = 0.1)]
    pub retry_jitter: f64,
    /// Retry delays run this many times faster (e.g. 10000: 21 hours in under 8 s).
    #[arg(long, env = "SPOKE_SIM_TIME_SCALE", default_value_t = 1.0, value_parser = positive)]
    pub time_scale: f64,
    /// Random record changes per second across installed portals, each a webhook event.
    #[arg(long, env = "SPOKE_SIM_ACTIVITY_RATE", default_value_t = 0.0)]
    pub activity_rate: f64,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

impl Settings {
    pub fn limits(&self) -> Limits {
        Limits {
            max: self.rate_limit,
            window_ms: self.rate_window_ms,
            daily: self.daily_limit,
        }
    }

    /// Defaults, as `spoke-sim serve` has them with no flags: for tests.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: Settings,
        }
        <Wrapper as clap::Parser>::parse_from(["spoke-sim"]).settings
    }
}
