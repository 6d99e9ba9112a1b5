//! The mirror, dead letters, quarantine and counts: what the hydrator and sinks did.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use hubspot::crm::ObjectType;
use serde::{Deserialize, Serialize};
use store::{ObjectId, PortalId, Replay, SetAside};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::http::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::state::AppState;
use crate::monitor::api_support::ApiSupport;
use crate::ops::dead_letters::{dead_letters as all_dead_letters, replay_dead};
use crate::ops::dead_letters::{DeadLetter, SetAsideView};
use crate::timestamp::Timestamp;
use crate::workers::sinks::SinkName;
use crate::workers::versions::CacheStats;

/// Most events one listing returns.
const MAX_LIST: u32 = 1_000;

/// An object type as a path names it: a standard type's path name or type id, or a custom
/// object's type id (`2-…`).
pub(super) struct ObjectTypeName;

impl PartialSchema for ObjectTypeName {
    fn schema() -> RefOr<Schema> {
        let standard: Vec<String> = ObjectType::STANDARD
            .into_iter()
            .flat_map(|t| [t.path_name().into_owned(), t.type_id().into_owned()])
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^({}|2-[1-9][0-9]*)$", standard.join("|"))))
            .into()
    }
}

impl ToSchema for ObjectTypeName {}

/// A record of the mirror.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    pub portal_id: PortalId,
    /// HubSpot's path name: `contacts`, `line_items`, …
    pub object_type: String,
    pub object_id: ObjectId,
    /// `live`, `deleted`, `merged` or `erased`.
    pub state: String,
    /// HubSpot's `updatedAt` (or the deletion's `occurredAt`).
    pub updated_at: Timestamp,
    /// When spoke wrote it.
    pub fetched_at: Timestamp,
    /// The properties as HubSpot returned them.
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    /// The records it is associated with, by their type (path name or custom type id).
    pub associations: BTreeMap<String, Vec<AssociatedView>>,
}

/// A record associated with another, and how.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssociatedView {
    pub id: ObjectId,
    /// HubSpot's association kinds: `{"category", "typeId", "label"?}`.
    #[schema(value_type = Vec<Object>)]
    pub types: serde_json::Value,
}

/// The records with the associations the mirror holds of them (one query for them all).
async fn views(
    store: &dyn store::Store,
    portal: PortalId,
    object_type: &str,
    records: Vec<store::MirroredRecord>,
) -> Result<Vec<RecordView>, ApiError> {
    let internal = |e: serde_json::Error| ApiError::Internal(e.into());
    let ids: Vec<ObjectId> = records.iter().map(|r| r.object_id).collect();
    let mut associations: BTreeMap<ObjectId, BTreeMap<String, Vec<AssociatedView>>> =
        BTreeMap::new();
    for held in store.associations_of(portal, object_type, &ids).await? {
        let view = AssociatedView {
            id: held.to_id,
            types: serde_json::from_str(&held.kinds).map_err(internal)?,
        };
        associations
            .entry(held.from_id)
            .or_default()
            .entry(held.to_type)
            .or_default()
            .push(view);
    }
    records
        .into_iter()
        .map(|record| {
            Ok(RecordView {
                properties: serde_json::from_str(&record.properties).map_err(internal)?,
                associations: associations.remove(&record.object_id).unwrap_or_default(),
                portal_id: record.portal_id,
                object_type: record.object_type,
                object_id: record.object_id,
                state: record.state,
                updated_at: Timestamp(record.updated_at),
                fetched_at: Timestamp(record.fetched_at),
            })
        })
        .collect()
}

/// A page of a portal's records of one type.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// By record id.
    pub records: Vec<RecordView>,
    /// The `after` of the next page; `null` on the last.
    pub next: Option<String>,
}

/// Where a page of records starts and how long it is.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next` of the page before (a record id); the first page without it.
    #[param(pattern = "^[0-9]{1,18}$")]
    after: Option<String>,
    /// At most this many (default 100; more than 1,000 lists 1,000; 0 lists 1).
    #[param(minimum = 0, maximum = 4_294_967_295_u64)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLettersBody {
    pub dead_letters: Vec<DeadLetter>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantineBody {
    pub quarantined: Vec<SetAsideView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// How many dead letters went back to their queue.
    pub replayed: u64,
}

