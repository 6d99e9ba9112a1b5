//! The command line's settings turned into the configuration ([`crate::config`]): each
//! section checked once at start-up, a missing or bad setting named by its `SPOKE_*`
//! variable. Secrets come from the environment only (no flags, which process lists show)
//! and are read here.

use std::time::Duration;

use clap::CommandFactory;
use hubspot::oauth::{is_supported_version, OAuthConfig};
use hubspot::signature::Policy;
use hubspot::version::UnknownVersion;
use hubspot::ClientSecret;
use secrecy::SecretString;
use url::Url;

use super::{Cli, DatabaseArgs, HubSpotArgs, HydratorArgs, ServeArgs, SinkArgs, Switch};
use crate::config::{
    days, words, Config, ConfigError, DatabaseConfig, HttpLimits, HttpSinkConfig, HydratorConfig,
    InstallConfig, MonitorConfig, NatsSinkConfig, OperatorToken, PublicUrl, SecretUrl, SinkConfig,
    WebhookConfig,
};
use crate::monitor::levels::AlertLevels;
use crate::oauth::vault::Keyring;
use crate::workers::hydrator::properties::PropertySelection;
use crate::workers::hydrator::types::TypeSelection;
use crate::workers::limits::HUBSPOT_LIMIT;
use crate::workers::sinks::signing::SigningSecret;

const CLIENT_SECRET_VAR: &str = "SPOKE_HUBSPOT_CLIENT_SECRET";
const TOKEN_KEYS_VAR: &str = "SPOKE_TOKEN_KEYS";
const OPERATOR_TOKEN_VAR: &str = "SPOKE_OPERATOR_TOKEN";
const SINK_SECRET_VAR: &str = "SPOKE_SINK_HTTP_SECRET";
/// Variables with this prefix belong to the test harness, not to spoke.
const TEST_VAR_PREFIX: &str = "SPOKE_TEST_";

/// `spoke serve`'s configuration from its flags and the process environment.
pub fn serve(
    args: &ServeArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
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
    let install = install(&args.hubspot, &env)?;
    let (required, optional) = install
        .as_ref()
        .map(|i| (i.scopes.as_slice(), i.optional_scopes.as_slice()))
        .unwrap_or_default();
    let hydrator = hydrator(&args.hydrator, required, optional)?;
    Ok(Config {
        listen,
        role: args.role,
        public_url,
        client_secret: client_secret(&env)?,
        database: database(&args.database),
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
        sinks: sinks(&args.sinks, &env)?,
        monitor: monitor(args)?,
        table_counts_every: Config::DEFAULT_TABLE_COUNTS_EVERY,
        metrics_listen: args
            .metrics_listen
            .as_deref()
            .map(|text| {
                text.parse().map_err(|_| {
                    bad(
                        "SPOKE_METRICS_LISTEN",
                        format!("`{text}` is not an address such as 127.0.0.1:9100"),
                    )
                })
            })
            .transpose()?,
        http: HttpLimits {
            header_read: Duration::from_secs(args.http_header_timeout_seconds),
            connections: args.http_max_connections,
        },
    })
}

/// The database flags, for every command that opens the store.
pub fn database(args: &DatabaseArgs) -> DatabaseConfig {
    DatabaseConfig {
        url: SecretString::from(args.database_url.clone()),
        max_connections: args.database_max_connections,
    }
}

