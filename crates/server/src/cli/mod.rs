//! The `spoke` command line. Every `serve` setting is a flag and a `SPOKE_*` variable
//! (DESIGN.md, Contracts); secrets are variables only, since arguments show up in
//! process lists. [`settings`] turns the flags into the configuration; only `main` and the
//! operator commands (`ops`) use this module.

pub mod settings;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    Config, DatabaseConfig, HttpLimits, HydratorConfig, InstallConfig, Role, SinkConfig,
    WebhookConfig,
};
use crate::monitor::levels::AlertLevels;
use crate::telemetry::LogArgs;
use crate::workers::sinks::SinkName;
use store::{ObjectId, PortalId};

#[derive(Debug, Parser)]
#[command(
    name = "spoke",
    version,
    about = "Multi-tenant backend for HubSpot Marketplace apps"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the webhook receiver, the install flow, the token refresher and the hydrator.
    Serve(Box<ServeArgs>),
    /// Run spoke with the HubSpot simulator on a temporary database: portals installed
    /// through the real OAuth flow, signed webhooks streaming in.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseArgs),
    /// Installed portals: list, show, uninstall, erase.
    Portals(PortalsArgs),
    /// Token encryption keys: generate one, or re-seal every token under the first key.
    Keys(KeysArgs),
    /// Events whose attempts ran out: list them, replay them.
    DeadLetters(DeadLettersArgs),
    /// The record mirror: what spoke holds of a HubSpot record.
    Records(RecordsArgs),
    /// Keeping the mirror complete: backfill or reconcile a portal, see where its sync
    /// stands.
    Sync(SyncArgs),
    /// Print the admin API's OpenAPI 3.1 document (what `GET /api/v1/openapi.json` serves
    /// and `docs/admin-api.json` holds).
    Openapi,
    /// Ask the spoke listening on SPOKE_LISTEN whether it is alive (`/healthz`); exits
    /// non-zero if not. For container health checks in images without curl.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// Where the spoke to ask listens; an unspecified address (`0.0.0.0`) means this host.
    #[arg(long, env = "SPOKE_LISTEN", default_value = Config::DEFAULT_LISTEN)]
    pub listen: String,
}

