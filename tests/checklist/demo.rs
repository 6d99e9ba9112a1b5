//! `spoke demo`, the README's first command: portals installed through OAuth, signed
//! webhooks flowing and records hydrated, from one command.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

#[tokio::test]
async fn spoke_demo_installs_portals_streams_webhooks_and_hydrates_records() {
    let mut demo = spoke_command("sqlite://unused", &[])
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--sim-listen",
            "127.0.0.1:0",
            "--portals",
            "3",
            "--activity-rate",
            "50",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn spoke demo");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let ready = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("demo starts")
            .unwrap()
            .expect("demo runs");
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "demo ready" {
                break event;
            }
        }
    };
    let (progress, mut progress_lines) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                if event["message"] == "hydration progress" {
                    let _ = progress.send(event);
                }
            }
        }
    });
    assert_eq!(ready["portals"], 3);
    let (sim_url, database_url) = (
        ready["simulator_url"].as_str().unwrap(),
        ready["database_url"].as_str().unwrap(),
    );

    let hubspot = sim::client::SimClient::new(sim_url);
    let started = Instant::now();
    loop {
        let ledger = hubspot.webhook_ledger().await.unwrap();
        let portals = ledger["portals"].as_object().unwrap();
        let delivered: u64 = portals
            .values()
            .map(|p| p["eventsDelivered"].as_u64().unwrap())
            .sum();
        if portals.len() == 3 && delivered >= 30 {
            assert!(
                portals.values().all(|p| p["successRate"] == 1.0),
                "{ledger}"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "webhooks are not flowing: {ledger}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let hydrated = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), progress_lines.recv())
            .await
            .expect("a progress line every few seconds")
            .expect("the demo runs");
        if event["records"].as_i64().unwrap() > 0 {
            break event;
        }
    };
    assert!(hydrated["hydrated"].as_i64().unwrap() > 0, "{hydrated}");
    assert_eq!(hydrated["dead"], 0, "{hydrated}");
    assert_eq!(
        hydrated["quarantined"], 0,
        "every portal is installed: {hydrated}"
    );
    // The monitor's line: every delivery answered, as the simulator's ledger says too.
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), progress_lines.recv())
            .await
            .expect("a progress line every few seconds")
            .expect("the demo runs");
        if let Some(rate) = event["webhook_success_pct"].as_f64() {
            assert_eq!(rate, 100.0, "{event}");
            break;
        }
    }

    let listed = spoke_command(database_url, &[])
        .args(["portals", "list"])
        .output()
        .await
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.contains("\tinstalled\t"))
            .count(),
        3,
        "{listed}"
    );
}