/// `None` without a client id; with one, the client secret and token keys are required.
pub fn install(
    args: &HubSpotArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<InstallConfig>, ConfigError> {
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
        .and_then(|spec| Keyring::parse(&spec).map_err(|e| bad(TOKEN_KEYS_VAR, e.to_string())))?;
    if !is_supported_version(&args.hubspot_oauth_version) {
        return Err(bad(
            "SPOKE_HUBSPOT_OAUTH_VERSION",
            "must be v3 or a dated version such as 2026-03",
        ));
    }
    let api_version = args
        .hubspot_api_version
        .parse()
        .map_err(|e: UnknownVersion| bad("SPOKE_HUBSPOT_API_VERSION", e.to_string()))?;
    for (variable, value) in [
        ("SPOKE_HUBSPOT_API_BASE", &args.hubspot_api_base),
        ("SPOKE_HUBSPOT_AUTH_BASE", &args.hubspot_auth_base),
    ] {
        Url::parse(value).map_err(|e| bad(variable, format!("`{value}` is not a URL: {e}")))?;
    }
    Ok(Some(InstallConfig {
        oauth: OAuthConfig {
            api_base: args.hubspot_api_base.trim_end_matches('/').to_owned(),
            auth_base: args.hubspot_auth_base.trim_end_matches('/').to_owned(),
            version: args.hubspot_oauth_version.clone(),
            client_id,
            client_secret,
        },
        api_version,
        scopes: words(&args.hubspot_scopes),
        optional_scopes: words(&args.hubspot_optional_scopes),
        keys,
        success_url: args.install_success_url.clone(),
        refresh_margin: Duration::from_secs(args.token_refresh_margin),
    }))
}

/// From the flags; an object type named explicitly must have its read scope among the
/// app's `required` or `optional` scopes (a pre-flight checklist item: scopes match what
/// the app reads).
fn hydrator(
    args: &HydratorArgs,
    required: &[String],
    optional: &[String],
) -> Result<HydratorConfig, ConfigError> {
    const VAR: &str = "SPOKE_HYDRATOR_OBJECTS";
    let mut config = HydratorConfig::for_scopes(required, optional);
    if let Some(names) = &args.hydrator_objects {
        config.objects = TypeSelection::parse(names).map_err(|problem| bad(VAR, problem))?;
        let scopes = [required, optional].concat();
        if let Some((object, scope)) = config.objects.unreadable_with(&scopes) {
            return Err(bad(
                "SPOKE_HUBSPOT_SCOPES",
                format!(
                    "{object} are hydrated ({VAR}) but their read scope `{scope}` is neither \
                     required nor optional"
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
    config.properties = PropertySelection::parse(&args.hydrator_properties)
        .map_err(|e| bad("SPOKE_HYDRATOR_PROPERTIES", e))?;
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
    if args.backfill_url_bytes < 1_000 {
        return Err(bad("SPOKE_BACKFILL_URL_BYTES", "must be at least 1000"));
    }
    config.list_url_bytes = args.backfill_url_bytes;
    config.sync = args.sync == Switch::On;
    if args.reconcile_every_hours == 0 {
        return Err(bad("SPOKE_RECONCILE_EVERY_HOURS", "must be at least 1"));
    }
    config.reconcile_every = Duration::from_secs(args.reconcile_every_hours * 3_600);
    config.cache_records = args.cache_records;
    config.cache_ttl = Duration::from_secs(args.cache_ttl_seconds);
    Ok(config)
}

/// The sinks: an HTTP endpoint (its secret from the environment) and NATS.
fn sinks(
    args: &SinkArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SinkConfig, ConfigError> {
    let http = args
        .sink_http_url
        .as_deref()
        .map(|text| {
            let url = SecretUrl::parse_http(text)
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
    Ok(SinkConfig {
        http,
        nats,
        max_attempts: args.sink_max_attempts.max(1),
    })
}

/// The monitor's section: levels in percent, the alert webhook.
fn monitor(args: &ServeArgs) -> Result<MonitorConfig, ConfigError> {
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
            SecretUrl::parse_http(text)
                .ok_or_else(|| bad("SPOKE_ALERT_WEBHOOK_URL", "must be an http or https URL"))
        })
        .transpose()?;
    Ok(MonitorConfig {
        off: args.monitor == Switch::Off,
        levels: AlertLevels {
            warning: args.alert_warning / 100.0,
            threshold: AlertLevels::HUBSPOT_THRESHOLD,
        },
        alert_webhook,
        ..MonitorConfig::default()
    })
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

fn bad(variable: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hubspot::crm::ObjectType;

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
        let config = serve(&args, with_secret).expect("valid");
        assert_eq!(
            config.public_url.to_string(),
            "https://hooks.example.com/spoke"
        );
        assert_eq!(
            config.public_url.join("/webhooks/hubspot?a=1"),
            "https://hooks.example.com/spoke/webhooks/hubspot?a=1"
        );
        assert_eq!(
            config.public_url.path_prefix(),
            "/spoke",
            "cookies live under it"
        );
        assert_eq!(PublicUrl::parse("http://h/").unwrap().path_prefix(), "");
        assert_eq!(config.webhooks.max_body, 1_048_576);
        assert!(!config.webhooks.signature_policy.accept_legacy);
    }

    #[test]
    fn the_command_line_defaults_are_the_sections_defaults() {
        let from_flags =
            serve(&serve_args(&["--public-url", "http://h"]), with_secret).expect("valid");
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
        let err = serve(&serve_args(&[]), with_secret).unwrap_err();
        assert_eq!(err.variable, "SPOKE_PUBLIC_URL");
        let err = serve(&serve_args(&["--public-url", "https://h"]), |_| None).unwrap_err();
        assert_eq!(err.variable, CLIENT_SECRET_VAR);
        let err = serve(&serve_args(&["--public-url", "ftp://h"]), with_secret).unwrap_err();
        assert_eq!(err.variable, "SPOKE_PUBLIC_URL");
        let err = serve(
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
        let err = install(&args.hubspot, &env).unwrap_err();
        assert_eq!(err.variable, CLIENT_SECRET_VAR);
    }

    #[test]
    fn the_install_flow_needs_token_keys_once_a_client_id_is_set() {
        let without =
            serve(&serve_args(&["--public-url", "https://h"]), with_secret).expect("valid");
        assert!(without.install.is_none());
        let args = serve_args(&["--public-url", "https://h", "--hubspot-client-id", "cid"]);
        let err = serve(&args, with_secret).unwrap_err();
        assert_eq!(err.variable, TOKEN_KEYS_VAR);
        let key = Keyring::generate_entry("k1");
        let env = |name: &str| match name {
            CLIENT_SECRET_VAR => Some("s3cr3t-value".to_owned()),
            TOKEN_KEYS_VAR => Some(key.clone()),
            _ => None,
        };
        let install = serve(&args, env).expect("valid").install.expect("on");
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
            serve(&v1, env).unwrap_err().variable,
            "SPOKE_HUBSPOT_OAUTH_VERSION"
        );
        assert!(
            !format!("{:?}", serve(&args, env).unwrap()).contains(key.split_once(':').unwrap().1)
        );
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
        let by_scopes = serve(&serve_args(&base), env).expect("valid");
        let hydrated = &by_scopes.hydrator.objects;
        assert!(hydrated.includes(ObjectType::CONTACTS) && hydrated.includes(ObjectType::CALLS));
        assert!(!hydrated.includes(ObjectType::DEALS) && !hydrated.every_custom());

        let mut deals = base.to_vec();
        deals.extend(["--hydrator-objects", "contacts deals"]);
        let err = serve(&serve_args(&deals), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HUBSPOT_SCOPES");
        assert!(err.problem.contains("crm.objects.deals.read"), "{err}");

        // A type of an optional scope is hydrated too, by default and when named; each
        // portal that did not grant the scope keeps its events unhandled.
        let mut optional = deals.clone();
        optional.extend([
            "--hubspot-optional-scopes",
            "crm.objects.deals.read tickets",
        ]);
        let with_optional = serve(&serve_args(&optional), env).expect("valid");
        assert_eq!(
            with_optional.hydrator.objects.listed(),
            [ObjectType::CONTACTS, ObjectType::DEALS]
        );
        optional.truncate(base.len());
        optional.extend(["--hubspot-optional-scopes", "tickets"]);
        let by_default = serve(&serve_args(&optional), env).expect("valid");
        assert!(by_default.hydrator.objects.includes(ObjectType::TICKETS));
        assert_eq!(by_default.hydrator.optional.listed(), [ObjectType::TICKETS]);

        let mut custom = optional.clone();
        custom.extend(["--hydrator-objects", "contacts custom"]);
        let err = serve(&serve_args(&custom), env).unwrap_err();
        assert!(err.problem.contains("crm.objects.custom.read"), "{err}");

        let mut typo = base.to_vec();
        typo.extend(["--hydrator-objects", "contact"]);
        let err = serve(&serve_args(&typo), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HYDRATOR_OBJECTS");

        let mut too_fast = base.to_vec();
        too_fast.extend(["--hydrator-rate-limit", "111"]);
        let err = serve(&serve_args(&too_fast), env).unwrap_err();
        assert_eq!(err.variable, "SPOKE_HYDRATOR_RATE_LIMIT");
    }

    #[test]
    fn the_operator_token_is_optional_long_and_never_shown() {
        let args = serve_args(&["--public-url", "https://h"]);
        assert!(serve(&args, with_secret).unwrap().operator_token.is_none());
        let env = |token: &'static str| {
            move |name: &str| match name {
                CLIENT_SECRET_VAR => Some("s3cr3t-value".to_owned()),
                OPERATOR_TOKEN_VAR => Some(token.to_owned()),
                _ => None,
            }
        };
        let err = serve(&args, env("short")).unwrap_err();
        assert_eq!(err.variable, OPERATOR_TOKEN_VAR);
        let config = serve(&args, env("an-operator-token-long-enough")).unwrap();
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
        let shown = format!("{:?}", serve(&args, with_secret).expect("valid"));
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