#[derive(Debug, Clone, Args)]
pub struct DeadLettersArgs {
    #[command(subcommand)]
    pub command: DeadLettersCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DeadLettersCommand {
    /// Dead letters, oldest first, with their reason and last error: the hydrator's and
    /// every sink's.
    List {
        /// Only this portal's.
        #[arg(long)]
        portal: Option<PortalId>,
        /// Only this sink's deliveries.
        #[arg(long, value_enum)]
        sink: Option<SinkName>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Back to the queue with fresh attempts; replaying again finds nothing more.
    Replay {
        /// One dead letter, by the id `list` shows.
        #[arg(long, conflicts_with_all = ["portal", "all"])]
        id: Option<i64>,
        /// Every dead letter of a portal.
        #[arg(long, conflicts_with = "all")]
        portal: Option<PortalId>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        /// A sink's deliveries (`--id` is then that sink's delivery id); without it, a
        /// portal's or all replays the hydrator's and every sink's.
        #[arg(long, value_enum)]
        sink: Option<SinkName>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RecordsArgs {
    #[command(subcommand)]
    pub command: RecordsCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RecordsCommand {
    /// One mirrored record: its state, HubSpot's last modification, when spoke fetched it,
    /// and its properties.
    Get {
        portal_id: PortalId,
        /// `contacts`, `companies`, `deals`, `tickets`, `products` or `line_items`.
        object_type: String,
        object_id: ObjectId,
    },
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: SyncCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum SyncCommand {
    /// Read every record of the portal's hydrated types (or of one) from HubSpot again; a
    /// running spoke does it. In a terminal, shows its progress until it finishes.
    Backfill {
        #[arg(long)]
        portal: PortalId,
        /// Only this type: a path name (`contacts`) or type id (`0-1`, `2-123`).
        #[arg(long = "type")]
        object_type: Option<String>,
    },
    /// Find and repair what webhooks never said of the portal's records, now rather than
    /// at its next scheduled run; a running spoke does it.
    Reconcile {
        #[arg(long)]
        portal: PortalId,
    },
    /// Where the portal's backfill stands, and what its last reconciliation found.
    Status {
        #[arg(long)]
        portal: PortalId,
    },
}

#[cfg(feature = "demo")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where spoke listens (port 0 picks a free one).
    #[arg(long, default_value = Config::DEFAULT_LISTEN)]
    pub listen: String,
    /// Where the simulator listens.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub sim_listen: String,
    /// Portals to install.
    #[arg(long, default_value_t = 3)]
    pub portals: u32,
    /// Simulated CRM changes per second (each a signed webhook event).
    #[arg(long, default_value_t = 20.0)]
    pub activity_rate: f64,
}

#[derive(Debug, Clone, Args)]
pub struct PortalsArgs {
    #[command(subcommand)]
    pub command: PortalsCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PortalsCommand {
    /// Every portal with its state, token expiry and scopes (never the tokens).
    List,
    /// One portal in detail, with its audit trail.
    Show { portal_id: PortalId },
    /// Uninstall the app from the portal at HubSpot, revoke and erase its tokens.
    Uninstall {
        portal_id: PortalId,
        #[command(flatten)]
        hubspot: HubSpotArgs,
    },
    /// Remove everything spoke holds for the portal (events, tokens, record).
    Erase {
        portal_id: PortalId,
        /// Confirm: erasing cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Print a new key entry for SPOKE_TOKEN_KEYS.
    Generate {
        /// The key's id, stored beside every token it seals.
        #[arg(default_value = "k1")]
        id: String,
    },
    /// Re-seal every token under the first key of SPOKE_TOKEN_KEYS.
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://path` (the embedded default) or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "SPOKE_DATABASE_URL",
        default_value = DatabaseConfig::DEFAULT_URL,
        hide_env_values = true
    )]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(
        long,
        global = true,
        env = "SPOKE_DATABASE_MAX_CONNECTIONS",
        default_value_t = DatabaseConfig::DEFAULT_MAX_CONNECTIONS
    )]
    pub database_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// What this process runs: `all`, `receiver` (webhooks and installs) or `worker`
    /// (hydrator and token refresher).
    #[arg(long, env = "SPOKE_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// Address to listen on; port 0 picks a free one (the `listening` log line names it).
    #[arg(long, env = "SPOKE_LISTEN", default_value = Config::DEFAULT_LISTEN)]
    pub listen: String,
    /// Serve `/metrics` on this address instead of `SPOKE_LISTEN` (a port only Prometheus
    /// reaches).
    #[arg(long, env = "SPOKE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Seconds a client has to send a request's headers, on a new connection and between
    /// requests on a kept-alive one; then the connection is closed.
    #[arg(
        long,
        env = "SPOKE_HTTP_HEADER_TIMEOUT_SECONDS",
        default_value_t = HttpLimits::DEFAULT_HEADER_READ_SECONDS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub http_header_timeout_seconds: u64,
    /// Connections open at once; one more is closed at once.
    #[arg(
        long,
        env = "SPOKE_HTTP_MAX_CONNECTIONS",
        default_value_t = HttpLimits::DEFAULT_CONNECTIONS,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub http_max_connections: usize,
    /// The URL HubSpot calls, past any proxy: scheme, host, optional path prefix. Signature
    /// v3 covers it, so it must match the app's webhook target URL.
    #[arg(long, env = "SPOKE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest webhook body accepted, in bytes (suffixes KiB and MiB allowed).
    #[arg(
        long,
        env = "SPOKE_WEBHOOK_MAX_BODY",
        default_value_t = WebhookConfig::DEFAULT_MAX_BODY,
        value_parser = parse_size
    )]
    pub webhook_max_body: usize,
    /// Accept v1/v2 signatures when a delivery carries no v3 headers (no replay protection).
    #[arg(long, env = "SPOKE_WEBHOOK_LEGACY_SIGNATURES")]
    pub webhook_legacy_signatures: bool,
    /// Pending inbox events above which deliveries get `503` until workers catch up.
    #[arg(
        long,
        env = "SPOKE_INBOX_MAX_BACKLOG",
        default_value_t = WebhookConfig::DEFAULT_INBOX_MAX_BACKLOG
    )]
    pub inbox_max_backlog: u64,
    /// Group commits of webhook deliveries in flight at once on PostgreSQL, so one
    /// commit's wait on the server is not the receiver's; SQLite always commits one at a time.
    #[arg(
        long,
        env = "SPOKE_INGEST_COMMITS",
        default_value_t = WebhookConfig::DEFAULT_COMMITS_IN_FLIGHT
    )]
    pub ingest_commits: usize,
    #[command(flatten)]
    pub hubspot: HubSpotArgs,
    #[command(flatten)]
    pub hydrator: HydratorArgs,
    #[command(flatten)]
    pub sinks: SinkArgs,
    /// `off` stops the certification monitor: nothing counted, no alerts, its endpoints
    /// answer 404. For measuring what it costs; HubSpot certification needs it on.
    #[arg(long, env = "SPOKE_MONITOR", default_value = "on")]
    pub monitor: Switch,
    /// The success rate, in percent, below which the monitor warns (HubSpot's bar is 95).
    #[arg(long, env = "SPOKE_ALERT_WARNING", default_value_t = AlertLevels::DEFAULT_WARNING_PERCENT)]
    pub alert_warning: f64,
    /// Where alerts are posted as Slack-compatible JSON (`{"text": …}`); off when unset.
    #[arg(long, env = "SPOKE_ALERT_WEBHOOK_URL", hide_env_values = true)]
    pub alert_webhook_url: Option<String>,
}

