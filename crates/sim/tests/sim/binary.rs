//! `spoke-sim serve` on its own: starts, serves portals and tokens, answers the CRM API.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::Fetch;

#[tokio::test]
async fn spoke_sim_serve_runs_alone() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spoke-sim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--portals",
            "3",
            "--records",
            "5",
        ])
        .env("SPOKE_SIM_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn spoke-sim");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("starts")
        .unwrap()
        .unwrap();
    let base = line
        .strip_prefix("spoke-sim listening on ")
        .expect("announces its address")
        .to_owned();

    let http = reqwest::Client::new();
    let hubspot = spoke_sim::client::SimClient::new(&base);
    let portals: Vec<Value> = serde_json::from_value(hubspot.portals().await.unwrap()).unwrap();
    assert_eq!(portals.len(), 3);
    let portal = portals[0]["portalId"].as_i64().unwrap();
    let pair = hubspot.issue_tokens(portal).await.unwrap();
    assert_eq!(pair["hub_id"], portal);
    assert_eq!(pair["expires_in"], 1800);
    let page: Value = http
        .get(format!("{base}/crm/v3/objects/contacts"))
        .bearer_auth(pair["access_token"].as_str().unwrap())
        .fetch_json()
        .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 5);
}
