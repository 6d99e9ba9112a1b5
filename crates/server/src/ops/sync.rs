//! Where a portal's sync stands, for the admin API (`GET /api/v1/portals/{id}/sync`), the
//! dashboard and `spoke sync status`: its backfill's progress and the drift report; and
//! asking for a backfill or a reconciliation, which any running spoke's workers then do
//! (`spoke sync backfill|reconcile`, `POST /api/v1/portals/{id}/backfill|reconcile`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{bail, Context};
use hubspot::crm::ObjectType;
use serde::Serialize;
use store::{Backfill, BackfillType, PortalId, ReconciledType, Requested, Store, StoreError};
use utoipa::ToSchema;

use crate::timestamp::Timestamp;

/// A portal's sync: its latest backfill and what its last reconciliation found.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// `null` if the portal never had one (it installed before spoke backfilled).
    pub backfill: Option<BackfillReport>,
    /// `null` until its first reconciliation has run.
    pub reconciliation: Option<ReconciliationReport>,
}

/// The drift report: what each type's last reconciliation found and repaired.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationReport {
    /// When the last run finished.
    pub last_run: Timestamp,
    pub drift: BTreeMap<String, TypeDrift>,
}

/// One type's last reconciliation. Anything above zero means notifications were lost.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeDrift {
    /// In HubSpot, not in the mirror.
    pub missing: i64,
    /// In the mirror at an older version than HubSpot's.
    pub stale: i64,
    /// In the mirror, deleted in HubSpot with no notification.
    pub deleted_unannounced: i64,
    /// Records written or marked deleted to repair them.
    pub repaired: i64,
    /// Why the type could not be compared, if it could not.
    pub error: Option<String>,
    pub ran_at: Timestamp,
    /// How long the run of this type took.
    pub seconds: f64,
    /// The next run compares records modified since this instant.
    pub watermark: Timestamp,
}

impl ReconciliationReport {
    fn new(types: &[ReconciledType]) -> Option<Self> {
        let last_run = types.iter().map(|t| t.finished_at).max()?;
        let drift = types
            .iter()
            .map(|t| {
                let drift = TypeDrift {
                    missing: t.missing,
                    stale: t.stale,
                    deleted_unannounced: t.deleted_unannounced,
                    repaired: t.repaired,
                    error: t.error.clone(),
                    ran_at: Timestamp(t.started_at),
                    seconds: (t.finished_at - t.started_at) as f64 / 1_000.0,
                    watermark: Timestamp(t.watermark),
                };
                (t.object_type.clone(), drift)
            })
            .collect();
        Some(Self {
            last_run: Timestamp(last_run),
            drift,
        })
    }
}

/// A backfill and each type's progress.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillReport {
    /// `pending` (no worker has begun it), `running` or `finished`.
    pub state: &'static str,
    pub requested_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The one type asked for; `null`: every hydrated type.
    pub only_type: Option<String>,
    /// Records read a second since it began, over every type.
    pub records_per_second: Option<f64>,
    /// At that rate, until every type is read (when HubSpot's counts are known).
    pub seconds_left: Option<f64>,
    /// Each type's progress, by the mirror's name for it.
    pub objects: BTreeMap<String, BackfillProgress>,
}

/// One type's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillProgress {
    /// Records read and written (a record the mirror held newer counts as read).
    pub read: i64,
    /// HubSpot's count of the type's records, when known.
    pub total: Option<i64>,
    pub done: bool,
    /// Why the type could not be read, if it could not.
    pub error: Option<String>,
    pub updated_at: Timestamp,
}

