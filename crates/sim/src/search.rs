//! The CRM search API (reference §5.1; `POST /crm/objects/{version}/{type}/search` in the
//! spec): filter groups (any group may match; every filter of a group must), sorts,
//! `properties`, pages of up to 200 with an `after` cursor, a `total`, and no result past
//! the 10,000th. Archived records never match. Its limit is its own (about 5 calls a
//! second per token, [`SEARCHES_PER_SECOND`]), answered `429` past it, with no rate-limit
//! headers; see `crm::gate`.

use std::cmp::Ordering;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hubspot::version::ApiVersion;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::{readable, Caller};
use crate::errors;
use crate::objects::{value_of, ObjectType, Record};
use crate::rendering::render;
use crate::SharedSim;

/// Searches a portal may make a second.
pub const SEARCHES_PER_SECOND: u32 = 5;
/// The most results one query pages through.
pub const MAX_RESULTS: usize = 10_000;
const MAX_PAGE: usize = 200;
const DEFAULT_PAGE: usize = 10;
const MAX_BODY: usize = 3_000;
const MAX_GROUPS: usize = 5;
const MAX_FILTERS_PER_GROUP: usize = 10;
const MAX_FILTERS: usize = 25;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    sorts: Vec<Sort>,
    #[serde(default)]
    properties: Vec<String>,
    limit: Option<usize>,
    after: Option<String>,
    query: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FilterGroup {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Value>,
    high_value: Option<Value>,
    #[serde(default)]
    values: Vec<Value>,
}

/// A sort: the spec's property name, or the `{"propertyName", "direction"}` HubSpot's guides
/// and SDKs send.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Sort {
    Named(String),
    Full {
        #[serde(rename = "propertyName")]
        property_name: String,
        #[serde(default)]
        direction: Option<String>,
    },
}

impl Sort {
    fn key(&self) -> (&str, bool) {
        match self {
            Self::Named(name) => (name.as_str(), false),
            Self::Full {
                property_name,
                direction,
            } => (
                property_name.as_str(),
                direction.as_deref() == Some("DESCENDING"),
            ),
        }
    }
}

pub async fn search(
    State(sim): State<SharedSim>,
    Extension(Caller(caller)): Extension<Caller>,
    Extension(version): Extension<ApiVersion>,
    Path(segment): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let object = match readable(&segment, &caller) {
        Ok(object) => object,
        Err(refusal) => return *refusal,
    };
    if body.len() > MAX_BODY {
        return errors::validation(format!(
            "The request body is {} characters, more than {MAX_BODY}",
            body.len()
        ));
    }
    let request: SearchRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return errors::validation(format!("Invalid input JSON: {error}")),
    };
    if let Err(refusal) = check(&request) {
        return errors::validation(refusal);
    }
    let limit = request.limit.unwrap_or(DEFAULT_PAGE);
    let offset = match request.after.as_deref().map(str::parse::<usize>) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => return errors::validation("after must be a cursor of an earlier page"),
    };
    if offset + limit > MAX_RESULTS {
        return errors::validation(format!(
            "Search results are limited to {MAX_RESULTS}: page past it with a narrower filter"
        ));
    }
    let portal = caller.portal;
    let mut found: Vec<Record> = sim.world(|w| {
        w.list(portal, object, 0, usize::MAX, false)
            .into_iter()
            .filter(|r| matches(r, object, &request.filter_groups))
            .collect()
    });
    found.sort_by(|a, b| order(a, b, object, &request.sorts));
    let total = found.len();
    let page: Vec<&Record> = found.iter().skip(offset).take(limit).collect();
    sim.crm_ledger(|l| l.returned(portal, page.len()));
    let properties = (!request.properties.is_empty()).then_some(request.properties.as_slice());
    let results: Vec<Value> = page
        .iter()
        .map(|r| render(r, object, properties, version))
        .collect();
    let mut body = json!({ "total": total, "results": results });
    let next = offset + limit;
    if next < total && next < MAX_RESULTS {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Json(body).into_response()
}

/// HubSpot's limits on a query's shape; what is wrong, if anything.
fn check(request: &SearchRequest) -> Result<(), String> {
    const OPERATORS: [&str; 11] = [
        "EQ",
        "NEQ",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
    ];
    let groups = &request.filter_groups;
    let filters: usize = groups.iter().map(|g| g.filters.len()).sum();
    let widest = groups.iter().map(|g| g.filters.len()).max().unwrap_or(0);
    if groups.len() > MAX_GROUPS || widest > MAX_FILTERS_PER_GROUP || filters > MAX_FILTERS {
        return Err(format!(
            "At most {MAX_GROUPS} filter groups of {MAX_FILTERS_PER_GROUP} filters, {MAX_FILTERS} in all"
        ));
    }
    if request.limit.is_some_and(|l| l == 0 || l > MAX_PAGE) {
        return Err(format!("limit must be 1 to {MAX_PAGE}"));
    }
    if request.query.as_deref().is_some_and(|q| !q.is_empty()) {
        return Err("spoke-sim does not simulate the text query".to_owned());
    }
    match groups
        .iter()
        .flat_map(|g| &g.filters)
        .find(|f| !OPERATORS.contains(&f.operator.as_str()))
    {
        Some(filter) => Err(format!(
            "spoke-sim does not simulate the operator {}",
            filter.operator
        )),
        None => Ok(()),
    }
}

