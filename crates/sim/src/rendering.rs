//! Records as HubSpot's CRM API shows them (`SimplePublicObject`), for every endpoint that
//! returns them.

use std::collections::BTreeSet;

use hubspot::version::ApiVersion;
use serde_json::{json, Map, Value};

use crate::objects::{iso, value_of, ObjectType, Record, Simulated};

/// A record as `SimplePublicObject`. With `properties`, those that have a value, plus the
/// three HubSpot always returns (and, from `2026-09`, those the type defines but the
/// record leaves empty, as `null`); without, the type's default set.
pub(crate) fn render(
    record: &Record,
    object: ObjectType,
    properties: Option<&[String]>,
    version: ApiVersion,
) -> Value {
    let wanted: BTreeSet<&str> = match properties {
        Some(names) => names
            .iter()
            .map(String::as_str)
            .chain([
                "createdate",
                "hs_object_id",
                object.last_modified_property(),
            ])
            .collect(),
        None => object.default_properties().iter().copied().collect(),
    };
    let nulls = version == ApiVersion::V2026_09 && properties.is_some();
    let props: Map<String, Value> = wanted
        .into_iter()
        .filter_map(|name| match value_of(record, object, name) {
            Some(value) => Some((name.to_owned(), Value::String(value))),
            None if nulls && object.defines(name) => Some((name.to_owned(), Value::Null)),
            None => None,
        })
        .collect();
    let mut body = json!({
        "id": record.id.to_string(),
        "properties": props,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
        "archived": record.archived_at.is_some(),
    });
    if let Some(at) = record.archived_at {
        body["archivedAt"] = Value::String(iso(at));
    }
    body
}
