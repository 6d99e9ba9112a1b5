//! The CRM API for objects (reference §4, §9), at v3 and the dated versions `2026-03` and
//! `2026-09`: read one, batch read (per-id errors when some ids are missing: a `207`, or a
//! `200` from `2026-09`), list with paging, archived records, property selection, and
//! search ([`crate::search`]).
//! Every request passes [`gate`]: a valid bearer token, the portal's rate limits (HubSpot's
//! headers on every answer, 429 past them) and whatever faults are switched on.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use hubspot::version::ApiVersion;

use crate::caller::{readable, Caller};
use crate::crm_ledger;
use crate::errors;
use crate::faults::BatchAnswer;
use crate::objects::{iso, Record, Simulated};
use crate::ratelimit::{Exceeded, Usage};
use crate::rendering::render;
use crate::tokens::{Grant, TokenProblem};
use crate::SharedSim;

/// Most inputs of one batch read.
const MAX_BATCH_INPUTS: usize = 100;
/// Default and largest page of a list.
const DEFAULT_PAGE: usize = 10;
const MAX_PAGE: usize = 100;

/// Where each version's object API lives; HubSpot answers `404` under any other.
const OBJECTS: [(&str, ApiVersion); 3] = [
    ("/crm/v3/objects", ApiVersion::V3),
    ("/crm/objects/2026-03", ApiVersion::V2026_03),
    ("/crm/objects/2026-09", ApiVersion::V2026_09),
];

/// The object API at every version, and `more` (the rest of the CRM API), behind the gate.
pub fn routes(sim: SharedSim, more: Router<SharedSim>) -> Router {
    let mut router = Router::new();
    for (prefix, version) in OBJECTS {
        let objects = Router::new()
            .route("/{object_type}", get(list))
            .route("/{object_type}/{object_id}", get(read_one))
            .route("/{object_type}/batch/read", post(batch_read))
            .route("/{object_type}/search", post(crate::search::search))
            .layer(Extension(version));
        router = router.nest(prefix, objects);
    }
    router
        .merge(more)
        .layer(axum::middleware::from_fn_with_state(sim.clone(), gate))
        .with_state(sim)
}

async fn gate(State(sim): State<SharedSim>, request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = bearer else {
        return errors::unauthorized(
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        );
    };
    let grant = match sim.caller(&token) {
        Ok(grant) => grant,
        Err(TokenProblem::Expired(ms)) => {
            return errors::unauthorized(format!(
                "The OAuth token used to make this call expired {} second(s) ago.",
                ms / 1000
            ));
        }
        Err(TokenProblem::Unknown) => {
            return errors::unauthorized(
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            );
        }
    };
    let portal = grant.portal;
    let Some(endpoint) = crm_ledger::endpoint(request.uri().path()) else {
        return errors::not_found(format!("No API at {}", request.uri().path()));
    };
    let _in_flight = InFlight::enter(&sim, portal);
    let response = if endpoint.class == "search" {
        searched(&sim, grant, request, next).await
    } else {
        admitted(&sim, grant, request, next).await
    };
    sim.crm_ledger(|l| l.call(portal, endpoint, response.status().as_u16()));
    response
}

/// A call of a portal in flight, counted until it is answered or its caller goes away.
struct InFlight {
    sim: SharedSim,
    portal: i64,
}