/// Whether a record matches: any group, every filter of it (no group: every record).
fn matches(record: &Record, object: ObjectType, groups: &[FilterGroup]) -> bool {
    groups.is_empty()
        || groups
            .iter()
            .any(|g| g.filters.iter().all(|f| passes(record, object, f)))
}

fn passes(record: &Record, object: ObjectType, filter: &Filter) -> bool {
    let held = comparable(
        object,
        &filter.property_name,
        value(record, object, &filter.property_name),
    );
    let wanted =
        |v: &Option<Value>| comparable(object, &filter.property_name, v.as_ref().map(text));
    let compare = |v: &Option<Value>| compare(&held, &wanted(v));
    match filter.operator.as_str() {
        "HAS_PROPERTY" => held.is_some(),
        "NOT_HAS_PROPERTY" => held.is_none(),
        "EQ" => held.is_some() && compare(&filter.value) == Some(Ordering::Equal),
        "NEQ" => compare(&filter.value) != Some(Ordering::Equal),
        "GT" => compare(&filter.value) == Some(Ordering::Greater),
        "GTE" => matches!(
            compare(&filter.value),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        "LT" => compare(&filter.value) == Some(Ordering::Less),
        "LTE" => matches!(
            compare(&filter.value),
            Some(Ordering::Less | Ordering::Equal)
        ),
        "BETWEEN" => {
            matches!(
                compare(&filter.value),
                Some(Ordering::Greater | Ordering::Equal)
            ) && matches!(
                compare(&filter.high_value),
                Some(Ordering::Less | Ordering::Equal)
            )
        }
        "IN" => filter
            .values
            .iter()
            .any(|v| compare(&Some(v.clone())) == Some(Ordering::Equal)),
        "NOT_IN" => filter
            .values
            .iter()
            .all(|v| compare(&Some(v.clone())) != Some(Ordering::Equal)),
        _ => false,
    }
}

/// A record's value of a property for search: `hs_object_id` and the dates are the
/// record's own.
fn value(record: &Record, object: ObjectType, property: &str) -> Option<String> {
    match property {
        "hs_object_id" => Some(record.id.to_string()),
        _ if property == object.last_modified_property() => Some(record.updated_at.to_string()),
        "createdate" | "hs_createdate" => Some(record.created_at.to_string()),
        _ => value_of(record, object, property),
    }
}

/// A filter's value as text (HubSpot takes numbers and strings alike).
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What is compared: dates as epoch ms (HubSpot takes epoch ms or ISO 8601 in filters),
/// numbers as numbers, the rest as text.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Comparable {
    Number(f64),
    Text(String),
}

fn comparable(object: ObjectType, property: &str, value: Option<String>) -> Option<Comparable> {
    let value = value?;
    let date = property == object.last_modified_property()
        || matches!(property, "createdate" | "hs_createdate");
    if date {
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&value) {
            return Some(Comparable::Number(at.timestamp_millis() as f64));
        }
    }
    Some(match value.parse::<f64>() {
        Ok(number) => Comparable::Number(number),
        Err(_) => Comparable::Text(value),
    })
}

fn compare(held: &Option<Comparable>, wanted: &Option<Comparable>) -> Option<Ordering> {
    match (held, wanted) {
        (Some(Comparable::Number(a)), Some(Comparable::Number(b))) => a.partial_cmp(b),
        (Some(a), Some(b)) => {
            let text = |c: &Comparable| match c {
                Comparable::Number(n) => n.to_string(),
                Comparable::Text(t) => t.clone(),
            };
            Some(text(a).cmp(&text(b)))
        }
        _ => None,
    }
}

/// The order of results: by each sort in turn, then by id.
fn order(a: &Record, b: &Record, object: ObjectType, sorts: &[Sort]) -> Ordering {
    for sort in sorts {
        let (property, descending) = sort.key();
        let key = |r: &Record| comparable(object, property, value(r, object, property));
        let by = match (key(a), key(b)) {
            (Some(x), Some(y)) => compare(&Some(x), &Some(y)).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let by = if descending { by.reverse() } else { by };
        if by != Ordering::Equal {
            return by;
        }
    }
    a.id.cmp(&b.id)
}
