//! HubSpot's CRM API as spoke reads it (reference §4), at the configured
//! [`ApiVersion`]: the object types with their names, scopes and last-modified properties,
//! and a client that reads one record or up to [`MAX_BATCH`] in one call, and lists a
//! type's properties. Failures are [`HubSpotError`]s, classified as the OAuth
//! client's are; successes carry the `X-HubSpot-RateLimit-*` figures so a caller can keep
//! its own limiter in step with HubSpot's count.

use std::collections::BTreeSet;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::failure::HubSpotError;
pub use crate::object_type::{ObjectType, CUSTOM_READ_SCOPE};
pub use crate::record_properties::Properties;
use crate::version::ApiVersion;

/// Most ids one batch read takes ("batch operations are limited to 100 records").
pub const MAX_BATCH: usize = 100;

/// Longest wait for one CRM call; a slower answer is a transient failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A record as the CRM returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: i64,
    pub properties: Properties,
    /// `updatedAt`, epoch milliseconds: the instant "newer wins" compares.
    pub updated_at: i64,
    pub archived: bool,
}

/// HubSpot's count of this portal's calls, from the `X-HubSpot-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub remaining: u32,
    pub interval: Duration,
}

/// What a batch read returned: the records found (in no promised order), the ids HubSpot
/// reported not found, those it did not read, and the rate-limit figures.
#[derive(Debug, Clone, Default)]
pub struct BatchRead {
    /// The HTTP status HubSpot answered: `200`, or `207` when v3 and `2026-03` report
    /// per-id errors (`2026-09` reports them in a `200`).
    pub status: u16,
    pub records: Vec<Record>,
    /// Ids answered `OBJECT_NOT_FOUND` (in `errors`): deleted, or never there.
    pub missing: Vec<i64>,
    /// Ids answered with another error category, or not answered at all: a failure of
    /// that id's read, not a deletion. Read them again.
    pub unread: Vec<Unread>,
    pub rate_limit: Option<RateLimit>,
}

/// An id a batch read did not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub id: i64,
    /// HubSpot's error category for the id, or [`Unread::NO_ANSWER`].
    pub category: String,
}

impl Unread {
    /// The id was in neither `results` nor `errors`.
    pub const NO_ANSWER: &'static str = "NO_ANSWER";
}

/// The one per-id error category that means the record is gone.
pub const OBJECT_NOT_FOUND: &str = "OBJECT_NOT_FOUND";

/// Calls the CRM API with a portal's access token.
#[derive(Debug, Clone)]
pub struct CrmClient {
    pub(crate) api_base: String,
    pub(crate) version: ApiVersion,
    pub(crate) http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireRecord {
    id: String,
    #[serde(default)]
    properties: Properties,
    updated_at: String,
    #[serde(default)]
    archived: bool,
}

#[derive(Deserialize)]
struct WireSchemas {
    results: Vec<WireSchema>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSchema {
    object_type_id: String,
    #[serde(default)]
    archived: bool,
}

#[derive(Deserialize)]
struct WireBatch {
    results: Vec<WireRecord>,
    #[serde(default)]
    errors: Vec<WireBatchError>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireBatchError {
    #[serde(default)]
    pub(crate) category: String,
    #[serde(default)]
    pub(crate) context: WireContext,
}

#[derive(Deserialize)]
struct WireProperties {
    results: Vec<WireProperty>,
}

#[derive(Deserialize)]
struct WireProperty {
    name: String,
    #[serde(default)]
    archived: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireContext {
    #[serde(default)]
    pub(crate) ids: Vec<String>,
    /// The associations API names the records of its per-record errors here.
    #[serde(default, rename = "fromObjectId")]
    pub(crate) from_object_ids: Vec<String>,
}

/// Of the ids asked for, those answered not found, and those not read: named with another
/// error category, or in neither `results` nor `errors`. An id is judged once, by its
/// first answer; errors naming ids not asked for are ignored.
fn sort_answers(
    asked: &[i64],
    records: &[Record],
    errors: Vec<WireBatchError>,
) -> (Vec<i64>, Vec<Unread>) {
    let asked: BTreeSet<i64> = asked.iter().copied().collect();
    let mut answered: BTreeSet<i64> = records.iter().map(|r| r.id).collect();
    let (mut missing, mut unread) = (Vec::new(), Vec::new());
    for error in errors {
        for id in error.context.ids.iter().filter_map(|id| id.parse().ok()) {
            if !asked.contains(&id) || !answered.insert(id) {
                continue;
            }
            if error.category == OBJECT_NOT_FOUND {
                missing.push(id);
            } else {
                unread.push(Unread {
                    id,
                    category: error.category.clone(),
                });
            }
        }
    }
    unread.extend(asked.difference(&answered).map(|&id| Unread {
        id,
        category: Unread::NO_ANSWER.to_owned(),
    }));
    (missing, unread)
}

impl CrmClient {
    /// A client for the API at `api_base` (`https://api.hubapi.com`, or the simulator),
    /// calling `version`'s paths.
    pub fn new(api_base: &str, version: ApiVersion) -> Self {
        let http = crate::outbound::client(CALL_TIMEOUT);
        Self {
            api_base: api_base.trim_end_matches('/').to_owned(),
            version,
            http,
        }
    }

