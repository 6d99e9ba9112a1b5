//! The operator commands besides `serve`: `portals …` and `keys …`. Each prints plain
//! text; none prints a token, a secret or a key it did not just generate.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{bail, Context};
use store::{Portal, Store};

use crate::app::token_service;
use crate::config::InstallConfig;
use crate::install;
use crate::tokens::now_ms;
use crate::vault::Keyring;

/// How many tokens `keys rotate` re-seals per round trip.
const ROTATE_BATCH: u32 = 100;

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

fn expiry(portal: &Portal) -> String {
    portal.access_expires_at.map_or_else(|| "-".to_owned(), iso)
}

/// One line per portal: id, state, token expiry, scopes.
pub async fn list(store: &dyn Store) -> anyhow::Result<String> {
    let mut out = String::from("PORTAL\tSTATE\tTOKEN EXPIRES\tSCOPES\n");
    for p in store.portals().await? {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            p.portal_id,
            p.state.as_str(),
            expiry(&p),
            p.scopes.join(" ")
        )?;
    }
    Ok(out)
}

/// A portal's details and audit trail.
pub async fn show(store: &dyn Store, portal_id: i64) -> anyhow::Result<String> {
    let Some(p) = store.portal(portal_id).await? else {
        bail!("portal {portal_id} is not known to spoke")
    };
    let mut out = String::new();
    writeln!(out, "portal:          {}", p.portal_id)?;
    writeln!(out, "state:           {}", p.state.as_str())?;
    if let Some(reason) = &p.reauth_reason {
        writeln!(out, "reauth reason:   {reason}")?;
    }
    writeln!(
        out,
        "hub domain:      {}",
        p.hub_domain.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "app id:          {}",
        p.app_id.map_or("-".into(), |a| a.to_string())
    )?;
    writeln!(
        out,
        "installed by:    {}",
        p.installer_email.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "installed at:    {}", iso(p.installed_at))?;
    writeln!(out, "token expires:   {}", expiry(&p))?;
    writeln!(out, "scopes:          {}", p.scopes.join(" "))?;
    writeln!(out, "audit:")?;
    for entry in store.audit_trail(portal_id).await? {
        writeln!(
            out,
            "  {}  {:<12} {:<24} {}",
            iso(entry.at),
            entry.action,
            entry.actor,
            entry.detail
        )?;
    }
    Ok(out)
}

pub async fn uninstall(
    store: Arc<dyn Store>,
    install: &InstallConfig,
    portal_id: i64,
) -> anyhow::Result<String> {
    let tokens = token_service(store.clone(), install);
    install::uninstall(store.as_ref(), &tokens, portal_id, "operator:cli").await?;
    Ok(format!(
        "portal {portal_id}: app uninstalled, tokens revoked and erased\n"
    ))
}

pub async fn erase(store: &dyn Store, portal_id: i64, confirmed: bool) -> anyhow::Result<String> {
    if !confirmed {
        bail!(
            "erasing portal {portal_id} removes its events, tokens and record for good: add --yes"
        );
    }
    install::erase(store, portal_id, "operator:cli").await?;
    Ok(format!("portal {portal_id}: erased\n"))
}

/// Re-seals every token not yet under the current key; safe to run again, and alongside
/// running instances (a token refreshed meanwhile is already under the current key).
pub async fn rotate(store: &dyn Store, keys: &Keyring) -> anyhow::Result<String> {
    let mut resealed = 0;
    loop {
        let batch = store
            .sealed_with_other_keys(keys.current_id(), ROTATE_BATCH)
            .await?;
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for (portal, sealed) in batch {
            let fresh = keys
                .reseal(portal, &sealed)
                .with_context(|| format!("portal {portal}"))?;
            if store.reseal(portal, &sealed.key_id, &fresh).await? {
                resealed += 1;
            }
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok(format!(
        "{resealed} portals' tokens re-sealed under key {} at {}\n",
        keys.current_id(),
        iso(now_ms())
    ))
}