impl InFlight {
    fn enter(sim: &SharedSim, portal: i64) -> Self {
        sim.crm_ledger(|l| l.entered(portal));
        Self {
            sim: sim.clone(),
            portal,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.sim.crm_ledger(|l| l.left(self.portal));
    }
}

/// The rest of the gate for an authenticated caller: the rate limit, injected faults, the
/// handler.
async fn admitted(sim: &SharedSim, grant: Grant, mut request: Request, next: Next) -> Response {
    let portal = grant.portal;
    let usage = match sim.admit(portal) {
        Ok(usage) => {
            let used = usage.limits.max.saturating_sub(usage.remaining);
            sim.crm_ledger(|l| l.admitted(portal, used));
            usage
        }
        Err((exceeded, usage)) => return with_usage(errors::rate_limited(exceeded), usage),
    };
    let faults = sim.faults();
    if faults.applies_to(portal) {
        if faults.faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.faults.latency_ms)).await;
        }
        if faults.in_429_burst(Instant::now()) {
            return with_usage(errors::rate_limited(Exceeded::TenSecondlyRolling), usage);
        }
        let failed = (faults.faults.error_rate > 0.0).then(|| {
            sim.fault_draw(|rng| {
                rng.random_bool(faults.faults.error_rate.clamp(0.0, 1.0))
                    .then(|| rng.random_range(0..3))
            })
        });
        if let Some(Some(which)) = failed {
            let status = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ][which];
            return with_usage(
                errors::api_error(
                    status,
                    "INTERNAL_ERROR",
                    "internal error (injected by spoke-sim)",
                ),
                usage,
            );
        }
    }
    request.extensions_mut().insert(Caller(grant));
    with_usage(next.run(request).await, usage)
}

/// The rest of the gate for a search: its own limit (reference §5.1), no rate-limit
/// headers, no faults.
async fn searched(sim: &SharedSim, grant: Grant, mut request: Request, next: Next) -> Response {
    if !sim.admit_search(grant.portal) {
        return errors::rate_limited(Exceeded::Secondly);
    }
    request.extensions_mut().insert(Caller(grant));
    next.run(request).await
}

/// Adds `X-HubSpot-RateLimit-*` (reference §5.2: no daily headers for OAuth apps).
fn with_usage(mut response: Response, usage: Usage) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: u64| {
        headers.insert(name, HeaderValue::from(value));
    };
    set(
        "x-hubspot-ratelimit-interval-milliseconds",
        usage.limits.window_ms,
    );
    set("x-hubspot-ratelimit-max", u64::from(usage.limits.max));
    set("x-hubspot-ratelimit-remaining", u64::from(usage.remaining));
    if let (Some(daily), Some(left)) = (usage.limits.daily, usage.daily_remaining) {
        set("x-hubspot-ratelimit-daily", u64::from(daily));
        set("x-hubspot-ratelimit-daily-remaining", u64::from(left));
    }
    response
}

/// Query parameters; `properties` may be comma-separated, repeated, or both.
fn read_params(pairs: &[(String, String)]) -> (Option<Vec<String>>, bool) {
    let mut properties: Option<Vec<String>> = None;
    let mut archived = false;
    for (key, value) in pairs {
        match key.as_str() {
            "properties" => properties.get_or_insert_with(Vec::new).extend(
                value
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            ),
            "archived" => archived = value == "true",
            _ => {}
        }
    }
    (properties, archived)
}

/// Whether a record is what a request with `archived` asks for (HubSpot: archived=true
/// returns only archived records).
fn visible(record: &Record, archived: bool) -> bool {
    record.archived_at.is_some() == archived
}

