//! The monitor's per-minute counts, on SQLite and PostgreSQL.

use rstest::rstest;
use spoke_store::testing::TestDb;
use spoke_store::{ApiCounts, DailyCalls, Engine, PortalId, Scope, WebhookCounts, MINUTES_PER_DAY};

fn webhooks(scope: Scope, minute: i64, attempts: i64, successes: i64) -> WebhookCounts {
    WebhookCounts {
        scope,
        minute,
        attempts,
        successes,
        unavailable: attempts - successes,
        latency_ms_sum: 10 * attempts,
        latency_ms_max: 10 + minute,
        first_events: 5 * attempts,
        first_deliveries: attempts,
        failed_first_events: 5 * (attempts - successes),
        revealed_retries: 1,
        ..WebhookCounts::default()
    }
}

fn api(scope: Scope, minute: i64, calls: i64, errors: i64) -> ApiCounts {
    ApiCounts {
        scope,
        minute,
        calls,
        errors,
        rate_limited: errors,
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn flushes_add_up_and_windows_sum_what_they_cover(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    // Two flushes (two instances, or two intervals) touch the same minute.
    store
        .add_counts(
            &[
                webhooks(Scope::Portal(PortalId(1)), 100, 4, 3),
                webhooks(Scope::Portal(PortalId(2)), 100, 2, 2),
            ],
            &[api(Scope::Portal(PortalId(1)), 100, 10, 1)],
            &[],
        )
        .await
        .unwrap();
    store
        .add_counts(
            &[
                webhooks(Scope::Portal(PortalId(1)), 100, 6, 6),
                webhooks(Scope::Portal(PortalId(1)), 101, 1, 0),
            ],
            &[api(Scope::Portal(PortalId(1)), 101, 5, 0)],
            &[],
        )
        .await
        .unwrap();
    store
        .add_counts(&[webhooks(Scope::Portal(PortalId(0)), 101, 3, 0)], &[], &[])
        .await
        .unwrap();
    // The app-wide rows sum what the writer gave every portal.
    store
        .add_counts(
            &[webhooks(Scope::App, 100, 16, 11)],
            &[api(Scope::App, 100, 15, 1)],
            &[],
        )
        .await
        .unwrap();

    let portal = store
        .webhook_totals(Scope::Portal(PortalId(1)), 100)
        .await
        .unwrap();
    assert_eq!(
        (portal.attempts, portal.successes, portal.unavailable),
        (11, 9, 2)
    );
    assert_eq!(
        (
            portal.first_events,
            portal.failed_first_events,
            portal.revealed_retries
        ),
        (55, 10, 3)
    );
    assert_eq!(portal.latency_ms_max, 111, "the most, not the sum");
    let recent = store
        .webhook_totals(Scope::Portal(PortalId(1)), 101)
        .await
        .unwrap();
    assert_eq!((recent.attempts, recent.successes), (1, 0));
    let all = store.webhook_totals(Scope::App, 0).await.unwrap();
    assert_eq!((all.scope, all.attempts), (Scope::App, 16));
    assert_eq!(store.api_totals(Scope::App, 0).await.unwrap().calls, 15);
    let none = store
        .webhook_totals(Scope::Portal(PortalId(9)), 0)
        .await
        .unwrap();
    assert_eq!((none.scope, none.attempts), (Scope::Portal(PortalId(9)), 0));

    let calls = store
        .api_totals(Scope::Portal(PortalId(1)), 0)
        .await
        .unwrap();
    assert_eq!((calls.calls, calls.errors, calls.rate_limited), (15, 1, 1));

    let by_portal = store.webhook_totals_by_portal(0).await.unwrap();
    let attempts: Vec<(Scope, i64)> = by_portal.iter().map(|c| (c.scope, c.attempts)).collect();
    assert_eq!(
        attempts,
        [
            (Scope::Portal(PortalId(1)), 11),
            (Scope::Portal(PortalId(2)), 2)
        ],
        "neither portal 0 nor the app-wide rows"
    );
    let api_by_portal = store.api_totals_by_portal(101).await.unwrap();
    assert_eq!(api_by_portal.len(), 1);
    assert_eq!(api_by_portal[0].calls, 5);

    let series = store
        .webhook_series(Scope::Portal(PortalId(1)), 0)
        .await
        .unwrap();
    let minutes: Vec<(i64, i64)> = series.iter().map(|c| (c.minute, c.attempts)).collect();
    assert_eq!(minutes, [(100, 10), (101, 1)]);
    assert_eq!(
        store
            .api_series(Scope::Portal(PortalId(1)), 101)
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        store.prune_counts(101).await.unwrap(),
        5,
        "minute 100's rows, the app-wide ones too"
    );
    assert_eq!(
        store
            .webhook_totals(Scope::Portal(PortalId(1)), 0)
            .await
            .unwrap()
            .attempts,
        1
    );
    assert_eq!(
        store.webhook_totals(Scope::App, 0).await.unwrap().attempts,
        0
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn old_minutes_roll_up_into_hours_and_sums_stay_the_same(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    // Minutes 120..=185 of portal 1: two hours' worth and a bit.
    let minutes: Vec<WebhookCounts> = (120..=185)
        .map(|m| webhooks(Scope::Portal(PortalId(1)), m, 2, 1))
        .collect();
    let calls: Vec<ApiCounts> = (120..=185)
        .map(|m| api(Scope::Portal(PortalId(1)), m, 3, 1))
        .collect();
    store.add_counts(&minutes, &calls, &[]).await.unwrap();
    let before = store
        .webhook_totals(Scope::Portal(PortalId(1)), 0)
        .await
        .unwrap();
    let calls_before = store
        .api_totals(Scope::Portal(PortalId(1)), 0)
        .await
        .unwrap();

    // Everything before minute 180 rolls up: hours 120 and 180's first minute stay.
    let rolled = store.roll_up_counts(180, 60).await.unwrap();
    assert_eq!(rolled, 2 * 59, "59 minute rows of hour 120 in each table");
    assert_eq!(
        store
            .webhook_totals(Scope::Portal(PortalId(1)), 0)
            .await
            .unwrap(),
        before
    );
    assert_eq!(
        store
            .api_totals(Scope::Portal(PortalId(1)), 0)
            .await
            .unwrap(),
        calls_before
    );
    let series = store
        .webhook_series(Scope::Portal(PortalId(1)), 0)
        .await
        .unwrap();
    let kept: Vec<(i64, i64)> = series.iter().map(|c| (c.minute, c.attempts)).collect();
    assert_eq!(kept[0], (120, 120), "hour 120: 60 minutes of 2 attempts");
    assert_eq!(kept.len(), 1 + 6, "then minutes 180..=185 as they were");
    assert_eq!(series[0].latency_ms_max, 10 + 179, "the hour's slowest");
    assert_eq!(
        store.roll_up_counts(180, 60).await.unwrap(),
        0,
        "nothing left to roll"
    );
}

fn daily(scope: Scope, day: i64, status: i32, calls: i64) -> DailyCalls {
    DailyCalls {
        scope,
        day,
        endpoint: "crm.batch_read".into(),
        status,
        calls,
    }
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn daily_calls_add_up_by_endpoint_and_status_and_are_pruned_by_day(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let flush = |rows: Vec<DailyCalls>| {
        let store = store.clone();
        async move { store.add_counts(&[], &[], &rows).await.unwrap() }
    };
    flush(vec![
        daily(Scope::Portal(PortalId(1)), 20, 200, 5),
        daily(Scope::Portal(PortalId(1)), 20, 429, 1),
        daily(Scope::Portal(PortalId(2)), 20, 200, 9),
    ])
    .await;
    flush(vec![
        daily(Scope::Portal(PortalId(1)), 20, 200, 3),
        daily(Scope::Portal(PortalId(1)), 21, 200, 2),
        daily(Scope::App, 20, 200, 17),
    ])
    .await;

    let rows = |portal, from| {
        let store = store.clone();
        async move {
            store
                .daily_calls(portal, from)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.day, c.endpoint, c.status, c.calls))
                .collect::<Vec<_>>()
        }
    };
    let batch = || "crm.batch_read".to_owned();
    assert_eq!(
        rows(Scope::Portal(PortalId(1)), 0).await,
        [
            (20, batch(), 200, 8),
            (20, batch(), 429, 1),
            (21, batch(), 200, 2)
        ]
    );
    assert_eq!(
        rows(Scope::Portal(PortalId(1)), 21).await,
        [(21, batch(), 200, 2)]
    );
    assert_eq!(rows(Scope::App, 0).await, [(20, batch(), 200, 17)]);

    // Pruning before day 21's first minute takes day 20's rows of every portal.
    assert_eq!(store.prune_counts(21 * MINUTES_PER_DAY).await.unwrap(), 4);
    assert_eq!(
        rows(Scope::Portal(PortalId(1)), 0).await,
        [(21, batch(), 200, 2)]
    );
}

#[rstest]
#[case::sqlite(Engine::Sqlite)]
#[case::postgres(Engine::Postgres)]
#[tokio::test]
async fn an_alert_change_is_recorded_once_so_one_caller_announces_it(#[case] engine: Engine) {
    let db = TestDb::new(engine).await;
    let store = db.store().await;
    let record = |level: Option<&'static str>, at: i64| {
        let store = store.clone();
        async move {
            store
                .record_alert(Scope::Portal(PortalId(7)), "webhook_success", level, at)
                .await
                .unwrap()
        }
    };
    assert!(record(Some("warning"), 1).await, "raised");
    assert!(
        !record(Some("warning"), 2).await,
        "raised again by another instance"
    );
    assert!(record(Some("critical"), 3).await, "worse");
    assert!(record(None, 4).await, "resolved");
    assert!(!record(None, 5).await, "resolved again");
    assert!(
        store
            .record_alert(Scope::App, "webhook_success", Some("warning"), 6)
            .await
            .unwrap(),
        "the app-wide alert is apart from the portal's"
    );
}
