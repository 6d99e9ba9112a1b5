//! HubSpot's associations API as spoke reads it (reference §4, the v4 API and its dated
//! twin): the associations of up to [`MAX_ASSOCIATION_BATCH`] records to one other type in
//! one call, each with its association types (category, type id, label).

use std::collections::{BTreeMap, BTreeSet};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::crm::{CrmClient, ObjectType, RateLimit, Unread, WireBatchError, OBJECT_NOT_FOUND};
use crate::failure::HubSpotError;

/// Most records one associations batch read takes (reference §5: 1,000 since 2025-02-10).
pub const MAX_ASSOCIATION_BATCH: usize = 1_000;

/// One association type of an association: HubSpot's or the portal's, by id and label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationKind {
    pub category: String,
    pub type_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A record associated with the one read, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Associated {
    pub to_id: i64,
    pub kinds: Vec<AssociationKind>,
}

/// What an associations batch read returned for each record asked for.
#[derive(Debug, Clone, Default)]
pub struct AssociationRead {
    /// Each record read, with every record of the other type it is associated with: none
    /// when HubSpot listed none, or said the record is not found (it is gone, and so are
    /// its associations).
    pub read: Vec<(i64, Vec<Associated>)>,
    /// Records with more associations than one answer holds (HubSpot pages them): those
    /// listed are associated, others may be too.
    pub paged: Vec<i64>,
    /// Records HubSpot answered with another error: read them again.
    pub unread: Vec<Unread>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Deserialize)]
struct WireAnswer {
    #[serde(default)]
    results: Vec<WireResult>,
    #[serde(default)]
    errors: Vec<WireBatchError>,
}

#[derive(Deserialize)]
struct WireResult {
    from: WireId,
    #[serde(default)]
    to: Vec<WireTo>,
    #[serde(default)]
    paging: Option<Value>,
}

