//! `spoke serve`'s settings, parsed and checked once at start-up, one section per
//! component. A missing or bad setting stops start-up with a message that names its
//! `SPOKE_*` variable.
//!
//! Every default lives here, as a constant of its section; the command line
//! (`crate::cli`, which builds a configuration from its flags and depends on this module,
//! never the other way round) shows the same constants, and [`Config::new`] builds a
//! configuration with all of them for tests and the demo.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use hubspot::oauth::OAuthConfig;
use hubspot::signature::Policy;
use hubspot::version::ApiVersion;
use hubspot::ClientSecret;
use secrecy::SecretString;
use url::Url;

use crate::monitor::levels::AlertLevels;
use crate::oauth::vault::Keyring;
use crate::workers::hydrator::properties::PropertySelection;
use crate::workers::hydrator::types::TypeSelection;
use crate::workers::sinks::name::SinkName;
use crate::workers::sinks::signing::SigningSecret;

/// Which parts of spoke a process runs (`SPOKE_ROLE`), so receivers and workers scale apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Role {
    /// Everything.
    #[default]
    All,
    /// The webhook receiver and the install flow: no background workers.
    Receiver,
    /// The hydrator and the token refresher; HTTP only for health and the admin API.
    Worker,
}

impl Role {
    pub fn receives(self) -> bool {
        self != Self::Worker
    }

    pub fn works(self) -> bool {
        self != Self::Receiver
    }
}

/// Everything `spoke serve` needs, typed.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub role: Role,
    pub public_url: PublicUrl,
    /// Signs webhooks and authenticates OAuth calls.
    pub client_secret: ClientSecret,
    pub database: DatabaseConfig,
    pub webhooks: WebhookConfig,
    /// The install flow and token vault; `None` when no client id is configured.
    pub install: Option<InstallConfig>,
    /// The hydrator, which runs when the install flow is configured (it needs tokens).
    pub hydrator: HydratorConfig,
    /// Opens the admin API; without it every `/api/v1/` request is refused.
    pub operator_token: Option<OperatorToken>,
    /// Where hydrated changes go besides the mirror.
    pub sinks: SinkConfig,
    /// The certification monitor's alerts.
    pub monitor: MonitorConfig,
    /// How often the table counts `/metrics` shows are read again.
    pub table_counts_every: Duration,
    /// What HTTP clients are allowed: time to send headers, connections at once.
    pub http: HttpLimits,
    /// Where `/metrics` is served instead of `listen`, when set.
    pub metrics_listen: Option<SocketAddr>,
}

/// What one server allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// To send a request's headers, and to start the next request on a kept-alive
    /// connection.
    pub header_read: Duration,
    /// Connections open at once.
    pub connections: usize,
}

impl HttpLimits {
    pub const DEFAULT_HEADER_READ_SECONDS: u64 = 10;
    pub const DEFAULT_CONNECTIONS: usize = 10_000;
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(Self::DEFAULT_HEADER_READ_SECONDS),
            connections: Self::DEFAULT_CONNECTIONS,
        }
    }
}

/// When the monitor alerts, and where it says so.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Nothing counted and no alerts (`SPOKE_MONITOR=off`).
    pub off: bool,
    pub levels: AlertLevels,
    pub alert_webhook: Option<SecretUrl>,
    /// How often the counts gathered in memory go to the store. Reads show the store only
    /// (a GET never writes), so what they show is at most this old.
    pub flush_every: Duration,
    /// How often alerts are evaluated and their changes announced; the admin API and the
    /// dashboard show the alerts of the last evaluation.
    pub evaluate_every: Duration,
}

impl MonitorConfig {
    /// Counts go to the store this often: a crash loses at most this much.
    pub const DEFAULT_FLUSH_EVERY: Duration = Duration::from_secs(5);
    /// Alerts are evaluated this often: reading every portal's day takes seconds at 10,000
    /// portals.
    pub const DEFAULT_EVALUATE_EVERY: Duration = Duration::from_secs(30);
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            off: false,
            levels: AlertLevels::default(),
            alert_webhook: None,
            flush_every: Self::DEFAULT_FLUSH_EVERY,
            evaluate_every: Self::DEFAULT_EVALUATE_EVERY,
        }
    }
}

/// The secret operators present to the admin API (`Authorization: Bearer …`). Compared in
/// constant time; `Debug` never shows it.
#[derive(Clone)]
pub struct OperatorToken(SecretString);

