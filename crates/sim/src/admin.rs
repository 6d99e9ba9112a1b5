//! The simulator's own API under `/_sim/`: what a test or an operator does to "HubSpot".
//! Contracts other tools rely on (DESIGN.md): `GET /_sim/portals` and
//! `POST /_sim/portals/{portalId}/tokens`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::dispatcher::Target;
use crate::faults::Faults;
use crate::objects::{ObjectType, Record};
use crate::ratelimit::Limits;
use crate::world::{ChangeError, Subscription, WebhookEvent, World};
use crate::SharedSim;

pub fn routes(sim: SharedSim) -> Router {
    Router::new()
        .route("/_sim/portals", get(portals))
        .route("/_sim/portals/{portal}", get(portal).patch(update_portal))
        .route("/_sim/portals/{portal}/tokens", post(issue_tokens))
        .route("/_sim/portals/{portal}/revoke", post(revoke))
        .route("/_sim/portals/{portal}/objects/{object_type}", post(create))
        .route(
            "/_sim/portals/{portal}/objects/{object_type}/{id}",
            axum::routing::patch(update).delete(archive),
        )
        .route(
            "/_sim/portals/{portal}/objects/{object_type}/{id}/restore",
            post(restore),
        )
        .route(
            "/_sim/portals/{portal}/objects/{object_type}/{id}/merge",
            post(merge),
        )
        .route(
            "/_sim/portals/{portal}/objects/contacts/{id}/gdpr-delete",
            post(privacy_delete),
        )
        .route(
            "/_sim/portals/{portal}/objects/{object_type}/{id}/associations/{to_type}/{to_id}",
            axum::routing::put(associate).delete(dissociate),
        )
        .route("/_sim/activity", post(activity))
        .route("/_sim/crm/ledger", get(crm_ledger))
        .route("/_sim/webhooks/target", get(target).put(set_target))
        .route(
            "/_sim/webhooks/subscriptions",
            get(subscriptions).put(set_subscriptions),
        )
        .route("/_sim/webhooks/ledger", get(ledger))
        .route("/_sim/webhooks/attempts", get(attempts))
        .route("/_sim/faults", get(faults).put(set_faults))
        .with_state(sim)
}

fn fail(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

impl IntoResponse for ChangeError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NoPortal | Self::NoRecord => StatusCode::NOT_FOUND,
            Self::NotArchived => StatusCode::CONFLICT,
        };
        fail(status, self.to_string())
    }
}

async fn portals(State(sim): State<SharedSim>) -> Json<Value> {
    Json(json!(sim.world(|w| w
        .portal_ids()
        .filter_map(|id| w.portal(id))
        .collect::<Vec<_>>())))
}