    pub fn version(&self) -> ApiVersion {
        self.version
    }

    fn objects_url(&self, object: ObjectType) -> String {
        format!(
            "{}{}",
            self.api_base,
            self.version.objects_path(&object.path_name())
        )
    }

    /// Reads up to [`MAX_BATCH`] records by id with `properties` (HubSpot's defaults when
    /// empty). Duplicate ids are read once. Per-id errors are a success, whether they come
    /// in a `207` (v3, `2026-03`) or a `200` (`2026-09`): of the ids they name, those not
    /// found are in [`BatchRead::missing`] and the rest, with every id answered not at
    /// all, in [`BatchRead::unread`].
    pub async fn batch_read(
        &self,
        token: &SecretString,
        object: ObjectType,
        ids: &[i64],
        properties: &[String],
    ) -> Result<BatchRead, HubSpotError> {
        assert!(ids.len() <= MAX_BATCH, "at most {MAX_BATCH} ids a batch");
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let inputs: Vec<Value> = unique
            .iter()
            .map(|id| json!({ "id": id.to_string() }))
            .collect();
        let url = format!("{}/batch/read", self.objects_url(object));
        let body =
            json!({ "inputs": inputs, "properties": properties, "propertiesWithHistory": [] });
        let answer = self.answer(self.http.post(url).json(&body), token).await?;
        let (status, rate_limit, batch): (_, _, WireBatch) = answer;
        let records = batch
            .results
            .into_iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
        let (missing, unread) = sort_answers(&unique, &records, batch.errors);
        Ok(BatchRead {
            status,
            records,
            missing,
            unread,
            rate_limit,
        })
    }

    /// Sends `request` with the token: HubSpot's status, rate-limit figures and answer; any
    /// other than a `2xx` is the error it classifies as.
    pub(crate) async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        token: &SecretString,
    ) -> Result<(u16, Option<RateLimit>, T), HubSpotError> {
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(HubSpotError::unreachable)?;
        if !response.status().is_success() {
            return Err(HubSpotError::from_answer(response).await);
        }
        let status = response.status().as_u16();
        let rate_limit = rate_limit(response.headers());
        let answer = response.json().await.map_err(HubSpotError::unexpected)?;
        Ok((status, rate_limit, answer))
    }

    /// The names of every property `object` has in the token's portal, HubSpot's own and
    /// the portal's (archived ones left out), from the properties API.
    pub async fn property_names(
        &self,
        token: &SecretString,
        object: ObjectType,
    ) -> Result<(Vec<String>, Option<RateLimit>), HubSpotError> {
        let url = format!(
            "{}{}",
            self.api_base,
            self.version.properties_path(&object.path_name())
        );
        let (_, rate_limit, list): (_, _, WireProperties) =
            self.answer(self.http.get(url), token).await?;
        let names = list
            .results
            .into_iter()
            .filter(|p| !p.archived)
            .map(|p| p.name)
            .collect();
        Ok((names, rate_limit))
    }

