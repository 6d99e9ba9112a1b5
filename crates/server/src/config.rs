//! `spoke serve`'s settings, parsed and checked once at start-up. A missing or bad setting
//! stops start-up with a message that names its `SPOKE_*` variable.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::CommandFactory;
use hubspot::oauth::{is_supported_version, OAuthConfig};
use hubspot::signature::{ClientSecret, Policy};
use secrecy::SecretString;
use url::Url;

use crate::cli::{Cli, DatabaseArgs, HubSpotArgs, ServeArgs};
use crate::vault::Keyring;

/// Secrets come from the environment only (no flags) and are read here.
const CLIENT_SECRET_VAR: &str = "SPOKE_HUBSPOT_CLIENT_SECRET";
const TOKEN_KEYS_VAR: &str = "SPOKE_TOKEN_KEYS";
/// Variables with this prefix belong to the test harness, not to spoke.
const TEST_VAR_PREFIX: &str = "SPOKE_TEST_";

/// Everything `spoke serve` needs, typed.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    /// The URL HubSpot calls, without a trailing slash; the request path is appended to it
    /// to form the URI that signatures v2 and v3 cover (reference §7.2).
    pub public_url: String,
    pub client_secret: ClientSecret,
    pub webhook_max_body: usize,
    pub signature_policy: Policy,
    pub inbox_max_backlog: u64,
    /// The install flow and token vault; `None` when no client id is configured.
    pub install: Option<InstallConfig>,
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

#[derive(Clone)]
pub struct DatabaseConfig {
    /// May hold a password: never printed.
    pub url: SecretString,
    pub max_connections: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &"[redacted]")
            .field("public_url", &self.public_url)
            .field("client_secret", &self.client_secret)
            .field("webhook_max_body", &self.webhook_max_body)
            .field("signature_policy", &self.signature_policy)
            .field("inbox_max_backlog", &self.inbox_max_backlog)
            .field("install", &self.install)
            .finish()
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
            .and_then(normalise_public_url)?;
        let client_secret = env(CLIENT_SECRET_VAR)
            .filter(|s| !s.is_empty())
            .map(ClientSecret::new)
            .ok_or_else(|| {
                bad(
                    CLIENT_SECRET_VAR,
                    "required: the app's client secret, which signs webhooks",
                )
            })?;
        Ok(Self {
            listen,
            database: DatabaseConfig::from_args(&args.database),
            public_url,
            client_secret,
            webhook_max_body: args.webhook_max_body,
            signature_policy: Policy {
                accept_legacy: args.webhook_legacy_signatures,
            },
            inbox_max_backlog: args.inbox_max_backlog,
            install: InstallConfig::from_args(&args.hubspot, &env)?,
        })
    }
}

impl InstallConfig {
    /// `None` without a client id; with one, the client secret and token keys are required.
    pub fn from_args(
        args: &HubSpotArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(client_id) = args.hubspot_client_id.clone().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let client_secret = env(CLIENT_SECRET_VAR).unwrap_or_default();
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
        let words = |text: &str| {
            text.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        Ok(Some(Self {
            oauth: OAuthConfig {
                api_base: args.hubspot_api_base.trim_end_matches('/').to_owned(),
                auth_base: args.hubspot_auth_base.trim_end_matches('/').to_owned(),
                version: args.hubspot_oauth_version.clone(),
                client_id,
                client_secret: SecretString::from(client_secret),
            },
            scopes: words(&args.hubspot_scopes),
            optional_scopes: words(&args.hubspot_optional_scopes),
            keys,
            success_url: args.install_success_url.clone(),
            refresh_margin: Duration::from_secs(args.token_refresh_margin),
        }))
    }
}

/// The token keys alone, for `spoke keys rotate`.
pub fn token_keys(env: impl Fn(&str) -> Option<String>) -> Result<Keyring, ConfigError> {
    let spec = env(TOKEN_KEYS_VAR)
        .ok_or_else(|| bad(TOKEN_KEYS_VAR, "required: the keys tokens are sealed with"))?;
    Keyring::parse(&spec).map_err(|e| bad(TOKEN_KEYS_VAR, e.to_string()))
}

impl DatabaseConfig {
    pub fn from_args(args: &DatabaseArgs) -> Self {
        Self {
            url: SecretString::from(args.database_url.clone()),
            max_connections: args.database_max_connections,
        }
    }
}

/// Scheme and host (and an optional path prefix), no query, no trailing slash.
fn normalise_public_url(text: &str) -> Result<String, ConfigError> {
    const VAR: &str = "SPOKE_PUBLIC_URL";
    let url = Url::parse(text).map_err(|e| bad(VAR, format!("`{text}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(VAR, "must be an http or https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad(
            VAR,
            "must not contain a query, fragment or credentials",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Refuses `SPOKE_*` variables that no setting reads, so a typo such as
/// `SPOKE_PUBLC_URL` fails loudly instead of silently using a default.
pub fn check_unknown_variables(vars: impl Iterator<Item = String>) -> Result<(), ConfigError> {
    let mut known: Vec<String> = vec![CLIENT_SECRET_VAR.to_owned(), TOKEN_KEYS_VAR.to_owned()];
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
        assert_eq!(config.public_url, "https://hooks.example.com/spoke");
        assert_eq!(config.webhook_max_body, 1_048_576);
        assert!(!config.signature_policy.accept_legacy);
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