#[derive(Deserialize)]
struct WireId {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTo {
    /// A string in HubSpot's spec; numbers are accepted too.
    to_object_id: Value,
    #[serde(default)]
    association_types: Vec<AssociationKind>,
}

impl CrmClient {
    /// Reads the associations of up to [`MAX_ASSOCIATION_BATCH`] records of `from` to
    /// records of `to`. Duplicate ids are read once.
    pub async fn association_batch_read(
        &self,
        token: &SecretString,
        from: ObjectType,
        to: ObjectType,
        ids: &[i64],
    ) -> Result<AssociationRead, HubSpotError> {
        assert!(
            ids.len() <= MAX_ASSOCIATION_BATCH,
            "at most {MAX_ASSOCIATION_BATCH} ids a batch"
        );
        let asked: BTreeSet<i64> = ids.iter().copied().collect();
        let inputs: Vec<Value> = asked
            .iter()
            .map(|id| json!({ "id": id.to_string() }))
            .collect();
        let path = self
            .version
            .associations_path(&from.path_name(), &to.path_name());
        let request = self
            .http
            .post(format!("{}{path}/batch/read", self.api_base))
            .json(&json!({ "inputs": inputs }));
        let (_, rate_limit, answer): (_, _, WireAnswer) = self.answer(request, token).await?;
        let mut read = sort(&asked, answer)?;
        read.rate_limit = rate_limit;
        Ok(read)
    }
}

/// Each record asked for, judged once: associations listed (paged, or listed in pieces:
/// then those not listed are not known to be gone), none (`OBJECT_NOT_FOUND`: HubSpot's
/// answer for a record without associations of the type, `NO_ASSOCIATIONS_FOUND`, and for
/// one that does not exist; or not listed while every other error names its records), or
/// unread (another error, or not listed beside another error that names no record).
/// Errors name their records in `context.fromObjectId` (or `context.ids`).
fn sort(asked: &BTreeSet<i64>, answer: WireAnswer) -> Result<AssociationRead, HubSpotError> {
    let mut out = AssociationRead::default();
    let mut listed: BTreeMap<i64, Vec<WireTo>> = BTreeMap::new();
    for result in answer.results {
        let from: i64 = result.from.id.parse().map_err(|_| malformed())?;
        if !asked.contains(&from) {
            continue;
        }
        let pieces = listed.entry(from).or_default();
        if !pieces.is_empty() || result.paging.is_some_and(|p| !p.is_null()) {
            out.paged.push(from);
        }
        pieces.extend(result.to);
    }
    let mut judged: BTreeSet<i64> = listed.keys().copied().collect();
    for (from, to) in listed {
        out.read.push((from, associated(to)?));
    }
    out.paged.sort_unstable();
    out.paged.dedup();
    let mut unattributed = None;
    for error in answer.errors {
        let context = &error.context;
        let named: Vec<i64> = context
            .ids
            .iter()
            .chain(&context.from_object_ids)
            .filter_map(|id| id.parse().ok())
            .collect();
        let gone = error.category == OBJECT_NOT_FOUND;
        if named.is_empty() && !gone {
            unattributed.get_or_insert(error.category.clone());
        }
        for id in named {
            if !asked.contains(&id) || !judged.insert(id) {
                continue;
            }
            if gone {
                out.read.push((id, Vec::new()));
            } else {
                out.unread.push(Unread {
                    id,
                    category: error.category.clone(),
                });
            }
        }
    }
    for &id in asked.difference(&judged) {
        match &unattributed {
            Some(category) => out.unread.push(Unread {
                id,
                category: category.clone(),
            }),
            None => out.read.push((id, Vec::new())),
        }
    }
    Ok(out)
}

fn malformed() -> HubSpotError {
    HubSpotError::Malformed("an association whose record id is not a number")
}

/// The records one record is associated with, each once, its kinds sorted and each once
/// (so an answer listing the same in another order is the same answer).
fn associated(to: Vec<WireTo>) -> Result<Vec<Associated>, HubSpotError> {
    let mut by_id: BTreeMap<i64, BTreeSet<AssociationKind>> = BTreeMap::new();
    for to in to {
        let to_id = match &to.to_object_id {
            Value::String(id) => id.parse().ok(),
            other => other.as_i64(),
        };
        by_id
            .entry(to_id.ok_or_else(malformed)?)
            .or_default()
            .extend(to.association_types);
    }
    Ok(by_id
        .into_iter()
        .map(|(to_id, kinds)| Associated {
            to_id,
            kinds: kinds.into_iter().collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: Value) -> WireAnswer {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_record_asked_for_is_judged_once() {
        let asked: BTreeSet<i64> = [1, 2, 3, 4, 5].into();
        let read = sort(
            &asked,
            answer(json!({
                "results": [
                    {"from": {"id": "1"}, "to": [{"toObjectId": "10", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279}]}]},
                    {"from": {"id": "2"}, "to": [{"toObjectId": 11, "associationTypes": [{"category": "USER_DEFINED", "typeId": 7, "label": "Buyer"}]}],
                     "paging": {"next": {"after": "x"}}},
                    {"from": {"id": "1"}, "to": []},
                    {"from": {"id": "99"}, "to": []}
                ],
                "errors": [
                    {"category": "OBJECT_NOT_FOUND", "context": {"ids": ["3", "1"]}},
                    {"category": "INTERNAL_ERROR", "context": {"ids": ["4"]}}
                ]
            })),
        )
        .unwrap();
        let ids: Vec<(i64, usize)> = read.read.iter().map(|(id, a)| (*id, a.len())).collect();
        assert_eq!(ids, [(1, 1), (2, 1), (3, 0), (5, 0)]);
        assert_eq!(read.read[1].1[0].kinds[0].label.as_deref(), Some("Buyer"));
        assert_eq!(read.read[1].1[0].to_id, 11);
        assert_eq!(
            read.paged,
            [1, 2],
            "listed twice, or paged: not known complete"
        );
        assert_eq!(
            read.unread,
            [Unread {
                id: 4,
                category: "INTERNAL_ERROR".into()
            }]
        );
    }

    /// HubSpot answers a record without associations of the type with a per-record
    /// `NO_ASSOCIATIONS_FOUND` error naming it in `context.fromObjectId`.
    #[test]
    fn no_associations_found_is_none_and_another_error_is_unread() {
        let asked: BTreeSet<i64> = [1, 2, 3].into();
        let read = sort(
            &asked,
            answer(json!({"results": [], "errors": [
                {"category": "OBJECT_NOT_FOUND", "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                 "context": {"fromObjectId": ["1"]}},
                {"category": "OBJECT_NOT_FOUND", "context": {}},
                {"category": "RATE_LIMITS", "context": {"fromObjectId": ["2"]}}
            ]})),
        )
        .unwrap();
        assert_eq!(read.read, [(1, vec![]), (3, vec![])]);
        assert_eq!(
            read.unread,
            [Unread {
                id: 2,
                category: "RATE_LIMITS".into()
            }]
        );
    }

    #[test]
    fn kinds_are_sorted_and_each_record_listed_once() {
        let asked: BTreeSet<i64> = [1].into();
        let kind = |id: i64| json!({"category": "HUBSPOT_DEFINED", "typeId": id});
        let read = sort(
            &asked,
            answer(json!({"results": [{"from": {"id": "1"}, "to": [
                {"toObjectId": "10", "associationTypes": [kind(9), kind(1)]},
                {"toObjectId": "10", "associationTypes": [kind(1)]}
            ]}]})),
        )
        .unwrap();
        let kinds: Vec<i64> = read.read[0].1[0].kinds.iter().map(|k| k.type_id).collect();
        assert_eq!((read.read[0].1.len(), kinds), (1, vec![1, 9]));
    }

    #[test]
    fn a_record_not_listed_beside_an_error_naming_none_is_unread() {
        let asked: BTreeSet<i64> = [1, 2].into();
        let read = sort(
            &asked,
            answer(json!({"results": [{"from": {"id": "1"}, "to": []}],
                          "errors": [{"category": "INTERNAL_ERROR", "context": {}}]})),
        )
        .unwrap();
        assert_eq!(read.read.len(), 1);
        assert_eq!(
            read.unread,
            [Unread {
                id: 2,
                category: "INTERNAL_ERROR".into()
            }]
        );
    }

    #[test]
    fn an_id_that_is_not_a_number_is_malformed() {
        let asked: BTreeSet<i64> = [1].into();
        let bad = answer(json!({"results": [{"from": {"id": "1"}, "to": [{"toObjectId": "x"}]}]}));
        assert!(sort(&asked, bad).is_err());
    }
}