impl BackfillReport {
    pub fn new(backfill: &Backfill, types: &[BackfillType], now_ms: i64) -> Self {
        let state = match (backfill.started_at, backfill.finished_at) {
            (_, Some(_)) => "finished",
            (Some(_), None) => "running",
            (None, None) => "pending",
        };
        let read: i64 = types.iter().map(|t| t.read).sum();
        let until = backfill.finished_at.unwrap_or(now_ms);
        let records_per_second = backfill
            .started_at
            .map(|started| (until - started) as f64 / 1_000.0)
            .filter(|seconds| *seconds > 0.0)
            .map(|seconds| read as f64 / seconds);
        let left: Option<i64> = types
            .iter()
            .filter(|t| t.done_at.is_none())
            .map(|t| t.total.map(|total| (total - t.read).max(0)))
            .sum();
        let seconds_left = match (state, left, records_per_second) {
            ("finished", _, _) => Some(0.0),
            (_, Some(left), Some(rate)) if rate > 0.0 => Some(left as f64 / rate),
            _ => None,
        };
        let objects = types
            .iter()
            .map(|t| {
                let progress = BackfillProgress {
                    read: t.read,
                    total: t.total,
                    done: t.done_at.is_some(),
                    error: t.error.clone(),
                    updated_at: Timestamp(t.updated_at),
                };
                (t.object_type.clone(), progress)
            })
            .collect();
        Self {
            state,
            requested_at: Timestamp(backfill.requested_at),
            started_at: backfill.started_at.map(Timestamp),
            finished_at: backfill.finished_at.map(Timestamp),
            only_type: backfill.only_type.clone(),
            records_per_second,
            seconds_left,
            objects,
        }
    }
}

/// A portal's sync; `None` for a portal spoke does not know.
pub async fn report(
    store: &dyn Store,
    portal: PortalId,
    now_ms: i64,
) -> Result<Option<SyncReport>, StoreError> {
    if store.portal(portal).await?.is_none() {
        return Ok(None);
    }
    let backfill = store
        .backfill(portal)
        .await?
        .map(|(backfill, types)| BackfillReport::new(&backfill, &types, now_ms));
    let reconciliation = ReconciliationReport::new(&store.reconciled_types(portal).await?);
    Ok(Some(SyncReport {
        backfill,
        reconciliation,
    }))
}

/// Asks for a backfill of the portal's hydrated types, or of `only_type` (a path name or
/// type id, stored as the mirror names it).
pub async fn request_backfill(
    store: &dyn Store,
    portal: PortalId,
    only_type: Option<&str>,
    now_ms: i64,
) -> Result<Requested, RequestError> {
    let only = match only_type {
        Some(name) => Some(
            ObjectType::from_path(name)
                .ok_or(RequestError::UnknownType)?
                .path_name()
                .into_owned(),
        ),
        None => None,
    };
    match store
        .request_backfill(portal, only.as_deref(), now_ms)
        .await
    {
        Err(StoreError::NotFound) => Err(RequestError::UnknownPortal),
        other => Ok(other?),
    }
}

/// Makes the portal's reconciliation due now.
pub async fn request_reconciliation(
    store: &dyn Store,
    portal: PortalId,
    now_ms: i64,
) -> Result<Requested, RequestError> {
    match store.request_reconciliation(portal, now_ms).await {
        Err(StoreError::NotFound) => Err(RequestError::UnknownPortal),
        other => Ok(other?),
    }
}

/// Why a backfill or a reconciliation was not asked for.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("spoke does not know this portal")]
    UnknownPortal,
    #[error("not an object type such as contacts, 0-3 or 2-123")]
    UnknownType,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `spoke sync status`: the report as text.