async fn read_one(
    State(sim): State<SharedSim>,
    Extension(Caller(caller)): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path((segment, object_id)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let object = match readable(&segment, &caller) {
        Ok(object) => object,
        Err(refusal) => return *refusal,
    };
    let portal = caller.portal;
    let (properties, archived) = read_params(&pairs);
    let record = object_id
        .parse::<i64>()
        .ok()
        .and_then(|id| sim.world(|w| w.record(portal, object, id)))
        .filter(|r| visible(r, archived));
    match record {
        Some(record) => {
            sim.crm_ledger(|l| l.returned(portal, 1));
            Json(render(&record, object, properties.as_deref(), version)).into_response()
        }
        None => errors::not_found(format!(
            "Object not found.  objectId are usually numeric. ({object_id})"
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchReadInput {
    inputs: Vec<BatchId>,
    #[serde(default)]
    properties: Vec<String>,
    /// `propertiesWithHistory` is accepted (unknown fields are ignored) but not simulated.
    id_property: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BatchId {
    id: String,
}

async fn batch_read(
    State(sim): State<SharedSim>,
    Extension(Caller(caller)): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(segment): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Result<Json<BatchReadInput>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let object = match readable(&segment, &caller) {
        Ok(object) => object,
        Err(refusal) => return *refusal,
    };
    let portal = caller.portal;
    let Ok(Json(input)) = body else {
        return errors::validation(
            "Invalid input JSON on line 1: expected {\"inputs\":[{\"id\":…}],\"properties\":[…]}",
        );
    };
    if input.inputs.len() > MAX_BATCH_INPUTS {
        return errors::validation(format!(
            "Batch input limit exceeded: {} inputs, at most {MAX_BATCH_INPUTS}",
            input.inputs.len()
        ));
    }
    if input
        .id_property
        .as_deref()
        .is_some_and(|p| p != "hs_object_id")
    {
        return errors::validation(
            "spoke-sim reads by record id only (idProperty is not simulated)",
        );
    }
    let (_, archived) = read_params(&pairs);
    let started = sim.now_ms();
    let properties = (!input.properties.is_empty()).then_some(input.properties.as_slice());
    let mut seen = BTreeSet::new();
    let (mut results, mut missing, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let faults = sim.faults();
    let found: Vec<(String, Option<Record>)> = sim.world(|w| {
        input
            .inputs
            .iter()
            .filter(|BatchId { id }| seen.insert(id.clone()))
            .map(|BatchId { id }| {
                let record = id
                    .parse::<i64>()
                    .ok()
                    .and_then(|n| w.record(portal, object, n))
                    .filter(|r| visible(r, archived));
                (id.clone(), record)
            })
            .collect()
    });
    for (id, record) in found {
        match record {
            None => missing.push(id),
            Some(record) => match faults.batch_answer(portal, || sim.fault_draw(|r| r.random())) {
                BatchAnswer::Record => results.push(render(&record, object, properties, version)),
                BatchAnswer::Error => failed.push(id),
                BatchAnswer::Omitted => {}
            },
        }
    }
    sim.crm_ledger(|l| l.returned(portal, results.len()));
    // HubSpot does not promise result order; reversing keeps clients from relying on it.
    results.reverse();
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "requestedAt": iso(started),
        "startedAt": iso(started),
        "completedAt": iso(sim.now_ms()),
    });
    let batch_errors = [
        (!missing.is_empty()).then(|| errors::missing_ids(object.upper_name(), missing)),
        (!failed.is_empty()).then(|| errors::unread_ids(faults.batch_error_category(), failed)),
    ];
    let batch_errors: Vec<Value> = batch_errors.into_iter().flatten().collect();
    if batch_errors.is_empty() {
        return Json(body).into_response();
    }
    body["numErrors"] = json!(batch_errors.len());
    body["errors"] = json!(batch_errors);
    let status = match version {
        ApiVersion::V2026_09 => StatusCode::OK,
        ApiVersion::V3 | ApiVersion::V2026_03 => StatusCode::MULTI_STATUS,
    };
    (status, Json(body)).into_response()
}

async fn list(
    State(sim): State<SharedSim>,
    Extension(Caller(caller)): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(segment): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let object = match readable(&segment, &caller) {
        Ok(object) => object,
        Err(refusal) => return *refusal,
    };
    let portal = caller.portal;
    let (properties, archived) = read_params(&pairs);
    let value = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let limit = value("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, MAX_PAGE);
    let after = match value("after").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(after)) => after,
        Some(Err(_)) => {
            return errors::validation("after must be a paging cursor returned by a previous page")
        }
    };
    let mut page = sim.world(|w| w.list(portal, object, after, limit + 1, archived));
    let more = page.len() > limit;
    page.truncate(limit);
    sim.crm_ledger(|l| l.returned(portal, page.len()));
    let results: Vec<Value> = page
        .iter()
        .map(|r| render(r, object, properties.as_deref(), version))
        .collect();
    let mut body = json!({ "results": results });
    if let (true, Some(last)) = (more, page.last()) {
        let after = last.id.to_string();
        body["paging"] = json!({ "next": {
            "after": after,
            "link": format!("https://api.hubapi.com{}/{}?after={after}", prefix(version), object.path_name()),
        }});
    }
    Json(body).into_response()
}

/// Where `version`'s object API lives.
fn prefix(version: ApiVersion) -> &'static str {
    OBJECTS
        .iter()
        .find(|(_, v)| *v == version)
        .map(|(prefix, _)| *prefix)
        .expect("every version is served")
}
