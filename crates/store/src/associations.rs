//! The association mirror: for each record, the records of each other type it is
//! associated with, with their association kinds (a JSON array), as HubSpot's associations
//! API last answered. Written only when settling a hydration round: a read replaces what
//! the mirror held for that record and type (when HubSpot paged the answer, those held and
//! not listed are kept), and each association added, changed or removed is queued for the
//! sinks. A record deleted, merged away or erased takes its associations, both ways, with
//! it.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::backend::{Backend, Bind, Statement};
use crate::{ObjectId, PortalId, StoreError};

/// The table's name, for [`crate::Erasure`].
pub(crate) const TABLE: &str = "associations";

/// What one read of a record's associations to one type found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationSet {
    pub portal_id: PortalId,
    /// Types as the mirror names them (`contacts`, `2-123`).
    pub from_type: String,
    pub from_id: ObjectId,
    pub to_type: String,
    /// Each associated record with its kinds, a JSON array.
    pub associated: Vec<(ObjectId, String)>,
    /// Whether `associated` is all of them; else (HubSpot paged the answer) those held and
    /// not listed are kept.
    pub complete: bool,
    /// When the round that read it began, epoch ms: the version of the changes it makes.
    pub read_at: i64,
    /// The trace that read it, continued by the sinks.
    pub trace: Option<String>,
}

/// An association as the mirror holds it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HeldAssociation {
    pub from_type: String,
    pub from_id: ObjectId,
    pub to_type: String,
    pub to_id: ObjectId,
    /// A JSON array of `{"category", "typeId", "label"?}`.
    pub kinds: String,
}

/// One association a read added, changed (`kinds`) or removed (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssociationChange {
    pub to_id: ObjectId,
    pub kinds: Option<String>,
}

#[async_trait]
pub trait Associations: Send + Sync {
    /// What the mirror holds of the associations of a portal's records `from_ids` of
    /// `from_type`, by record, other type and id.
    async fn associations_of(
        &self,
        portal_id: PortalId,
        from_type: &str,
        from_ids: &[ObjectId],
    ) -> Result<Vec<HeldAssociation>, StoreError>;

    /// What the mirror holds of associations to a portal's records `to_ids` of `to_type`,
    /// read from the other side.
    async fn associations_to(
        &self,
        portal_id: PortalId,
        to_type: &str,
        to_ids: &[ObjectId],
    ) -> Result<Vec<HeldAssociation>, StoreError>;
}

/// The rows of one record's associations to one type (`$1` … `$4`).
const OF_SET: &str = "portal_id = $1 AND from_type = $2 AND from_id = $3 AND to_type = $4";

/// Writes what a read found, and says what changed.
pub(crate) async fn write<B: Backend>(
    conn: &mut B::Conn,
    set: &AssociationSet,
) -> Result<Vec<AssociationChange>, StoreError> {
    let of_set = |sql: String| {
        Statement::new(sql)
            .bind(set.portal_id)
            .bind(&set.from_type)
            .bind(set.from_id)
            .bind(&set.to_type)
    };
    let held: Vec<(ObjectId, String)> = B::fetch_all(
        conn,
        of_set(format!(
            "SELECT to_id, kinds FROM associations WHERE {OF_SET}"
        )),
    )
    .await?;
    let held: BTreeMap<ObjectId, String> = held.into_iter().collect();
    let found: BTreeMap<ObjectId, &String> = set
        .associated
        .iter()
        .map(|(id, kinds)| (*id, kinds))
        .collect();
    let mut changes = Vec::new();
    if set.complete {
        let removed: Vec<i64> = held
            .keys()
            .filter(|id| !found.contains_key(id))
            .map(|id| id.0)
            .collect();
        if !removed.is_empty() {
            let delete = format!(
                "DELETE FROM associations WHERE {OF_SET} AND {}",
                B::in_ids("to_id", 5)
            );
            B::execute(conn, of_set(delete).bind(Bind::Ids(&removed))).await?;
            changes.extend(removed.into_iter().map(|id| AssociationChange {
                to_id: ObjectId(id),
                kinds: None,
            }));
        }
    }
    let upsert =
        "INSERT INTO associations (portal_id, from_type, from_id, to_type, to_id, kinds, read_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) \
        ON CONFLICT (portal_id, from_type, from_id, to_type, to_id) \
        DO UPDATE SET kinds = excluded.kinds, read_at = excluded.read_at";
    for (to_id, kinds) in found {
        if held.get(&to_id) == Some(kinds) {
            continue;
        }
        let statement = of_set(upsert.to_owned())
            .bind(to_id)
            .bind(kinds.as_str())
            .bind(set.read_at);
        B::execute(conn, statement).await?;
        changes.push(AssociationChange {
            to_id,
            kinds: Some(kinds.clone()),
        });
    }
    Ok(changes)
}

/// Removes a record's associations, both ways: it was deleted, merged away or erased.
pub(crate) async fn forget_record<B: Backend>(
    conn: &mut B::Conn,
    portal_id: PortalId,
    object_type: &str,
    object_id: ObjectId,
) -> Result<(), StoreError> {
    let delete = "DELETE FROM associations WHERE portal_id = $1 AND \
        ((from_type = $2 AND from_id = $3) OR (to_type = $2 AND to_id = $3))";
    let statement = Statement::new(delete)
        .bind(portal_id)
        .bind(object_type)
        .bind(object_id);
    B::execute(conn, statement).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> Associations for B {
    async fn associations_of(
        &self,
        portal_id: PortalId,
        from_type: &str,
        from_ids: &[ObjectId],
    ) -> Result<Vec<HeldAssociation>, StoreError> {
        held::<B>(self, Side::From, portal_id, from_type, from_ids).await
    }

    async fn associations_to(
        &self,
        portal_id: PortalId,
        to_type: &str,
        to_ids: &[ObjectId],
    ) -> Result<Vec<HeldAssociation>, StoreError> {
        held::<B>(self, Side::To, portal_id, to_type, to_ids).await
    }
}

/// Which side of associations a lookup names.
#[derive(Debug, Clone, Copy)]
enum Side {
    From,
    To,
}

/// The associations whose `side` is one of a portal's records `ids` of `object_type`.
async fn held<B: Backend>(
    store: &B,
    side: Side,
    portal_id: PortalId,
    object_type: &str,
    ids: &[ObjectId],
) -> Result<Vec<HeldAssociation>, StoreError> {
    let side = match side {
        Side::From => "from",
        Side::To => "to",
    };
    let select = format!(
        "SELECT from_type, from_id, to_type, to_id, kinds FROM associations \
        WHERE portal_id = $1 AND {side}_type = $2 AND {} \
        ORDER BY from_type, from_id, to_type, to_id",
        B::in_ids(&format!("{side}_id"), 3)
    );
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let statement = Statement::new(select)
        .bind(portal_id)
        .bind(object_type)
        .bind(Bind::Ids(&ids));
    store.fetch_all_on_pool(statement).await
}