    /// The type ids of the custom objects the token's portal defines (archived ones left
    /// out), from the schemas API, without their property and association definitions.
    pub async fn custom_object_types(
        &self,
        token: &SecretString,
    ) -> Result<(Vec<ObjectType>, Option<RateLimit>), HubSpotError> {
        let url = format!("{}{}", self.api_base, self.version.schemas_path());
        let request = self.http.get(url).query(&[
            ("includePropertyDefinitions", "false"),
            ("includeAssociationDefinitions", "false"),
            ("includeAuditMetadata", "false"),
        ]);
        let (_, rate_limit, list): (_, _, WireSchemas) = self.answer(request, token).await?;
        // Only `2-…` ids name a custom object spoke can read by id; anything else is left out.
        let types = list
            .results
            .into_iter()
            .filter(|s| !s.archived)
            .filter_map(|s| ObjectType::from_path(&s.object_type_id).filter(|o| o.is_custom()))
            .collect();
        Ok((types, rate_limit))
    }

    /// Reads one record; a record that does not exist (or is archived) is a `404`,
    /// [`crate::failure::Kind::NotFound`].
    pub async fn read(
        &self,
        token: &SecretString,
        object: ObjectType,
        id: i64,
        properties: &[String],
    ) -> Result<(Record, Option<RateLimit>), HubSpotError> {
        let url = format!("{}/{id}", self.objects_url(object));
        let mut request = self.http.get(url).bearer_auth(token.expose_secret());
        if !properties.is_empty() {
            request = request.query(&[("properties", properties.join(","))]);
        }
        let response = request.send().await.map_err(HubSpotError::unreachable)?;
        if !response.status().is_success() {
            return Err(HubSpotError::from_answer(response).await);
        }
        let rate_limit = rate_limit(response.headers());
        let wire: WireRecord = response.json().await.map_err(HubSpotError::unexpected)?;
        Ok((record(wire)?, rate_limit))
    }
}

/// A record from the wire; refused whole if its id or `updatedAt` does not parse, since a
/// record spoke cannot order must not be stored.
pub(crate) fn record(wire: WireRecord) -> Result<Record, HubSpotError> {
    let malformed =
        || HubSpotError::Malformed("a record without a numeric id or an RFC 3339 updatedAt");
    Ok(Record {
        id: wire.id.parse().map_err(|_| malformed())?,
        updated_at: chrono::DateTime::parse_from_rfc3339(&wire.updated_at)
            .map_err(|_| malformed())?
            .timestamp_millis(),
        properties: wire.properties,
        archived: wire.archived,
    })
}

/// The `X-HubSpot-RateLimit-*` figures, when all three are there.
pub fn rate_limit(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(RateLimit {
        max: u32::try_from(number("x-hubspot-ratelimit-max")?).ok()?,
        remaining: u32::try_from(number("x-hubspot-ratelimit-remaining")?).ok()?,
        interval: Duration::from_millis(number("x-hubspot-ratelimit-interval-milliseconds")?)
            .min(crate::time::LONGEST_WAIT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_need_all_three_figures() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-hubspot-ratelimit-max", "110".parse().unwrap());
        headers.insert("x-hubspot-ratelimit-remaining", "7".parse().unwrap());
        assert_eq!(rate_limit(&headers), None);
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            "10000".parse().unwrap(),
        );
        assert_eq!(
            rate_limit(&headers),
            Some(RateLimit {
                max: 110,
                remaining: 7,
                interval: Duration::from_secs(10),
            })
        );
    }

    #[test]
    fn a_record_with_an_unparsable_time_is_refused() {
        let wire = |updated_at: &str| WireRecord {
            id: "12".into(),
            properties: Properties::default(),
            updated_at: updated_at.into(),
            archived: false,
        };
        assert_eq!(
            record(wire("2026-01-02T03:04:05.006Z"))
                .map(|r| (r.id, r.updated_at))
                .ok(),
            Some((12, 1_767_323_045_006))
        );
        assert!(matches!(
            record(wire("yesterday")),
            Err(HubSpotError::Malformed(_))
        ));
    }

    #[test]
    fn only_not_found_is_a_deletion_and_an_id_without_an_answer_is_read_again() {
        let error = |category: &str, ids: &[&str]| WireBatchError {
            category: category.into(),
            context: WireContext {
                ids: ids.iter().map(|id| (*id).to_owned()).collect(),
                ..WireContext::default()
            },
        };
        let found = Record {
            id: 1,
            properties: Properties::default(),
            updated_at: 5,
            archived: false,
        };
        let (missing, unread) = sort_answers(
            &[1, 2, 3, 4, 5],
            &[found],
            vec![
                error(OBJECT_NOT_FOUND, &["2", "99"]),
                error("INTERNAL_ERROR", &["3", "2", "x"]),
            ],
        );
        assert_eq!(missing, [2], "99 was not asked for");
        let unread: Vec<(i64, &str)> = unread.iter().map(|u| (u.id, u.category.as_str())).collect();
        assert_eq!(
            unread,
            [
                (3, "INTERNAL_ERROR"),
                (4, Unread::NO_ANSWER),
                (5, Unread::NO_ANSWER)
            ],
            "2 is judged by its first answer"
        );
    }

    #[test]
    fn a_rate_limit_interval_is_at_most_a_day() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-hubspot-ratelimit-max", "110".parse().unwrap());
        headers.insert("x-hubspot-ratelimit-remaining", "7".parse().unwrap());
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            "18446744073709551615".parse().unwrap(),
        );
        let seen = rate_limit(&headers).expect("all three figures");
        assert_eq!(seen.interval, crate::time::LONGEST_WAIT);
    }