/// Where hydrated changes go besides the mirror.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// An endpoint that receives every change as a Standard Webhooks POST, signed with
    /// SPOKE_SINK_HTTP_SECRET (`whsec_…`); off when unset.
    #[arg(long, env = "SPOKE_SINK_HTTP_URL", hide_env_values = true)]
    pub sink_http_url: Option<String>,
    /// NATS server for the JetStream sink (`nats://host:4222`); off when unset.
    #[arg(long, env = "SPOKE_NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// Subject prefix: each change goes to `<prefix>.<portalId>.<objectType>`.
    #[arg(long, env = "SPOKE_NATS_SUBJECT", default_value = SinkConfig::DEFAULT_NATS_SUBJECT)]
    pub nats_subject: String,
    /// The JetStream stream, created over `<prefix>.>` when missing.
    #[arg(long, env = "SPOKE_NATS_STREAM", default_value = SinkConfig::DEFAULT_NATS_STREAM)]
    pub nats_stream: String,
    /// Failed attempts after which a sink's delivery becomes a dead letter.
    #[arg(
        long,
        env = "SPOKE_SINK_MAX_ATTEMPTS",
        default_value_t = SinkConfig::DEFAULT_MAX_ATTEMPTS
    )]
    pub sink_max_attempts: u32,
}