pub async fn status(store: &dyn Store, portal: PortalId, now_ms: i64) -> anyhow::Result<String> {
    let Some(report) = report(store, portal, now_ms).await? else {
        bail!("spoke does not know portal {portal}");
    };
    let mut out = String::new();
    match &report.reconciliation {
        None => writeln!(out, "reconciliation:  none yet")?,
        Some(reconciliation) => {
            writeln!(
                out,
                "reconciled at:   {}",
                reconciliation.last_run.rfc3339()
            )?;
            for (object, d) in &reconciliation.drift {
                write!(
                    out,
                    "  {object:<16} missing {} stale {} deleted unannounced {} repaired {}",
                    d.missing, d.stale, d.deleted_unannounced, d.repaired
                )?;
                match &d.error {
                    Some(error) => writeln!(out, "  not compared: {error}")?,
                    None => writeln!(out)?,
                }
            }
        }
    }
    let Some(backfill) = report.backfill else {
        writeln!(out, "backfill:        none yet")?;
        return Ok(out);
    };
    writeln!(out, "backfill:        {}", backfill.state)?;
    writeln!(out, "requested at:    {}", backfill.requested_at.rfc3339())?;
    if let Some(rate) = backfill.records_per_second {
        writeln!(out, "records/s:       {rate:.0}")?;
    }
    if let Some(left) = backfill.seconds_left {
        writeln!(out, "time left:       {left:.0} s")?;
    }
    for (object, progress) in &backfill.objects {
        let state = match (&progress.error, progress.done) {
            (Some(error), _) => format!("not read: {error}"),
            (None, true) => "done".to_owned(),
            (None, false) => "reading".to_owned(),
        };
        let of = progress
            .total
            .map_or_else(String::new, |t| format!(" of {t}"));
        writeln!(out, "  {object:<16} {:>9} read{of}  {state}", progress.read)?;
    }
    Ok(out)
}

/// `spoke sync reconcile`: makes one due now and says what happened.
pub async fn reconcile(store: &dyn Store, portal: PortalId, now_ms: i64) -> anyhow::Result<String> {
    let requested = request_reconciliation(store, portal, now_ms)
        .await
        .with_context(|| format!("portal {portal}"))?;
    Ok(match requested {
        Requested::Started => format!(
            "portal {portal}: reconciliation due now; a running spoke runs it (spoke sync status --portal {portal})\n"
        ),
        Requested::AlreadyRunning => format!("portal {portal}: a reconciliation is running; it goes on\n"),
    })
}

/// `spoke sync backfill`: asks for one and says what happened.
pub async fn backfill(
    store: &dyn Store,
    portal: PortalId,
    only_type: Option<&str>,
    now_ms: i64,
) -> anyhow::Result<String> {
    let requested = request_backfill(store, portal, only_type, now_ms)
        .await
        .with_context(|| format!("portal {portal}"))?;
    Ok(match requested {
        Requested::Started => format!(
            "portal {portal}: backfill requested; a running spoke reads it (spoke sync status --portal {portal})\n"
        ),
        Requested::AlreadyRunning => {
            format!("portal {portal}: a backfill is already pending or running; it goes on\n")
        }
    })
}

/// Shows the portal's backfill as progress bars, one a type, until it finishes (the
/// command's Ctrl-C stops watching; the backfill goes on in the spoke that runs it).
pub async fn watch(
    store: &dyn Store,
    portal: PortalId,
    clock: &hubspot::time::Clock,
) -> anyhow::Result<String> {
    use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>16} {bar:30} {pos:>9}/{len:9} {msg}")
        .expect("a valid template");
    let counting = ProgressStyle::with_template("{prefix:>16} {spinner} {pos:>9} read {msg}")
        .expect("a valid template");
    let mut by_type: BTreeMap<String, ProgressBar> = BTreeMap::new();
    loop {
        let Some(report) = report(store, portal, clock.now_ms()).await? else {
            bail!("spoke does not know portal {portal}");
        };
        let Some(backfill) = report.backfill else {
            bail!("portal {portal} has no backfill");
        };
        for (object, progress) in &backfill.objects {
            let bar = by_type.entry(object.clone()).or_insert_with(|| {
                let bar = bars.add(ProgressBar::no_length());
                bar.set_prefix(object.clone());
                bar
            });
            match progress.total {
                Some(total) => {
                    bar.set_style(style.clone());
                    bar.set_length(u64::try_from(total).unwrap_or(0));
                }
                None => bar.set_style(counting.clone()),
            }
            bar.set_position(u64::try_from(progress.read).unwrap_or(0));
            match (&progress.error, progress.done) {
                (Some(error), _) => bar.finish_with_message(format!("not read: {error}")),
                (None, true) => bar.finish_with_message("done"),
                (None, false) => bar.tick(),
            }
        }
        if backfill.state == "finished" {
            let read: i64 = backfill.objects.values().map(|p| p.read).sum();
            return Ok(format!(
                "portal {portal}: backfill finished, {read} records read\n"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
