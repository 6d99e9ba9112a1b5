//! The associations API an app calls, at v4 and the dated versions (`/crm/associations/
//! 2026-03/…`, `/crm/objects/2026-03/…/associations/…`): batch reads of a type's
//! associations to another type, and the writes an app makes (associate two records with
//! the default type, remove an association), which notify both sides as HubSpot does.
//! Served behind the CRM gate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::{readable, Caller};
use crate::errors;
use crate::objects::{iso, ObjectType, Simulated};
use crate::world::{ChangeError, WebhookEvent, World};
use crate::SharedSim;

/// Most inputs of one associations batch read (reference §5: 1,000 since 2025-02-10).
const MAX_INPUTS: usize = 1_000;

/// Where each version's associations API lives.
const ASSOCIATIONS: [&str; 3] = [
    "/crm/v4/associations",
    "/crm/associations/2026-03",
    "/crm/associations/2026-09",
];

/// Where each version's per-record association writes live.
const OBJECTS: [&str; 3] = [
    "/crm/v4/objects",
    "/crm/objects/2026-03",
    "/crm/objects/2026-09",
];

pub(crate) fn routes() -> Router<SharedSim> {
    let mut router = Router::new();
    for prefix in ASSOCIATIONS {
        router = router.route(
            &format!("{prefix}/{{from}}/{{to}}/batch/read"),
            post(batch_read),
        );
    }
    for prefix in OBJECTS {
        router = router
            .route(
                &format!("{prefix}/{{from}}/{{from_id}}/associations/default/{{to}}/{{to_id}}"),
                put(associate),
            )
            .route(
                &format!("{prefix}/{{from}}/{{from_id}}/associations/{{to}}/{{to_id}}"),
                delete(dissociate),
            );
    }
    router
}

#[derive(Deserialize)]
struct Inputs {
    inputs: Vec<Input>,
}

#[derive(Deserialize)]
struct Input {
    id: String,
}

/// Both types of a path, if the caller may read them; else HubSpot's refusal.
fn both(from: &str, to: &str, caller: &Caller) -> Result<(ObjectType, ObjectType), Box<Response>> {
    Ok((readable(from, &caller.0)?, readable(to, &caller.0)?))
}

/// `BatchResponsePublicAssociationMultiWithLabel`: each input record that has associations
/// to live records of the type, with them. As HubSpot answers, a record with none is an
/// `OBJECT_NOT_FOUND` error (`NO_ASSOCIATIONS_FOUND`), and so is one that does not exist,
/// each naming its records in `context.fromObjectId` (a `207`). Associations of records in
/// the recycle bin are kept (a restore brings them back) but not shown.
async fn batch_read(
    State(sim): State<SharedSim>,
    Extension(caller): Extension<Caller>,
    Path((from, to)): Path<(String, String)>,
    body: Result<Json<Inputs>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let (from, to) = match both(&from, &to, &caller) {
        Ok(types) => types,
        Err(refusal) => return *refusal,
    };
    let Ok(Json(body)) = body else {
        return errors::validation("Invalid input JSON: expected {\"inputs\":[{\"id\":…}]}");
    };
    if body.inputs.len() > MAX_INPUTS {
        return errors::validation(format!(
            "Batch input limit exceeded: {} inputs, at most {MAX_INPUTS}",
            body.inputs.len()
        ));
    }
    let portal = caller.0.portal;
    let started = sim.now_ms();
    let (results, missing, none) = sim.world(|w| {
        let (mut results, mut missing, mut none) = (Vec::new(), Vec::new(), Vec::new());
        for Input { id } in &body.inputs {
            let Some(record) = id.parse().ok().and_then(|n| w.record(portal, from, n)) else {
                missing.push(id.clone());
                continue;
            };
            // A record in the recycle bin shows no associations, and none shows it.
            let live = |id: &i64| w.record(portal, to, *id).is_some_and(|r| r.archived_at.is_none());
            let associated = w.associated(portal, from, record.id, to);
            let associated: Vec<_> = associated
                .into_iter()
                .filter(|(id, _)| record.archived_at.is_none() && live(id))
                .collect();
            if associated.is_empty() {
                none.push(id.clone());
                continue;
            }
            let to: Vec<Value> = associated
                .into_iter()
                .map(|(to_id, types)| json!({ "toObjectId": to_id.to_string(), "associationTypes": types }))
                .collect();
            results.push(json!({ "from": { "id": id }, "to": to }));
        }
        (results, missing, none)
    });
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started),
        "completedAt": iso(sim.now_ms()),
    });
    let errors: Vec<Value> = [
        (!missing.is_empty()).then(|| errors::missing_records(from.upper_name(), missing)),
        (!none.is_empty())
            .then(|| errors::no_associations(from.upper_name(), to.upper_name(), none)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if errors.is_empty() {
        return Json(answer).into_response();
    }
    answer["numErrors"] = json!(errors.len());
    answer["errors"] = json!(errors);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}

/// A record of a type, in an association write.
type Side = (ObjectType, i64);

/// Applies an association write of the caller's portal (`apply`: [`World::associate`] or
/// [`World::dissociate`]) and sends its events: the two sides, and when; or the refusal.
fn write(
    sim: &SharedSim,
    caller: &Caller,
    (from, from_id, to, to_id): (String, i64, String, i64),
    apply: impl FnOnce(&mut World, i64, Side, Side, i64) -> Result<Vec<WebhookEvent>, ChangeError>,
) -> Result<(Side, Side, i64), Box<Response>> {
    let (from, to) = both(&from, &to, caller)?;
    let now = sim.now_ms();
    let (from, to) = ((from, from_id), (to, to_id));
    let events = sim
        .world(|w| apply(w, caller.0.portal, from, to, now))
        .map_err(|refusal| Box::new(refusal.into_response()))?;
    sim.emit(events);
    Ok((from, to, now))
}

/// Associates two records with the default type, both ways (`BatchResponsePublicDefaultAssociation`).
async fn associate(
    State(sim): State<SharedSim>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<(String, i64, String, i64)>,
) -> Response {
    let ((from, from_id), (to, to_id), now) = match write(&sim, &caller, path, World::associate) {
        Ok(written) => written,
        Err(refusal) => return *refusal,
    };
    let spec = sim
        .world(|w| w.associated(caller.0.portal, from, from_id, to))
        .remove(&to_id);
    Json(json!({
        "status": "COMPLETE",
        "results": [{
            "from": { "id": from_id.to_string() },
            "to": { "id": to_id.to_string() },
            "associationSpec": spec.and_then(|s| s.into_iter().next()),
        }],
        "startedAt": iso(now),
        "completedAt": iso(sim.now_ms()),
    }))
    .into_response()
}

/// Removes every association between two records, both ways: `204`.
async fn dissociate(
    State(sim): State<SharedSim>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<(String, i64, String, i64)>,
) -> Response {
    match write(&sim, &caller, path, World::dissociate) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => *refusal,
    }
}