/// The hydrator's settings.
#[derive(Debug, Clone, Args)]
pub struct HydratorArgs {
    /// Object types to fetch records of, space-separated path names or type ids
    /// (`contacts deals 0-48`), `custom` for every custom object or `2-…` for one;
    /// default: every type whose read scope is in SPOKE_HUBSPOT_SCOPES or
    /// SPOKE_HUBSPOT_OPTIONAL_SCOPES.
    #[arg(long, env = "SPOKE_HYDRATOR_OBJECTS")]
    pub hydrator_objects: Option<String>,
    /// Properties read per type (`contacts=email,firstname;deals=*`); `*`, and any type not
    /// named, reads every property the portal defines.
    #[arg(long, env = "SPOKE_HYDRATOR_PROPERTIES", default_value = "")]
    pub hydrator_properties: String,
    /// CRM calls per portal per 10 s (HubSpot allows 110; the rest is headroom).
    #[arg(
        long,
        env = "SPOKE_HYDRATOR_RATE_LIMIT",
        default_value_t = HydratorConfig::DEFAULT_RATE_LIMIT
    )]
    pub hydrator_rate_limit: u32,
    /// Failed attempts after which an event becomes a dead letter.
    #[arg(
        long,
        env = "SPOKE_HYDRATOR_MAX_ATTEMPTS",
        default_value_t = HydratorConfig::DEFAULT_MAX_ATTEMPTS
    )]
    pub hydrator_max_attempts: u32,
    /// Seconds a worker's claim lasts; a crashed worker's events are taken again after it.
    #[arg(
        long,
        env = "SPOKE_HYDRATOR_CLAIM_SECONDS",
        default_value_t = HydratorConfig::DEFAULT_CLAIM_SECONDS
    )]
    pub hydrator_claim_seconds: u64,
    /// `off`: this process runs no backfill or reconciliation (installs, the schedule and
    /// operators still ask for them, and a process with it on runs them).
    #[arg(long, env = "SPOKE_SYNC", default_value = "on")]
    pub sync: Switch,
    /// Hours between a portal's reconciliations (its first within that many hours of its
    /// install, at an offset that follows from its id).
    #[arg(
        long,
        env = "SPOKE_RECONCILE_EVERY_HOURS",
        default_value_t = HydratorConfig::DEFAULT_RECONCILE_EVERY_HOURS
    )]
    pub reconcile_every_hours: u64,
    /// Longest list API URL a backfill sends (its properties ride in the URL); a type whose
    /// properties do not fit is listed by id and read in batches, two calls a page. HubSpot
    /// documents `414 URI too long` but not its limit: unverified.
    #[arg(
        long,
        env = "SPOKE_BACKFILL_URL_BYTES",
        default_value_t = HydratorConfig::DEFAULT_LIST_URL_BYTES
    )]
    pub backfill_url_bytes: usize,
    /// Record versions the hydrator caches (about 100 bytes each); 0 turns the cache off.
    #[arg(
        long,
        env = "SPOKE_CACHE_RECORDS",
        default_value_t = HydratorConfig::DEFAULT_CACHE_RECORDS
    )]
    pub cache_records: u64,
    /// Seconds a cached record version lives.
    #[arg(
        long,
        env = "SPOKE_CACHE_TTL_SECONDS",
        default_value_t = HydratorConfig::DEFAULT_CACHE_TTL_SECONDS
    )]
    pub cache_ttl_seconds: u64,
    /// Days finished events, and events quarantined for a portal that is uninstalled,
    /// erased or was never installed, are kept before they are pruned; dead letters and an
    /// installed portal's quarantined events are kept until replayed or released.
    #[arg(
        long,
        env = "SPOKE_RETENTION_DAYS",
        default_value_t = HydratorConfig::DEFAULT_RETENTION_DAYS
    )]
    pub retention_days: u64,
}

