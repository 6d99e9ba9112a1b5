//! `spoke demo`, the README's first command, run as a newcomer runs it: its own binary,
//! a temporary database, portals installed through the simulator's OAuth flow.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sim::objects::{CARS, SIMULATED};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::json_of;

const TOKEN: &str = "demo-operator-token-for-the-test";

/// Every type the simulator streams is hydrated: no event is left unhandled or waiting
/// in quarantine, and the mirror holds records of all six types.
#[tokio::test]
async fn the_demo_hydrates_every_type_it_streams() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args([
            "demo",
            "--sim-listen",
            "127.0.0.1:0",
            "--activity-rate",
            "200",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SPOKE_OPERATOR_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spoke demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let database = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("database") {
                return url.trim().to_owned();
            }
        }
        panic!("the demo ended before naming its database");
    })
    .await
    .expect("the demo is ready within a minute");

    let stats = || {
        json_of(
            reqwest::Client::new()
                .get(format!("http://127.0.0.1:{port}/api/v1/stats"))
                .bearer_auth(TOKEN),
        )
    };
    let mut seen: Value = Value::Null;
    for _ in 0..300 {
        seen = stats().await;
        if seen["inbox"]["done"].as_i64().unwrap_or(0) >= 600 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen["inbox"]["done"].as_i64().unwrap_or(0) >= 600, "{seen}");
    assert_eq!(seen["inbox"].get("unhandled"), None, "{seen}");
    assert_eq!(seen["quarantined"], 0, "{seen}");

    let mut db = sqlx::SqliteConnection::connect(&format!("{database}?mode=ro"))
        .await
        .unwrap();
    let types: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT object_type FROM records ORDER BY object_type")
            .fetch_all(&mut db)
            .await
            .unwrap();
    // Every type the simulator streams: the standard ones, engagements and quotes, and the
    // portals' custom object.
    let mut streamed: Vec<String> = SIMULATED
        .iter()
        .map(|o| o.path_name().into_owned())
        .collect();
    streamed.sort();
    assert_eq!(types, streamed);
    assert!(types.contains(&CARS.type_id().into_owned()));
    let associations: i64 = sqlx::query_scalar("SELECT count(*) FROM associations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        associations > 0,
        "the streamed association changes are mirrored"
    );
    demo.kill().await.unwrap();
}
