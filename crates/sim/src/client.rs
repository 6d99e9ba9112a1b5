//! A typed client for the simulator's own API under `/_sim/`: what tests, benchmarks and
//! the demo do to "HubSpot" (install decisions, tokens, record changes, activity, faults,
//! delivery settings) and read from it (the ledgers), so no caller writes these URLs by
//! hand. Ledgers come back as JSON: tests compare their figures with spoke's own.

use anyhow::{bail, Context};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admin::Activity;
use crate::dispatcher::Target;
use crate::oauth::AutoConsent;

/// The simulator at one base URL.
#[derive(Debug, Clone)]
pub struct SimClient {
    http: reqwest::Client,
    base: String,
}

/// What `POST /_sim/activity` made.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityAnswer {
    /// Webhook events queued.
    pub events: usize,
    /// Each queued event, as (portal, event id).
    pub event_ids: Vec<(i64, i64)>,
    /// The seed that chose the changes: the same seed on the same world makes them again.
    pub seed: u64,
}

impl SimClient {
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// `method` on `/_sim/{path}` with an optional JSON body; the JSON answer, which must
    /// be a success (anything else is an error naming the status and the body).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> anyhow::Result<T> {
        let url = format!("{}/_sim/{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("{method} {url}: {status} {text}");
        }
        response
            .json()
            .await
            .with_context(|| format!("{method} {url}: not the JSON expected"))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(Method::GET, path, None::<&Value>).await
    }

    /// Every portal of the world (`GET /_sim/portals`, a contract tools rely on).
    pub async fn portals(&self) -> anyhow::Result<Value> {
        self.get("portals").await
    }

    pub async fn portal(&self, portal: i64) -> anyhow::Result<Value> {
        self.get(&format!("portals/{portal}")).await
    }

    /// Changes a portal: `{"installed": bool, "limits": {...}}`, either or both.
    pub async fn update_portal(&self, portal: i64, change: &Value) -> anyhow::Result<Value> {
        self.call(Method::PATCH, &format!("portals/{portal}"), Some(change))
            .await
    }

    /// A token pair for an installed portal, as the token endpoint would issue it
    /// (`POST /_sim/portals/{id}/tokens`, a contract tools rely on).
    pub async fn issue_tokens(&self, portal: i64) -> anyhow::Result<Value> {
        self.call(
            Method::POST,
            &format!("portals/{portal}/tokens"),
            None::<&Value>,
        )
        .await
    }

    /// Revokes the portal's refresh tokens, as when a user removes the app's access.
    pub async fn revoke(&self, portal: i64) -> anyhow::Result<Value> {
        self.call(
            Method::POST,
            &format!("portals/{portal}/revoke"),
            None::<&Value>,
        )
        .await
    }

    /// A record change: `method` on `/_sim/portals/{portal}/objects/{path}` (`contacts`,
    /// `contacts/5`, `contacts/5/merge`, …); the answer names the record and the events.
    pub async fn objects(
        &self,
        method: Method,
        portal: i64,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        self.call(
            method,
            &format!("portals/{portal}/objects/{path}"),
            Some(body),
        )
        .await
    }

    /// Random record changes, chosen by the activity's seed.
    pub async fn activity(&self, activity: &Activity) -> anyhow::Result<ActivityAnswer> {
        self.call(Method::POST, "activity", Some(activity)).await
    }

    /// The CRM API's ledger: each portal's calls by endpoint and status, `429`s, records.
    pub async fn crm_ledger(&self) -> anyhow::Result<Value> {
        self.get("crm/ledger").await
    }

    /// What HubSpot saw of its webhook deliveries, per portal, and what is still queued.
    pub async fn webhook_ledger(&self) -> anyhow::Result<Value> {
        self.get("webhooks/ledger").await
    }

    /// Where deliveries go, and how many at once.
    pub async fn set_target(&self, target: &Target) -> anyhow::Result<Target> {
        self.call(Method::PUT, "webhooks/target", Some(target))
            .await
    }

    /// Faults to inject (`{}` clears them): error rates, latency, `429` bursts, …
    pub async fn set_faults(&self, faults: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, "faults", Some(faults)).await
    }

    /// The decision authorize applies at once, without showing its consent page.
    pub async fn consent(&self, portal: i64, approve: bool) -> anyhow::Result<()> {
        let decision = AutoConsent { portal, approve };
        let _: Value = self
            .call(Method::PUT, "oauth/consent", Some(&decision))
            .await?;
        Ok(())
    }

    /// How many refresh-token grants the token endpoint took.
    pub async fn refresh_calls(&self) -> anyhow::Result<u64> {
        let stats: Value = self.get("oauth/stats").await?;
        stats["refreshCalls"]
            .as_u64()
            .context("oauth/stats without refreshCalls")
    }
}
