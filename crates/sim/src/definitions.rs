//! What a portal defines: each type's properties (the properties API) and its custom
//! object schemas (the schemas API), at v3 and the dated versions. Served behind the CRM
//! gate, so they are counted and limited like every CRM call.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::caller::{readable, Caller};
use crate::objects::{ObjectType, Simulated, CARS};
use crate::SharedSim;

/// Where each version's properties API lives.
const PROPERTIES: [&str; 3] = [
    "/crm/v3/properties",
    "/crm/properties/2026-03",
    "/crm/properties/2026-09",
];

/// Where each version's schemas API lives (HubSpot's spec: `/crm-object-schemas/2026-03`).
const SCHEMAS: [&str; 3] = [
    "/crm/v3/schemas",
    "/crm-object-schemas/2026-03/schemas",
    "/crm-object-schemas/2026-09/schemas",
];

pub(crate) fn routes() -> Router<SharedSim> {
    let mut router = Router::new();
    for prefix in PROPERTIES {
        router = router.route(&format!("{prefix}/{{object_type}}"), get(properties));
    }
    for path in SCHEMAS {
        router = router.route(path, get(schemas));
    }
    router
}

/// One property definition (`Property`): every simulated property is text.
fn definition(object: ObjectType, order: usize, name: &str) -> Value {
    json!({
        "name": name,
        "label": name.replace('_', " "),
        "description": "",
        "groupName": format!("{}information", object.upper_name().to_lowercase()),
        "type": "string",
        "fieldType": "text",
        "options": [],
        "displayOrder": order,
        "hidden": false,
        "formField": true,
        "hasUniqueValue": false,
        "hubspotDefined": object.more_property(name).is_none() && !object.is_custom(),
        "archived": false,
    })
}

fn definitions(object: ObjectType) -> Vec<Value> {
    object
        .property_names()
        .iter()
        .enumerate()
        .map(|(order, name)| definition(object, order, name))
        .collect()
}

/// The type's property definitions (`CollectionResponsePropertyNoPaging`): HubSpot's own
/// and the portal's.
async fn properties(
    Extension(Caller(caller)): Extension<Caller>,
    Path(segment): Path<String>,
) -> Response {
    match readable(&segment, &caller) {
        Ok(object) => Json(json!({ "results": definitions(object) })).into_response(),
        Err(refusal) => *refusal,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaQuery {
    #[serde(default)]
    archived: bool,
    include_property_definitions: Option<bool>,
}

/// The portal's custom object schemas (`CollectionResponseObjectSchemaNoPaging`): every
/// simulated portal defines [`CARS`]; none is archived.
async fn schemas(
    Extension(Caller(caller)): Extension<Caller>,
    Query(query): Query<SchemaQuery>,
) -> Response {
    let cars = match readable(&CARS.type_id(), &caller) {
        Ok(cars) => cars,
        Err(refusal) => return *refusal,
    };
    if query.archived {
        return Json(json!({ "results": [] })).into_response();
    }
    let type_id = cars.type_id();
    let number = type_id.trim_start_matches("2-");
    let properties = if query.include_property_definitions.unwrap_or(true) {
        definitions(cars)
    } else {
        Vec::new()
    };
    let schema = json!({
        "id": number,
        "objectTypeId": type_id,
        "name": "cars",
        "fullyQualifiedName": format!("p{}_cars", caller.portal),
        "labels": {"singular": "Car", "plural": "Cars"},
        "primaryDisplayProperty": "model",
        "requiredProperties": ["model"],
        "searchableProperties": ["make", "model"],
        "secondaryDisplayProperties": ["make"],
        "allowsSensitiveProperties": false,
        "archived": false,
        "associations": [],
        "properties": properties,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
    });
    Json(json!({ "results": [schema] })).into_response()
}