    mod properties {
        use std::collections::BTreeSet;

        use proptest::prelude::*;

        use super::*;

        fn error() -> impl Strategy<Value = WireBatchError> {
            let category = prop_oneof![
                Just(OBJECT_NOT_FOUND.to_owned()),
                Just("INTERNAL_ERROR".to_owned()),
                Just(String::new()),
                "[A-Z_]{1,12}",
            ];
            let id = prop_oneof![(0..40i64).prop_map(|id| id.to_string()), ".{0,4}"];
            (category, proptest::collection::vec(id, 0..8)).prop_map(|(category, ids)| {
                WireBatchError {
                    category,
                    context: WireContext {
                        ids,
                        ..WireContext::default()
                    },
                }
            })
        }

        proptest! {
            /// Whatever a `207` says, each id asked for is judged exactly once: found,
            /// missing (only when HubSpot said not found) or unread; ids nobody asked for
            /// are judged not at all.
            #[test]
            fn every_asked_id_is_judged_once_and_only_not_found_is_missing(
                asked in proptest::collection::btree_set(0..40i64, 1..20),
                found in proptest::collection::vec(0..40i64, 0..20),
                errors in proptest::collection::vec(error(), 0..6),
            ) {
                let asked: Vec<i64> = asked.into_iter().collect();
                let records: Vec<Record> = found
                    .iter()
                    .map(|id| Record { id: *id, properties: Properties::default(), updated_at: 1, archived: false })
                    .collect();
                let not_found: BTreeSet<i64> = errors
                    .iter()
                    .filter(|e| e.category == OBJECT_NOT_FOUND)
                    .flat_map(|e| e.context.ids.iter().filter_map(|id| id.parse().ok()))
                    .collect();
                let (missing, unread) = sort_answers(&asked, &records, errors);
                let found: BTreeSet<i64> = found.into_iter().collect();
                for id in &asked {
                    let judged = [
                        found.contains(id),
                        missing.contains(id),
                        unread.iter().any(|u| u.id == *id),
                    ];
                    prop_assert_eq!(judged.iter().filter(|j| **j).count(), 1, "id {}: {:?}", id, judged);
                }
                for id in &missing {
                    prop_assert!(asked.contains(id) && not_found.contains(id) && !found.contains(id));
                }
                for u in &unread {
                    prop_assert!(asked.contains(&u.id));
                }
            }

            /// Rate-limit headers of any size are read without overflow or panic, and a
            /// window is never longer than a day.
            #[test]
            fn any_rate_limit_headers_are_read_within_bounds(
                max in "[0-9]{1,25}",
                remaining in "[0-9]{1,25}",
                interval in "[0-9]{1,25}",
            ) {
                let mut headers = reqwest::header::HeaderMap::new();
                headers.insert("x-hubspot-ratelimit-max", max.parse().unwrap());
                headers.insert("x-hubspot-ratelimit-remaining", remaining.parse().unwrap());
                headers.insert("x-hubspot-ratelimit-interval-milliseconds", interval.parse().unwrap());
                if let Some(seen) = rate_limit(&headers) {
                    prop_assert!(seen.interval <= crate::time::LONGEST_WAIT);
                }
            }
        }
    }
}