async fn portal(State(sim): State<SharedSim>, Path(portal): Path<i64>) -> Response {
    match sim.world(|w| w.portal(portal)) {
        Some(p) => Json(p).into_response(),
        None => ChangeError::NoPortal.into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PortalChange {
    installed: Option<bool>,
    limits: Option<Limits>,
}

/// Uninstalling (`installed: false`) revokes every token of the portal, as HubSpot does.
async fn update_portal(
    State(sim): State<SharedSim>,
    Path(portal): Path<i64>,
    Json(change): Json<PortalChange>,
) -> Response {
    let updated = sim.world(|w| {
        w.update_portal(portal, |p| {
            p.installed = change.installed.unwrap_or(p.installed);
            p.limits = change.limits.unwrap_or(p.limits);
        })
    });
    match updated {
        Ok(p) => {
            if !p.installed {
                sim.revoke_tokens(portal, true);
            }
            Json(p).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn issue_tokens(State(sim): State<SharedSim>, Path(portal): Path<i64>) -> Response {
    match sim.issue_tokens(portal) {
        Some(pair) => Json(pair).into_response(),
        None => fail(StatusCode::NOT_FOUND, "no such installed portal"),
    }
}

/// Revokes the portal's refresh tokens (access tokens run out on their own), as when a
/// user removes the app's access.
async fn revoke(State(sim): State<SharedSim>, Path(portal): Path<i64>) -> Json<Value> {
    Json(json!({ "revoked": sim.revoke_tokens(portal, false) }))
}

/// `…/portals/{portal}/objects/{object_type}`, with a known object type.
struct ObjectsPath {
    portal: i64,
    object: ObjectType,
}

/// `…/portals/{portal}/objects/{object_type}/{id}`, with a known object type.
struct RecordPath {
    portal: i64,
    object: ObjectType,
    id: i64,
}

fn unknown_type(segment: &str) -> Response {
    fail(
        StatusCode::NOT_FOUND,
        format!("unknown object type {segment}"),
    )
}

impl<S: Send + Sync> FromRequestParts<S> for ObjectsPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path((portal, segment)) = Path::<(i64, String)>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            portal,
            object: ObjectType::from_path(&segment).ok_or_else(|| unknown_type(&segment))?,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RecordPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path((portal, segment, id)) =
            Path::<(i64, String, i64)>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        Ok(Self {
            portal,
            object: ObjectType::from_path(&segment).ok_or_else(|| unknown_type(&segment))?,
            id,
        })
    }
}

/// `…/objects/{object_type}/{id}/associations/{to_type}/{to_id}`, with known types.
struct AssociationPath {
    portal: i64,
    from: (ObjectType, i64),
    to: (ObjectType, i64),
}

impl<S: Send + Sync> FromRequestParts<S> for AssociationPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path((portal, from, from_id, to, to_id)) =
            Path::<(i64, String, i64, String, i64)>::from_request_parts(parts, state)
                .await
                .map_err(IntoResponse::into_response)?;
        let from_type = ObjectType::from_path(&from).ok_or_else(|| unknown_type(&from))?;
        let to_type = ObjectType::from_path(&to).ok_or_else(|| unknown_type(&to))?;
        Ok(Self {
            portal,
            from: (from_type, from_id),
            to: (to_type, to_id),
        })
    }
}

/// Associates two records with the default type, both ways (as an app's v4 call does).
async fn associate(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    path: AssociationPath,
) -> Response {
    change(&sim, announce, |w, now| {
        w.associate(path.portal, path.from, path.to, now)
            .map(|e| (None, e))
    })
}

/// Removes every association between two records, both ways.
async fn dissociate(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    path: AssociationPath,
) -> Response {
    change(&sim, announce, |w, now| {
        w.dissociate(path.portal, path.from, path.to, now)
            .map(|e| (None, e))
    })
}

#[derive(Debug, Deserialize)]
struct Properties {
    properties: BTreeMap<String, String>,
}

/// Whether a change is announced: `?webhooks=false` makes one HubSpot sends no
/// notification of (as for changes a subscription was paused through).
#[derive(Debug, Clone, Copy, Deserialize)]
struct Announce {
    #[serde(default = "announced")]
    webhooks: bool,
}

fn announced() -> bool {
    true
}

/// Applies a change to the world, queues its events (unless it is not announced) and
/// answers with the record and how many events were queued.
fn change(
    sim: &SharedSim,
    announce: Announce,
    apply: impl FnOnce(&mut World, i64) -> Result<(Option<Record>, Vec<WebhookEvent>), ChangeError>,
) -> Response {
    match sim.world(|w| apply(w, sim.now_ms())) {
        Ok((record, events)) => {
            let queued = if announce.webhooks {
                sim.emit(events)
            } else {
                0
            };
            let record =
                record.map(|r| json!({ "id": r.id.to_string(), "properties": r.properties }));
            Json(json!({ "record": record, "events": queued })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn create(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    ObjectsPath { portal, object }: ObjectsPath,
    Json(body): Json<Properties>,
) -> Response {
    change(&sim, announce, |w, now| {
        w.create(portal, object, body.properties, now)
            .map(|(r, e)| (Some(r), e))
    })
}

async fn update(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    RecordPath { portal, object, id }: RecordPath,
    Json(body): Json<Properties>,
) -> Response {
    change(&sim, announce, |w, now| {
        w.update(portal, object, id, body.properties, now)
            .map(|(r, e)| (Some(r), e))
    })
}

async fn archive(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    RecordPath { portal, object, id }: RecordPath,
) -> Response {
    change(&sim, announce, |w, now| {
        w.archive(portal, object, id, now).map(|e| (None, e))
    })
}

async fn restore(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    RecordPath { portal, object, id }: RecordPath,
) -> Response {
    change(&sim, announce, |w, now| {
        w.restore(portal, object, id, now).map(|e| (None, e))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Merge {
    merged_object_id: i64,
}

async fn merge(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    RecordPath { portal, object, id }: RecordPath,
    Json(body): Json<Merge>,
) -> Response {
    change(&sim, announce, |w, now| {
        w.merge(portal, object, id, body.merged_object_id, now)
            .map(|(r, e)| (Some(r), e))
    })
}

async fn privacy_delete(
    State(sim): State<SharedSim>,
    Query(announce): Query<Announce>,
    Path((portal, id)): Path<(i64, i64)>,
) -> Response {
    change(&sim, announce, |w, now| {
        w.privacy_delete(portal, id, now).map(|e| (None, e))
    })
}

/// `POST /_sim/activity`: random property changes, reproducible from `seed`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// How many changes (a change of a record that is gone yields no event).
    pub changes: u32,
    /// Installed portals to change records in; every installed portal when empty.
    #[serde(default)]
    pub portals: Vec<i64>,
    /// Object types to change (path names or type ids); every type when empty.
    #[serde(default)]
    pub objects: Vec<String>,
    /// The random generator's seed: the same seed on the same world makes the same
    /// changes. Drawn afresh when absent; the answer names it either way, so a failing
    /// test can replay what it was given.
    #[serde(default)]
    pub seed: Option<u64>,
}

impl Activity {
    /// `changes` changes chosen by `seed`, in every installed portal, of every type.
    pub fn seeded(seed: u64, changes: u32) -> Self {
        Self {
            changes,
            seed: Some(seed),
            ..Self::default()
        }
    }

    pub fn in_portals(mut self, portals: &[i64]) -> Self {
        self.portals = portals.to_vec();
        self
    }

    pub fn of(mut self, objects: &[ObjectType]) -> Self {
        self.objects = objects.iter().map(|o| o.path_name().into_owned()).collect();
        self
    }
}

/// `changes` random property changes (installed portals, or those listed; of every object
/// type, or those listed); answers with the events queued and the seed that chose them.
async fn activity(State(sim): State<SharedSim>, Json(body): Json<Activity>) -> Response {
    let objects: Option<Vec<ObjectType>> = body
        .objects
        .iter()
        .map(|o| ObjectType::from_path(o))
        .collect();
    let Some(objects) = objects else {
        let error = format!("unknown object type among {:?}", body.objects);
        return (StatusCode::BAD_REQUEST, Json(json!({ "message": error }))).into_response();
    };
    let seed = body.seed.unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let events = sim.world(|w| {
        w.random_changes(
            &mut rng,
            body.changes,
            &body.portals,
            &objects,
            sim.now_ms(),
        )
    });
    let ids: Vec<(i64, i64)> = events.iter().map(|e| (e.portal_id, e.event_id)).collect();
    sim.emit(events);
    Json(json!({ "events": ids.len(), "eventIds": ids, "seed": seed })).into_response()
}

/// One in this many streamed changes is an association change.
pub const ASSOCIATION_SHARE: u32 = 10;

/// Generates `rate` random changes per second until `shutdown` (`--activity-rate`): one in
/// [`ASSOCIATION_SHARE`] associates two records (or removes their association), the rest
/// change a property. The changes follow from `seed`, so a run's activity can be replayed.
pub async fn stream_activity(sim: SharedSim, rate: f64, seed: u64, shutdown: CancellationToken) {
    const TICK: Duration = Duration::from_millis(10);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ticks = tokio::time::interval(TICK);
    let mut owed = 0.0;
    while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
        owed += rate * TICK.as_secs_f64();
        let now = owed.floor();
        owed -= now;
        if now >= 1.0 {
            let associations = (0..now as u32)
                .filter(|_| rng.random_ratio(1, ASSOCIATION_SHARE))
                .count() as u32;
            let at = sim.now_ms();
            let events = sim.world(|w| {
                let mut events =
                    w.random_changes(&mut rng, now as u32 - associations, &[], &[], at);
                events.extend(w.random_association_changes(&mut rng, associations, at));
                events
            });
            sim.dispatcher().enqueue(events);
        }
    }
}

async fn target(State(sim): State<SharedSim>) -> Json<Target> {
    Json(sim.dispatcher().target())
}

async fn set_target(State(sim): State<SharedSim>, Json(target): Json<Target>) -> Json<Target> {
    sim.dispatcher().set_target(target);
    Json(sim.dispatcher().target())
}

async fn subscriptions(State(sim): State<SharedSim>) -> Json<Vec<Subscription>> {
    Json(sim.world(|w| w.subscriptions().to_vec()))
}

async fn set_subscriptions(
    State(sim): State<SharedSim>,
    Json(list): Json<Vec<Subscription>>,
) -> Json<Vec<Subscription>> {
    sim.world(|w| w.set_subscriptions(list));
    Json(sim.world(|w| w.subscriptions().to_vec()))
}

/// The ground truth: per-portal totals and success rates, and what is still queued.
/// The CRM API's ground truth, per portal.
async fn crm_ledger(State(sim): State<SharedSim>) -> Json<Value> {
    Json(json!({ "portals": sim.crm_ledger(|l| json!(l.totals())) }))
}

async fn ledger(State(sim): State<SharedSim>) -> Json<Value> {
    let totals = sim.dispatcher().ledger(|l| json!(l.totals()));
    Json(json!({ "portals": totals, "queue": sim.dispatcher().depth() }))
}

#[derive(Debug, Deserialize)]
struct AttemptsQuery {
    portal: Option<i64>,
}

async fn attempts(State(sim): State<SharedSim>, Query(q): Query<AttemptsQuery>) -> Json<Value> {
    Json(json!(sim.dispatcher().ledger(|l| l.attempts(q.portal))))
}

async fn faults(State(sim): State<SharedSim>) -> Json<Faults> {
    Json(sim.faults().faults)
}

async fn set_faults(State(sim): State<SharedSim>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.set_faults(faults);
    Json(sim.faults().faults)
}
