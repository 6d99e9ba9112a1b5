//! `spoke serve`'s settings, parsed and checked once at start-up, one section per
//! component. A missing or bad setting stops start-up with a message that names its
//! `SPOKE_*` variable.
//!
//! Every default lives here, as a constant of its section; the command line
//! ([`crate::cli`]) shows the same constants, and [`Config::new`] builds a configuration
//! with all of them for tests and the demo.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::CommandFactory;
use hubspot::crm::ObjectType;
use hubspot::oauth::{is_supported_version, OAuthConfig};
use hubspot::signature::Policy;
use hubspot::ClientSecret;
use secrecy::SecretString;
use url::Url;

use crate::cli::{Cli, DatabaseArgs, HubSpotArgs, HydratorArgs, ServeArgs, SinkArgs};
use crate::monitor::alerts::EVALUATE_EVERY;
use crate::monitor::levels::AlertLevels;
use crate::monitor::tally::FLUSH_EVERY;
use crate::oauth::vault::Keyring;
use crate::workers::limits::HUBSPOT_LIMIT;
use crate::workers::sinks::signing::SigningSecret;
use crate::workers::sinks::SinkName;

/// Secrets come from the environment only (no flags) and are read here.
const CLIENT_SECRET_VAR: &str = "SPOKE_HUBSPOT_CLIENT_SECRET";
const TOKEN_KEYS_VAR: &str = "SPOKE_TOKEN_KEYS";
const OPERATOR_TOKEN_VAR: &str = "SPOKE_OPERATOR_TOKEN";
const SINK_SECRET_VAR: &str = "SPOKE_SINK_HTTP_SECRET";
/// Variables with this prefix belong to the test harness, not to spoke.
const TEST_VAR_PREFIX: &str = "SPOKE_TEST_";

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
}

/// When the monitor alerts, and where it says so.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// Nothing counted and no alerts (`SPOKE_MONITOR=off`).
    pub off: bool,
    pub levels: AlertLevels,
    pub alert_webhook: Option<Url>,
    /// How often the counts gathered in memory go to the store. Reads show the store only
    /// (a GET never writes), so what they show is at most this old.
    pub flush_every: Duration,
    /// How often alerts are evaluated and their changes announced; the admin API and the
    /// dashboard show the alerts of the last evaluation.
    pub evaluate_every: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            off: false,
            levels: AlertLevels::default(),
            alert_webhook: None,
            flush_every: FLUSH_EVERY,
            evaluate_every: EVALUATE_EVERY,
        }
    }
}

impl MonitorConfig {
    fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let threshold = AlertLevels::HUBSPOT_THRESHOLD * 100.0;
        if !(threshold..100.0).contains(&args.alert_warning) {
            return Err(bad(
                "SPOKE_ALERT_WARNING",
                format!("must be a percentage from HubSpot's {threshold} up to 100"),
            ));
        }
        let alert_webhook = args
            .alert_webhook_url
            .as_deref()
            .map(|text| {
                Url::parse(text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| bad("SPOKE_ALERT_WEBHOOK_URL", "must be an http or https URL"))
            })
            .transpose()?;
        Ok(Self {
            off: args.monitor == crate::cli::Switch::Off,
            levels: AlertLevels {
                warning: args.alert_warning / 100.0,
                threshold: AlertLevels::HUBSPOT_THRESHOLD,
            },
            alert_webhook,
            ..Self::default()
        })
    }
}

/// The secret operators present to the admin API (`Authorization: Bearer …`). Compared in
/// constant time; `Debug` never shows it.
#[derive(Clone)]
pub struct OperatorToken(SecretString);