/// The app's OAuth settings; the install flow is on when a client id is set.
#[derive(Debug, Clone, Args)]
pub struct HubSpotArgs {
    /// The app's client id (its client secret is SPOKE_HUBSPOT_CLIENT_SECRET).
    #[arg(long, env = "SPOKE_HUBSPOT_CLIENT_ID")]
    pub hubspot_client_id: Option<String>,
    /// Scopes the app requires, space-separated, as configured in the app's settings.
    #[arg(long, env = "SPOKE_HUBSPOT_SCOPES", default_value = InstallConfig::DEFAULT_SCOPES)]
    pub hubspot_scopes: String,
    /// Optional scopes, space-separated; portals whose tier lacks one still install.
    #[arg(long, env = "SPOKE_HUBSPOT_OPTIONAL_SCOPES", default_value = "")]
    pub hubspot_optional_scopes: String,
    /// HubSpot's API, for the token and CRM calls.
    #[arg(
        long,
        env = "SPOKE_HUBSPOT_API_BASE",
        default_value = InstallConfig::DEFAULT_API_BASE
    )]
    pub hubspot_api_base: String,
    /// HubSpot's app domain, where the authorize page lives.
    #[arg(
        long,
        env = "SPOKE_HUBSPOT_AUTH_BASE",
        default_value = InstallConfig::DEFAULT_AUTH_BASE
    )]
    pub hubspot_auth_base: String,
    /// The OAuth API version: `2026-03`, `2026-09` or `v3` (v1 sunsets on 2027-02-16).
    #[arg(
        long,
        env = "SPOKE_HUBSPOT_OAUTH_VERSION",
        default_value = InstallConfig::DEFAULT_OAUTH_VERSION
    )]
    pub hubspot_oauth_version: String,
    /// The CRM API version: `2026-03`, `2026-09` or `v3` (v3's objects are unsupported from
    /// September 2027, the v4 associations it calls from 2027-03-30).
    #[arg(
        long,
        env = "SPOKE_HUBSPOT_API_VERSION",
        default_value = InstallConfig::DEFAULT_API_VERSION
    )]
    pub hubspot_api_version: String,
    /// Where to send the browser after a successful install; a success page if unset.
    #[arg(long, env = "SPOKE_INSTALL_SUCCESS_URL")]
    pub install_success_url: Option<String>,
    /// Refresh access tokens this many seconds before they expire (±10% jitter).
    #[arg(
        long,
        env = "SPOKE_TOKEN_REFRESH_MARGIN",
        default_value_t = InstallConfig::DEFAULT_REFRESH_MARGIN_S
    )]
    pub token_refresh_margin: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Parses `1048576`, `512KiB` or `1MiB` into bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let value: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1024,
        "MiB" | "M" => 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use bytes, KiB or MiB)"
            ))
        }
    };
    value
        .checked_mul(factor)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn sizes_take_bytes_and_binary_suffixes() {
        assert_eq!(parse_size("1MiB"), Ok(1_048_576));
        assert_eq!(parse_size("512KiB"), Ok(524_288));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1GB").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The README's settings table (`| `SPOKE_X` | default | meaning |`), by variable.
    fn readme_settings() -> BTreeMap<String, String> {
        include_str!("../../../../README.md")
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let variable = cells.next()?.strip_prefix("`SPOKE_")?.strip_suffix('`')?;
                let default = cells.next()?.trim_matches('`');
                Some((format!("SPOKE_{variable}"), default.to_owned()))
            })
            .collect()
    }

    /// Every `spoke serve` setting is in the README's table, with the default the command
    /// line really has (a setting without one says so: `unset`, `required…`, `empty`).
    #[test]
    fn the_readme_lists_every_setting_with_its_default() {
        use clap::CommandFactory;
        let readme = readme_settings();
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("a serve command");
        let global = command.get_arguments();
        for arg in serve.get_arguments().chain(global) {
            let Some(variable) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
                continue;
            };
            let documented = readme
                .get(&variable)
                .unwrap_or_else(|| panic!("{variable} is not in the README's settings table"));
            let default: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            match default.as_slice() {
                [] => assert!(
                    ["unset", "required", "every type", "false"]
                        .iter()
                        .any(|word| documented.starts_with(word)),
                    "{variable}: the README says `{documented}`, the command line has no default"
                ),
                [value] if value.is_empty() => assert_eq!(documented, "empty", "{variable}"),
                // Sizes and counts may be written `1MiB`, `1000000`: compared as numbers.
                [value] => match value.parse::<usize>() {
                    Ok(number) => assert_eq!(
                        documented.parse().ok().or(parse_size(documented).ok()),
                        Some(number),
                        "{variable}: the README says `{documented}`, the command line `{value}`"
                    ),
                    Err(_) => assert_eq!(documented, value, "{variable}"),
                },
                more => panic!("{variable}: several defaults {more:?}"),
            }
        }
    }
}
