//! `spoke portals …`: list, show, uninstall and erase. Each prints plain text and never a
//! token.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::bail;
use hubspot::time::Clock;
use store::{Portal, PortalId, Store};

use super::iso;
use crate::app::token_service;
use crate::config::InstallConfig;
use crate::oauth::removal;

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
pub async fn show(store: &dyn Store, portal_id: PortalId) -> anyhow::Result<String> {
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
    clock: Clock,
    portal_id: PortalId,
) -> anyhow::Result<String> {
    let tokens = token_service(store.clone(), install, clock);
    removal::uninstall(store.as_ref(), &tokens, portal_id, "operator:cli").await?;
    Ok(format!(
        "portal {portal_id}: app uninstalled, tokens revoked and erased\n"
    ))
}

pub async fn erase(
    store: &dyn Store,
    clock: &Clock,
    portal_id: PortalId,
    confirmed: bool,
) -> anyhow::Result<String> {
    if !confirmed {
        bail!(
            "erasing portal {portal_id} removes its events, tokens and record for good: add --yes"
        );
    }
    removal::erase(store, portal_id, "operator:cli", clock.now_ms()).await?;
    Ok(format!("portal {portal_id}: erased\n"))
}