impl OperatorToken {
    /// Less than this is guessable by someone with time (the operator's key to every
    /// portal's data): 32 random hex characters (`openssl rand -hex 16`) hold it exactly.
    pub const MIN_BITS: f64 = 128.0;

    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token = token.into();
        if estimated_bits(&token) < Self::MIN_BITS {
            return Err(format!(
                "is too short for {} bits: use e.g. `openssl rand -hex 32` (64 random hex characters)",
                Self::MIN_BITS
            ));
        }
        Ok(Self(SecretString::from(token)))
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &str) -> bool {
        use secrecy::ExposeSecret;
        use subtle::ConstantTimeEq;
        self.0
            .expose_secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }

    /// The token itself, for the one place that shows it: the demo's banner.
    pub fn reveal(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

/// At most the bits a token could hold: its length times those of one character drawn at
/// random from the character classes it uses (lower case, upper case, digits, the rest).
/// A length check, not a measure of randomness (a phrase of words passes if long): it
/// refuses what is plainly too short; fewer than 8 distinct characters hold nothing.
fn estimated_bits(token: &str) -> f64 {
    let distinct: std::collections::BTreeSet<char> = token.chars().collect();
    if distinct.len() < 8 {
        return 0.0;
    }
    let class_size = |c: &char| match c {
        'a'..='z' | 'A'..='Z' => 26,
        '0'..='9' => 10,
        _ => 32,
    };
    let class = |c: &char| match c {
        'a'..='z' => 0,
        'A'..='Z' => 1,
        '0'..='9' => 2,
        _ => 3,
    };
    let mut seen = [0_u32; 4];
    for c in &distinct {
        seen[class(c)] = class_size(c);
    }
    let pool: u32 = seen.iter().sum();
    token.chars().count() as f64 * f64::from(pool).log2()
}

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken([redacted])")
    }
}

/// A URL with a secret in its path or query (a Slack webhook's token, a sink's
/// credentials): `Debug` shows its scheme and host only, and `--help` never its value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    /// An `http` or `https` URL.
    pub fn parse_http(text: &str) -> Option<Self> {
        Url::parse(text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(Self)
    }

    /// The URL itself, for the call that uses it.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.0.host_str().unwrap_or_default();
        write!(f, "SecretUrl({}://{host}/[redacted])", self.0.scheme())
    }
}

/// The URL HubSpot calls, past any proxy: scheme, host and an optional path prefix.
/// Signatures v2 and v3 cover the URL HubSpot called, which is this one with the request's
/// path appended (reference §7.2); redirect URIs live under it too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl PublicUrl {
    /// Checks `text` is an http(s) URL with a host and nothing after the path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err("must be an http or https URL with a host".into());
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err("must not contain a query, fragment or credentials".into());
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Self(url))
    }

    /// Whether browsers reach spoke over https (the dashboard's cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The path prefix a proxy strips (`/spoke`), or `""`: where browsers see spoke's
    /// routes, so cookies are scoped under it.
    pub fn path_prefix(&self) -> &str {
        self.0.path().trim_end_matches('/')
    }

    /// This URL with `path_and_query` (starting with `/`) appended.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0.as_str().trim_end_matches('/'))
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.join(""))
    }
}

/// Where spoke keeps its data.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// May hold a password: never printed.
    pub url: SecretString,
    pub max_connections: u32,
}

impl DatabaseConfig {
    pub const DEFAULT_URL: &str = "sqlite://data/spoke.db";
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

    /// The database at `url`, with the default pool.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &"[redacted]")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The webhook receiver.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Largest body accepted, in bytes.
    pub max_body: usize,
    pub signature_policy: Policy,
    /// Pending inbox events above which deliveries get `503` until workers catch up.
    pub inbox_max_backlog: u64,
    /// Group commits in flight at once on PostgreSQL (SQLite has one writer: always one).
    pub commits_in_flight: usize,
}

impl WebhookConfig {
    pub const DEFAULT_MAX_BODY: usize = 1 << 20;
    pub const DEFAULT_INBOX_MAX_BACKLOG: u64 = 1_000_000;
    pub const DEFAULT_COMMITS_IN_FLIGHT: usize = 3;
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            max_body: Self::DEFAULT_MAX_BODY,
            signature_policy: Policy::default(),
            inbox_max_backlog: Self::DEFAULT_INBOX_MAX_BACKLOG,
            commits_in_flight: Self::DEFAULT_COMMITS_IN_FLIGHT,
        }
    }
}