impl OperatorToken {
    /// Shorter than this is no secret.
    pub const MIN_LEN: usize = 16;

    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token = token.into();
        if token.len() < Self::MIN_LEN {
            return Err(format!("must be at least {} characters", Self::MIN_LEN));
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

impl fmt::Debug for OperatorToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorToken([redacted])")
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

    pub fn from_args(args: &DatabaseArgs) -> Self {
        Self {
            url: SecretString::from(args.database_url.clone()),
            max_connections: args.database_max_connections,
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
    /// unhandled. Each needs its read scope among the app's required scopes.
    pub objects: Vec<ObjectType>,
    /// CRM calls per portal per 10 s that spoke allows itself: HubSpot's 110 minus headroom.
    pub rate_limit: u32,
    /// Failed attempts after which an event becomes a dead letter.
    pub max_attempts: u32,
    /// How long finished events are kept (their identity deduplicates redeliveries).
    pub retention: Duration,
    /// How long a worker's claim (and its portals' hydration leases) lasts: far longer
    /// than a round takes, so only a crashed worker's claims lapse, after this long.
    pub claim_lease: Duration,
    /// Record versions the hydrator's cache holds at most, and for how long.
    pub cache_records: u64,
    pub cache_ttl: Duration,
}

impl HydratorConfig {
    pub const DEFAULT_RATE_LIMIT: u32 = 100;
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
    pub const DEFAULT_RETENTION_DAYS: u64 = 7;
    pub const DEFAULT_CLAIM_SECONDS: u64 = 120;
    pub const DEFAULT_CACHE_RECORDS: u64 = 1_000_000;
    pub const DEFAULT_CACHE_TTL_SECONDS: u64 = 3_600;

    /// Hydrates every type whose read scope `scopes` holds.
    pub fn for_scopes(scopes: &[String]) -> Self {
        Self {
            objects: ObjectType::ALL
                .into_iter()
                .filter(|o| scopes.iter().any(|s| s == o.read_scope()))
                .collect(),
            rate_limit: Self::DEFAULT_RATE_LIMIT,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            retention: days(Self::DEFAULT_RETENTION_DAYS),
            claim_lease: Duration::from_secs(Self::DEFAULT_CLAIM_SECONDS),
            cache_records: Self::DEFAULT_CACHE_RECORDS,
            cache_ttl: Duration::from_secs(Self::DEFAULT_CACHE_TTL_SECONDS),
        }
    }

    /// From the flags; an object type named explicitly must have its read scope among
    /// `scopes` (a pre-flight checklist item: scopes match what the app reads).
    fn from_args(args: &HydratorArgs, scopes: &[String]) -> Result<Self, ConfigError> {
        const VAR: &str = "SPOKE_HYDRATOR_OBJECTS";
        let mut config = Self::for_scopes(scopes);
        if let Some(names) = &args.hydrator_objects {
            config.objects = names
                .split_whitespace()
                .map(|name| {
                    ObjectType::from_path(name).ok_or_else(|| {
                        bad(
                            VAR,
                            format!("`{name}` is not an object type such as contacts"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            if let Some(object) = config
                .objects
                .iter()
                .find(|o| !scopes.iter().any(|s| s == o.read_scope()))
            {
                return Err(bad(
                    "SPOKE_HUBSPOT_SCOPES",
                    format!(
                        "{} are hydrated ({VAR}) but their read scope `{}` is not required",
                        object.plural(),
                        object.read_scope()
                    ),
                ));
            }
        }
        if args.hydrator_rate_limit == 0 || args.hydrator_rate_limit > HUBSPOT_LIMIT {
            return Err(bad(
                "SPOKE_HYDRATOR_RATE_LIMIT",
                format!("must be between 1 and HubSpot's {HUBSPOT_LIMIT} per 10 s"),
            ));
        }
        config.rate_limit = args.hydrator_rate_limit;
        config.max_attempts = args.hydrator_max_attempts.max(1);
        if args.retention_days == 0 {
            return Err(bad("SPOKE_RETENTION_DAYS", "must be at least 1"));
        }
        config.retention = days(args.retention_days);
        if args.hydrator_claim_seconds == 0 {
            return Err(bad("SPOKE_HYDRATOR_CLAIM_SECONDS", "must be at least 1"));
        }
        config.claim_lease = Duration::from_secs(args.hydrator_claim_seconds);
        config.cache_records = args.cache_records;
        config.cache_ttl = Duration::from_secs(args.cache_ttl_seconds);
        Ok(config)
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
    pub url: Url,
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

    fn from_args(
        args: &SinkArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let http = args
            .sink_http_url
            .as_deref()
            .map(|text| {
                let url = Url::parse(text)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| bad("SPOKE_SINK_HTTP_URL", "must be an http or https URL"))?;
                let secret = env(SINK_SECRET_VAR)
                    .ok_or_else(|| bad(SINK_SECRET_VAR, "required with SPOKE_SINK_HTTP_URL"))
                    .and_then(|s| SigningSecret::parse(&s).map_err(|e| bad(SINK_SECRET_VAR, e)))?;
                Ok(HttpSinkConfig { url, secret })
            })
            .transpose()?;
        let nats = args.nats_url.as_ref().map(|url| NatsSinkConfig {
            url: SecretString::from(url.clone()),
            subject: args.nats_subject.clone(),
            stream: args.nats_stream.clone(),
        });
        Ok(Self {
            http,
            nats,
            max_attempts: args.sink_max_attempts.max(1),
        })
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
            scopes: words(Self::DEFAULT_SCOPES),
            optional_scopes: Vec::new(),
            keys,
            success_url: None,
            refresh_margin: Duration::from_secs(Self::DEFAULT_REFRESH_MARGIN_S),
        }
    }

    /// `None` without a client id; with one, the client secret and token keys are required.
    pub fn from_args(
        args: &HubSpotArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(client_id) = args.hubspot_client_id.clone().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let client_secret = client_secret(env)?;
        let keys = env(TOKEN_KEYS_VAR)
            .ok_or_else(|| {
                bad(
                    TOKEN_KEYS_VAR,
                    "required with SPOKE_HUBSPOT_CLIENT_ID: `spoke keys generate` makes one",
                )
            })
            .and_then(|spec| {
                Keyring::parse(&spec).map_err(|e| bad(TOKEN_KEYS_VAR, e.to_string()))
            })?;
        if !is_supported_version(&args.hubspot_oauth_version) {
            return Err(bad(
                "SPOKE_HUBSPOT_OAUTH_VERSION",
                "must be v3 or a dated version such as 2026-03",
            ));
        }
        for (variable, value) in [
            ("SPOKE_HUBSPOT_API_BASE", &args.hubspot_api_base),
            ("SPOKE_HUBSPOT_AUTH_BASE", &args.hubspot_auth_base),
        ] {
            Url::parse(value).map_err(|e| bad(variable, format!("`{value}` is not a URL: {e}")))?;
        }
        Ok(Some(Self {
            oauth: OAuthConfig {
                api_base: args.hubspot_api_base.trim_end_matches('/').to_owned(),
                auth_base: args.hubspot_auth_base.trim_end_matches('/').to_owned(),
                version: args.hubspot_oauth_version.clone(),
                client_id,
                client_secret,
            },
            scopes: words(&args.hubspot_scopes),
            optional_scopes: words(&args.hubspot_optional_scopes),
            keys,
            success_url: args.install_success_url.clone(),
            refresh_margin: Duration::from_secs(args.token_refresh_margin),
        }))
    }
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// A setting that stops start-up; the text names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

fn bad(variable: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        problem: problem.into(),
    }
}

impl Config {
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
            hydrator: HydratorConfig::for_scopes(&[]),
            operator_token: None,
            sinks: SinkConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }

    /// This configuration with the install flow on, hydrating what its scopes allow.
    pub fn with_install(mut self, install: InstallConfig) -> Self {
        self.hydrator = HydratorConfig::for_scopes(&install.scopes);
        self.install = Some(install);
        self
    }

    /// Builds the configuration from parsed flags and the process environment.
    pub fn from_args(
        args: &ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let listen = args.listen.parse().map_err(|_| {
            bad(
                "SPOKE_LISTEN",
                format!("`{}` is not an address such as 127.0.0.1:8080", args.listen),
            )
        })?;
        let public_url = args
            .public_url
            .as_deref()
            .ok_or_else(|| {
                bad(
                    "SPOKE_PUBLIC_URL",
                    "required: the URL HubSpot calls, e.g. https://hooks.example.com",
                )
            })
            .and_then(|text| PublicUrl::parse(text).map_err(|e| bad("SPOKE_PUBLIC_URL", e)))?;
        let install = InstallConfig::from_args(&args.hubspot, &env)?;
        let scopes = install.as_ref().map_or(&[][..], |i| i.scopes.as_slice());
        let hydrator = HydratorConfig::from_args(&args.hydrator, scopes)?;
        Ok(Self {
            listen,
            role: args.role,
            public_url,
            client_secret: client_secret(&env)?,
            database: DatabaseConfig::from_args(&args.database),
            webhooks: WebhookConfig {
                max_body: args.webhook_max_body,
                signature_policy: Policy {
                    accept_legacy: args.webhook_legacy_signatures,
                },
                inbox_max_backlog: args.inbox_max_backlog,
                commits_in_flight: args.ingest_commits.max(1),
            },
            install,
            hydrator,
            operator_token: env(OPERATOR_TOKEN_VAR)
                .map(|token| OperatorToken::new(token).map_err(|e| bad(OPERATOR_TOKEN_VAR, e)))
                .transpose()?,
            sinks: SinkConfig::from_args(&args.sinks, &env)?,
            monitor: MonitorConfig::from_args(args)?,
        })
    }
}

/// The app's client secret, the one way it is read: required and not empty.
fn client_secret(env: &impl Fn(&str) -> Option<String>) -> Result<ClientSecret, ConfigError> {
    env(CLIENT_SECRET_VAR)
        .filter(|s| !s.is_empty())
        .map(ClientSecret::new)
        .ok_or_else(|| {
            bad(
                CLIENT_SECRET_VAR,
                "required: the app's client secret, which signs webhooks and OAuth calls",
            )
        })
}

/// The token keys alone, for `spoke keys rotate`.
pub fn token_keys(env: impl Fn(&str) -> Option<String>) -> Result<Keyring, ConfigError> {
    let spec = env(TOKEN_KEYS_VAR)
        .ok_or_else(|| bad(TOKEN_KEYS_VAR, "required: the keys tokens are sealed with"))?;
    Keyring::parse(&spec).map_err(|e| bad(TOKEN_KEYS_VAR, e.to_string()))
}

/// Refuses `SPOKE_*` variables that no setting reads, so a typo such as
/// `SPOKE_PUBLC_URL` fails loudly instead of silently using a default.
pub fn check_unknown_variables(vars: impl Iterator<Item = String>) -> Result<(), ConfigError> {
    let mut known: Vec<String> = [
        CLIENT_SECRET_VAR,
        TOKEN_KEYS_VAR,
        OPERATOR_TOKEN_VAR,
        SINK_SECRET_VAR,
    ]
    .map(str::to_owned)
    .to_vec();
    let command = Cli::command();
    let mut stack = vec![&command];
    while let Some(cmd) = stack.pop() {
        known.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned()),
        );
        stack.extend(cmd.get_subcommands());
    }
    match vars
        .filter(|v| v.starts_with("SPOKE_") && !v.starts_with(TEST_VAR_PREFIX))
        .find(|v| !known.contains(v))
    {
        Some(unknown) => Err(bad(
            &unknown,
            "unknown setting (check the spelling; `spoke serve --help` lists them)",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn serve_args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["spoke", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("parses").command {
            crate::cli::Command::Serve(args) => *args,
            other => panic!("not serve: {other:?}"),
        }
    }

    fn with_secret(name: &str) -> Option<String> {
        (name == CLIENT_SECRET_VAR).then(|| "s3cr3t-value".to_owned())
    }

    #[test]
    fn public_url_is_normalised_without_trailing_slash() {
        let args = serve_args(&["--public-url", "https://Hooks.Example.com:443/spoke/"]);
        let config = Config::from_args(&args, with_secret).expect("valid");
        assert_eq!(
            config.public_url.to_string(),
            "https://hooks.example.com/spoke"
        );
        assert_eq!(
            config.public_url.join("/webhooks/hubspot?a=1"),
            "https://hooks.example.com/spoke/webhooks/hubspot?a=1"
        );
        assert_eq!(config.webhooks.max_body, 1_048_576);
        assert!(!config.webhooks.signature_policy.accept_legacy);
    }

    #[test]
    fn the_command_line_defaults_are_the_sections_defaults() {
        let from_flags = Config::from_args(&serve_args(&["--public-url", "http://h"]), with_secret)
            .expect("valid");
        let built = Config::new(
            from_flags.listen,
            PublicUrl::parse("http://h").expect("valid"),
            ClientSecret::new("s3cr3t-value"),
            DatabaseConfig::DEFAULT_URL,
        );
        assert_eq!(format!("{from_flags:?}"), format!("{built:?}"));
        use secrecy::ExposeSecret;
        assert_eq!(
            from_flags.database.url.expose_secret(),
            built.database.url.expose_secret()
        );
    }

    #[test]
    fn missing_and_bad_settings_name_their_variable() {
        let err = Config::from_args(&serve_args(&[]), with_secret).unwrap_err();
        assert_eq!(err.variable, "SPOKE_PUBLIC_URL");
        let err =
            Config::from_args(&serve_args(&["--public-url", "https://h"]), |_| None).unwrap_err();
        assert_eq!(err.variable, CLIENT_SECRET_VAR);
        let err =
            Config::from_args(&serve_args(&["--public-url", "ftp://h"]), with_secret).unwrap_err();
        assert_eq!(err.variable, "SPOKE_PUBLIC_URL");
        let err = Config::from_args(
            &serve_args(&["--public-url", "https://h", "--listen", "nowhere"]),
            with_secret,
        )
        .unwrap_err();
        assert_eq!(err.variable, "SPOKE_LISTEN");
    }

    #[test]
    fn an_empty_client_secret_is_refused_for_the_install_flow_too() {
        let args = serve_args(&["--public-url", "https://h", "--hubspot-client-id", "cid"]);
        let key = Keyring::generate_entry("k1");
        let env = |name: &str| match name {
            CLIENT_SECRET_VAR => Some(String::new()),
            TOKEN_KEYS_VAR => Some(key.clone()),
            _ => None,
        };
        let err = InstallConfig::from_args(&args.hubspot, &env).unwrap_err();
        assert_eq!(err.variable, CLIENT_SECRET_VAR);
    }

    #[test]
    fn the_install_flow_needs_token_keys_once_a_client_id_is_set() {
        let without = Config::from_args(&serve_args(&["--public-url", "https://h"]), with_secret)
            .expect("valid");
        assert!(without.install.is_none());
        let args = serve_args(&["--public-url", "https://h", "--hubspot-client-id", "cid"]);
        let err = Config::from_args(&args, with_secret).unwrap_err();
        assert_eq!(err.variable, TOKEN_KEYS_VAR);
        let key = Keyring::generate_entry("k1");
        let env = |name: &str| match name {
            CLIENT_SECRET_VAR => Some("s3cr3t-value".to_owned()),
            TOKEN_KEYS_VAR => Some(key.clone()),
            _ => None,
        };
        let install = Config::from_args(&args, env)
            .expect("valid")
            .install
            .expect("on");
        assert_eq!(
            (install.oauth.version.as_str(), install.scopes.as_slice()),
            ("2026-03", &["oauth".to_owned()][..])
        );
        let v1 = serve_args(&[
            "--public-url",
            "https://h",
            "--hubspot-client-id",
            "cid",
            "--hubspot-oauth-version",
            "v1",
        ]);
        assert_eq!(
            Config::from_args(&v1, env).unwrap_err().variable,
            "SPOKE_HUBSPOT_OAUTH_VERSION"
        );
        assert!(!format!("{:?}", Config::from_args(&args, env).unwrap())
            .contains(key.split_once(':').unwrap().1));
    }

    #[test]
    fn a_hydrated_object_type_without_its_read_scope_stops_start_up() {
        let key = Keyring::generate_entry("k1");
        let env = |name: &str| match name {
            CLIENT_SECRET_VAR => Some("s3cr3t-value".to_owned()),
            TOKEN_KEYS_VAR => Some(key.clone()),
            _ => None,
        };
        let base = [
            "--public-url",
            "https://h",
            "--hubspot-client-id",
            "cid",
            "--hubspot-scopes",
            "oauth crm.objects.contacts.read",
        ];
        let by_scopes = Config::from_args(&serve_args(&base), env).expect("valid");
        assert_eq!(by_scopes.hydrator.objects, [ObjectType::Contacts]);

        let mut deals = base.to_vec();
        deals.extend(["--hydrator-objects", "contacts deals"]);
        let err = Config::from_args(&serve_args(&deals), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HUBSPOT_SCOPES");
        assert!(err.problem.contains("crm.objects.deals.read"), "{err}");

        let mut typo = base.to_vec();
        typo.extend(["--hydrator-objects", "contact"]);
        let err = Config::from_args(&serve_args(&typo), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HYDRATOR_OBJECTS");

        let mut too_fast = base.to_vec();
        too_fast.extend(["--hydrator-rate-limit", "111"]);
        let err = Config::from_args(&serve_args(&too_fast), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HYDRATOR_RATE_LIMIT");
    }

    #[test]
    fn the_operator_token_is_optional_long_and_never_shown() {
        let args = serve_args(&["--public-url", "https://h"]);
        assert!(Config::from_args(&args, with_secret)
            .unwrap()
            .operator_token
            .is_none());
        let env = |token: &'static str| {
            move |name: &str| match name {
                CLIENT_SECRET_VAR => Some("s3cr3t-value".to_owned()),
                OPERATOR_TOKEN_VAR => Some(token.to_owned()),
                _ => None,
            }
        };
        let err = Config::from_args(&args, env("short")).unwrap_err();
        assert_eq!(err.variable, OPERATOR_TOKEN_VAR);
        let config = Config::from_args(&args, env("an-operator-token-long-enough")).unwrap();
        let token = config.operator_token.as_ref().expect("set");
        assert!(token.matches("an-operator-token-long-enough"));
        assert!(!token.matches("an-operator-token-long-enougH"));
        assert!(!token.matches(""));
        assert!(!format!("{config:?}").contains("long-enough"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let args = serve_args(&[
            "--public-url",
            "https://h",
            "--database-url",
            "postgres://u:hunter2@db/x",
        ]);
        let shown = format!(
            "{:?}",
            Config::from_args(&args, with_secret).expect("valid")
        );
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_spoke_variables_are_refused_by_name() {
        let vars = [
            "PATH",
            "SPOKE_PUBLIC_URL",
            "SPOKE_HUBSPOT_CLIENT_SECRET",
            "SPOKE_LOG",
            "SPOKE_TEST_POSTGRES",
        ];
        check_unknown_variables(vars.iter().map(|v| v.to_string())).expect("all known");
        let err = check_unknown_variables(["SPOKE_PUBLC_URL".to_owned()].into_iter()).unwrap_err();
        assert_eq!(err.variable, "SPOKE_PUBLC_URL");
    }
}