/// Counts of the inbox, the mirror, the CRM calls and the sinks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The hydrator's dead letters.
    pub dead_letters: i64,
    /// Every sink's dead deliveries.
    pub sink_dead_letters: i64,
    /// Deliveries by sink and state.
    pub sinks: BTreeMap<String, BTreeMap<String, i64>>,
    pub quarantined: i64,
    pub records_mirrored: i64,
    /// CRM calls HubSpot answered `429` (this process's hydrator).
    pub rate_limited: u64,
    /// Inbox events by state.
    pub inbox: BTreeMap<String, i64>,
    /// Mirrored records by state.
    pub records: BTreeMap<String, i64>,
    /// This process's CRM calls by HTTP status (`none`: no answer).
    pub crm_calls: BTreeMap<String, u64>,
    /// `null` where no hydrator runs.
    pub record_cache: Option<CacheStats>,
    /// The CRM API version spoke calls and its end of support; `null` without an app.
    pub crm_api: Option<ApiSupport>,
}

/// A listing's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Listing {
    /// Only this portal's.
    portal: Option<PortalId>,
    /// At most this many (default 100; more than 1,000 lists 1,000).
    #[param(minimum = 0, maximum = 4_294_967_295_u64)]
    limit: Option<u32>,
}

impl Listing {
    fn limit(&self) -> u32 {
        self.limit.unwrap_or(100).min(MAX_LIST)
    }
}

/// One sink's: its deliveries rather than the hydrator's events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SinkParam {
    #[param(value_type = Option<SinkName>, inline)]
    sink: Option<String>,
}

/// Which dead letters to replay.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Which {
    /// This portal's, or every portal's.
    portal: Option<PortalId>,
    /// Only this sink's, or the hydrator's and every sink's.
    #[param(value_type = Option<SinkName>, inline)]
    sink: Option<String>,
}

/// `?sink=`, which must name a sink.
fn sink_of(name: Option<&str>) -> Result<Option<SinkName>, ApiError> {
    name.map(|n| SinkName::parse(n).ok_or(ApiError::UnknownSink))
        .transpose()
}

/// One mirrored record.
#[utoipa::path(
    get,
    path = "/records/{portal_id}/{object_type}/{object_id}",
    tag = "records",
    params(
        ("portal_id" = i64, Path, description = "The portal"),
        ("object_type" = inline(ObjectTypeName), Path, description = "A path name (`contacts`) or type id (`0-1`, `2-…`)"),
        ("object_id" = i64, Path, description = "HubSpot's record id"),
    ),
    responses(
        (status = 200, description = "The mirrored record", body = RecordView),
        (status = 400, description = "Not an object type spoke knows, or an id that is not a number", body = ErrorBody),
        (status = 404, description = "Not in the mirror", body = ErrorBody),
    ),
)]
pub async fn record(
    State(state): State<AppState>,
    ApiPath((portal, object_type, object_id)): ApiPath<(PortalId, String, ObjectId)>,
) -> Result<Json<RecordView>, ApiError> {
    let object = ObjectType::from_path(&object_type).ok_or(ApiError::UnknownObjectType)?;
    let path_name = object.path_name();
    let record = state
        .store
        .mirrored(portal, &path_name, object_id)
        .await?
        .ok_or(ApiError::NotFound("no such record in the mirror"))?;
    let mut views = views(state.store.as_ref(), portal, &path_name, vec![record]).await?;
    Ok(Json(views.remove(0)))
}

/// A portal's mirrored records of one type, a page at a time, by record id.
#[utoipa::path(
    get,
    path = "/records/{portal_id}/{object_type}",
    tag = "records",
    params(
        ("portal_id" = i64, Path, description = "The portal"),
        ("object_type" = inline(ObjectTypeName), Path, description = "A path name (`contacts`) or type id (`0-1`, `2-…`)"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of records", body = RecordPage),
        (status = 400, description = "Not an object type spoke knows, or a cursor that is not one", body = ErrorBody),
    ),
)]
pub async fn records(
    State(state): State<AppState>,
    ApiPath((portal, object_type)): ApiPath<(PortalId, String)>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<RecordPage>, ApiError> {
    let object = ObjectType::from_path(&object_type).ok_or(ApiError::UnknownObjectType)?;
    let after = page
        .after
        .map(|after| {
            after
                .parse::<ObjectId>()
                .map_err(|_| ApiError::BadQuery("after must be the next of a page".into()))
        })
        .transpose()?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let mut records = state
        .store
        .mirrored_page(portal, &object.path_name(), after, limit + 1)
        .await?;
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next = more
        .then(|| records.last().map(|r| r.object_id.to_string()))
        .flatten();
    let records = views(state.store.as_ref(), portal, &object.path_name(), records).await?;
    Ok(Json(RecordPage { records, next }))
}

/// The hydrator's dead letters (`"sink": null`) and the sinks', or one sink's.
#[utoipa::path(
    get,
    path = "/dead-letters",
    tag = "dead letters",
    params(Listing, SinkParam),
    responses(
        (status = 200, description = "Dead letters", body = DeadLettersBody),
        (status = 400, description = "Not a sink, or a filter that does not parse", body = ErrorBody),
    ),
)]
pub async fn dead_letters(
    State(state): State<AppState>,
    ApiQuery(listing): ApiQuery<Listing>,
    ApiQuery(param): ApiQuery<SinkParam>,
) -> Result<Json<DeadLettersBody>, ApiError> {
    let sink = sink_of(param.sink.as_deref())?;
    let dead =
        all_dead_letters(state.store.as_ref(), listing.portal, sink, listing.limit()).await?;
    Ok(Json(DeadLettersBody {
        dead_letters: dead.views(),
    }))
}