/// The workers that turn events into records.
#[derive(Debug, Clone)]
pub struct HydratorConfig {
    /// The object types whose records are fetched; events of others are kept, marked
    /// unhandled. Each needs its read scope among the app's required or optional scopes.
    pub objects: TypeSelection,
    /// The types whose read scope is optional: a portal that did not grant it keeps their
    /// events unhandled with the scope named (pruned with retention), rather than waiting
    /// in quarantine for an install that may never grant it.
    pub optional: TypeSelection,
    /// The properties read per type; every property the portal defines by default.
    pub properties: PropertySelection,
    /// How long a portal's list of a type's properties is used before it is read again.
    pub properties_refresh: Duration,
    /// CRM calls per portal per 10 s that spoke allows itself: HubSpot's 110 minus headroom.
    pub rate_limit: u32,
    /// Failed attempts after which an event becomes a dead letter.
    pub max_attempts: u32,
    /// How long finished events are kept (their identity deduplicates redeliveries).
    pub retention: Duration,
    /// How long a worker's claim (and its portals' hydration leases) lasts. A round starts
    /// no call after half of it, so only a crashed worker's claims lapse, after this long.
    pub claim_lease: Duration,
    /// Whether this process runs backfills and reconciliations.
    pub sync: bool,
    /// How often each portal is reconciled.
    pub reconcile_every: Duration,
    /// Longest list API URL a backfill sends (its properties ride in the URL).
    pub list_url_bytes: usize,
    /// Record versions the hydrator's cache holds at most, and for how long.
    pub cache_records: u64,
    pub cache_ttl: Duration,
}

impl HydratorConfig {
    pub const DEFAULT_RATE_LIMIT: u32 = 100;
    pub const DEFAULT_PROPERTIES_REFRESH_SECONDS: u64 = 3_600;
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
    pub const DEFAULT_RETENTION_DAYS: u64 = 7;
    pub const DEFAULT_CLAIM_SECONDS: u64 = 120;
    pub const DEFAULT_CACHE_RECORDS: u64 = 1_000_000;
    pub const DEFAULT_LIST_URL_BYTES: usize = 8_000;
    pub const DEFAULT_RECONCILE_EVERY_HOURS: u64 = 24;
    pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 3_600;

    /// Hydrates every type whose read scope the app requires or asks for optionally.
    pub fn for_scopes(required: &[String], optional: &[String]) -> Self {
        let objects = TypeSelection::readable_with(&[required, optional].concat());
        Self {
            optional: objects.without(&TypeSelection::readable_with(required)),
            objects,
            properties: PropertySelection::default(),
            properties_refresh: Duration::from_secs(Self::DEFAULT_PROPERTIES_REFRESH_SECONDS),
            rate_limit: Self::DEFAULT_RATE_LIMIT,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            retention: days(Self::DEFAULT_RETENTION_DAYS),
            claim_lease: Duration::from_secs(Self::DEFAULT_CLAIM_SECONDS),
            sync: true,
            reconcile_every: Duration::from_secs(Self::DEFAULT_RECONCILE_EVERY_HOURS * 3_600),
            list_url_bytes: Self::DEFAULT_LIST_URL_BYTES,
            cache_records: Self::DEFAULT_CACHE_RECORDS,
            cache_ttl: Duration::from_secs(Self::DEFAULT_CACHE_TTL_SECONDS),
        }
    }
}

/// The sinks beside the mirror; each is off unless configured.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub http: Option<HttpSinkConfig>,
    pub nats: Option<NatsSinkConfig>,
    /// Failed attempts after which a delivery becomes the sink's dead letter.
    pub max_attempts: u32,
}

/// A Standard Webhooks endpoint.
#[derive(Debug, Clone)]
pub struct HttpSinkConfig {
    pub url: SecretUrl,
    pub secret: SigningSecret,
}

/// A NATS JetStream destination.
#[derive(Debug, Clone)]
pub struct NatsSinkConfig {
    /// May hold credentials: never printed.
    pub url: SecretString,
    /// Each change goes to `<subject>.<portalId>.<objectType>`.
    pub subject: String,
    pub stream: String,
}

impl SinkConfig {
    pub const DEFAULT_NATS_SUBJECT: &str = "spoke.records";
    pub const DEFAULT_NATS_STREAM: &str = "SPOKE_RECORDS";
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;

