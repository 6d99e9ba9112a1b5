//! `spoke records get`: what the mirror holds of one record.

use std::fmt::Write as _;

use anyhow::{bail, Context};
use hubspot::crm::ObjectType;
use store::{ObjectId, PortalId, Store};

use super::iso;

pub async fn get(
    store: &dyn Store,
    portal: PortalId,
    object_type: &str,
    object_id: ObjectId,
) -> anyhow::Result<String> {
    let object = ObjectType::from_path(object_type)
        .with_context(|| format!("`{object_type}` is not an object type such as contacts"))?;
    let Some(record) = store
        .mirrored(portal, &object.path_name(), object_id)
        .await?
    else {
        bail!(
            "portal {portal} has no {} record {object_id} in the mirror",
            object.path_name()
        )
    };
    let properties: serde_json::Value =
        serde_json::from_str(&record.properties).context("the mirrored properties")?;
    let mut out = String::new();
    writeln!(
        out,
        "record:          {} {} of portal {}",
        object.path_name(),
        object_id,
        portal
    )?;
    writeln!(out, "state:           {}", record.state)?;
    if record.state != "erased" {
        writeln!(out, "updated at:      {}", iso(record.updated_at))?;
    }
    writeln!(out, "fetched at:      {}", iso(record.fetched_at))?;
    writeln!(
        out,
        "properties:      {}",
        serde_json::to_string_pretty(&properties)?
    )?;
    let associations = store
        .associations_of(portal, &object.path_name(), &[object_id])
        .await?;
    writeln!(out, "associations:    {}", associations.len())?;
    for held in associations {
        writeln!(out, "  {} {}: {}", held.to_type, held.to_id, held.kinds)?;
    }
    Ok(out)
}