/// Events held back until their portal is installed.
#[utoipa::path(
    get,
    path = "/quarantine",
    tag = "dead letters",
    params(Listing),
    responses(
        (status = 200, description = "Quarantined events", body = QuarantineBody),
        (status = 400, description = "A filter that does not parse", body = ErrorBody),
    ),
)]
pub async fn quarantine(
    State(state): State<AppState>,
    ApiQuery(listing): ApiQuery<Listing>,
) -> Result<Json<QuarantineBody>, ApiError> {
    let held = state
        .store
        .set_aside_events(SetAside::Quarantined, listing.portal, listing.limit())
        .await?;
    Ok(Json(QuarantineBody {
        quarantined: held.iter().map(SetAsideView::from).collect(),
    }))
}

/// One event's dead letter, or with `?sink=` that sink's delivery, back to its queue.
#[utoipa::path(
    post,
    path = "/dead-letters/{id}/replay",
    tag = "dead letters",
    params(("id" = i64, Path, description = "The dead letter"), SinkParam),
    responses(
        (status = 200, description = "How many went back (0: no such dead letter)", body = Replayed),
        (status = 400, description = "Not a sink, or an id that is not a number", body = ErrorBody),
    ),
)]
pub async fn replay_one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(param): ApiQuery<SinkParam>,
) -> Result<Json<Replayed>, ApiError> {
    let sink = sink_of(param.sink.as_deref())?;
    let replayed = replay_dead(state.store.as_ref(), Replay::One(id), sink).await?;
    Ok(Json(Replayed { replayed }))
}

/// A portal's dead letters, or all; the hydrator's and every sink's, or one sink's.
#[utoipa::path(
    post,
    path = "/dead-letters/replay",
    tag = "dead letters",
    params(Which),
    responses(
        (status = 200, description = "How many went back", body = Replayed),
        (status = 400, description = "Not a sink, or a filter that does not parse", body = ErrorBody),
    ),
)]
pub async fn replay_many(
    State(state): State<AppState>,
    ApiQuery(which): ApiQuery<Which>,
) -> Result<Json<Replayed>, ApiError> {
    let sink = sink_of(which.sink.as_deref())?;
    let portals = which.portal.map_or(Replay::All, Replay::Portal);
    let replayed = replay_dead(state.store.as_ref(), portals, sink).await?;
    Ok(Json(Replayed { replayed }))
}

/// Counts of the inbox, the mirror, the CRM calls and the sinks.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "records",
    responses(
        (status = 200, description = "The counts", body = Stats),
    ),
)]
pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    let by_state =
        |counts: Vec<(String, i64)>| -> BTreeMap<String, i64> { counts.into_iter().collect() };
    let inbox = by_state(state.store.queue_counts().await?);
    let records = by_state(state.store.record_counts().await?);
    let crm_calls: BTreeMap<String, u64> = state
        .hydrator
        .as_ref()
        .map(|h| h.crm_calls())
        .unwrap_or_default()
        .into_iter()
        .map(|(status, n)| (status.to_string(), n))
        .collect();
    let mut sinks: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in state.store.delivery_counts().await? {
        sinks
            .entry(count.sink)
            .or_default()
            .insert(count.state, count.count);
    }
    Ok(Json(Stats {
        dead_letters: inbox.get("dead").copied().unwrap_or(0),
        sink_dead_letters: sinks.values().filter_map(|s| s.get("dead")).sum(),
        quarantined: inbox.get("quarantined").copied().unwrap_or(0),
        records_mirrored: records.values().sum(),
        rate_limited: crm_calls.get("429").copied().unwrap_or(0),
        record_cache: state.hydrator.as_ref().map(|h| h.cache_stats()),
        crm_api: state.api_support(),
        sinks,
        inbox,
        records,
        crm_calls,
    }))
}