    /// The names the sink queue knows the configured sinks by.
    pub fn names(&self) -> Vec<String> {
        let http = self.http.as_ref().map(|_| SinkName::Http);
        let nats = self.nats.as_ref().map(|_| SinkName::Nats);
        http.into_iter()
            .chain(nats)
            .map(|sink| sink.as_str().to_owned())
            .collect()
    }
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            http: None,
            nats: None,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// What the install flow and the token vault need.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    pub oauth: OAuthConfig,
    /// The CRM API version every CRM call is made at.
    pub api_version: ApiVersion,
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub keys: Keyring,
    pub success_url: Option<String>,
    pub refresh_margin: Duration,
}

impl InstallConfig {
    pub const DEFAULT_SCOPES: &str = "oauth";
    pub const DEFAULT_API_BASE: &str = "https://api.hubapi.com";
    pub const DEFAULT_AUTH_BASE: &str = "https://app.hubspot.com";
    pub const DEFAULT_OAUTH_VERSION: &str = "2026-03";
    pub const DEFAULT_API_VERSION: &str = "2026-03";
    pub const DEFAULT_REFRESH_MARGIN_S: u64 = 300;

    /// The app `client_id` against a HubSpot whose API and authorize page both live at
    /// `hubspot_base` (the simulator), with every other setting at its default.
    pub fn new(
        client_id: &str,
        client_secret: ClientSecret,
        hubspot_base: &str,
        keys: Keyring,
    ) -> Self {
        Self {
            oauth: OAuthConfig {
                api_base: hubspot_base.trim_end_matches('/').to_owned(),
                auth_base: hubspot_base.trim_end_matches('/').to_owned(),
                version: Self::DEFAULT_OAUTH_VERSION.to_owned(),
                client_id: client_id.to_owned(),
                client_secret,
            },
            api_version: Self::DEFAULT_API_VERSION
                .parse()
                .expect("the default is a version"),
            scopes: words(Self::DEFAULT_SCOPES),
            optional_scopes: Vec::new(),
            keys,
            success_url: None,
            refresh_margin: Duration::from_secs(Self::DEFAULT_REFRESH_MARGIN_S),
        }
    }
}

pub(crate) fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

pub(crate) fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// A setting that stops start-up; the text names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl Config {
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
    /// How often the table counts behind `/metrics` are read: a scrape reads none.
    pub const DEFAULT_TABLE_COUNTS_EVERY: Duration = Duration::from_secs(15);

    /// spoke on `listen` and `database_url` with every other setting at its default and no
    /// install flow: what tests and the demo start from.
    pub fn new(
        listen: SocketAddr,
        public_url: PublicUrl,
        client_secret: ClientSecret,
        database_url: impl Into<String>,
    ) -> Self {
        Self {
            listen,
            role: Role::All,
            public_url,
            client_secret,
            database: DatabaseConfig::new(database_url),
            webhooks: WebhookConfig::default(),
            install: None,
            hydrator: HydratorConfig::for_scopes(&[], &[]),
            operator_token: None,
            sinks: SinkConfig::default(),
            monitor: MonitorConfig::default(),
            table_counts_every: Self::DEFAULT_TABLE_COUNTS_EVERY,
            http: HttpLimits::default(),
            metrics_listen: None,
        }
    }

    /// This configuration with the install flow on, hydrating what its scopes allow.
    pub fn with_install(mut self, install: InstallConfig) -> Self {
        self.hydrator = HydratorConfig::for_scopes(&install.scopes, &install.optional_scopes);
        self.install = Some(install);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_url_shows_only_where_it_goes() {
        let url = SecretUrl::parse_http("https://hooks.slack.com/services/T0/B0/token-7")
            .expect("an https URL");
        let shown = format!("{url:?}");
        assert!(
            shown.contains("hooks.slack.com") && !shown.contains("token-7"),
            "{shown}"
        );
        assert!(SecretUrl::parse_http("ftp://files.test/x").is_none());
        assert!(SecretUrl::parse_http("not a url").is_none());
    }

    #[test]
    fn an_operator_token_must_hold_128_bits() {
        for weak in [
            "0123456789abcdef",
            "a-test-operator-token",
            &"ab".repeat(40),
        ] {
            assert!(OperatorToken::new(weak).is_err(), "{weak}");
        }
        let hex = "9f86d081884c7d659a2feaa0c55ad015";
        assert!(estimated_bits(hex) >= OperatorToken::MIN_BITS);
        for strong in [hex, "dashboard-operator-token-7f3a", "Xk8#pQ2!mZ7&vR4@Lw9%"] {
            assert!(OperatorToken::new(strong).is_ok(), "{strong}");
        }
    }
}
