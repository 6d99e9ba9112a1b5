//! HubSpot's CRM search API as reconciliation uses it (reference §5.1): the records of a
//! type modified since an instant, oldest first, 200 a page; and a type's count. Search
//! has its own limit (about 5 calls a second per token) and sends no rate-limit headers,
//! so its caller keeps its own count. No query pages past [`MAX_SEARCH_RESULTS`]: a caller
//! moves its `since` forward and searches again.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::crm::{record, CrmClient, ObjectType, WireRecord};
use crate::failure::HubSpotError;
use crate::listing::WirePaging;

/// Most records one search page holds.
pub const MAX_SEARCH_PAGE: usize = 200;
/// The most results one query pages through ("paging past that returns 400").
pub const MAX_SEARCH_RESULTS: usize = 10_000;

/// A record found: its id and `updatedAt` (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub id: i64,
    pub updated_at: i64,
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    pub found: Vec<Found>,
    /// How many records the query matches in all.
    pub total: u64,
    /// The next page's cursor; `None` on the last, or where the query cannot page further.
    pub next: Option<String>,
}

#[derive(Deserialize)]
struct WireSearch {
    #[serde(default)]
    total: u64,
    results: Vec<WireRecord>,
    #[serde(default)]
    paging: Option<WirePaging>,
}

impl CrmClient {
    /// A page of `object`'s records modified at or after `since_ms`, oldest first (ties by
    /// id), from `after` (the first page without).
    pub async fn search_modified(
        &self,
        token: &SecretString,
        object: ObjectType,
        since_ms: i64,
        after: Option<&str>,
    ) -> Result<SearchPage, HubSpotError> {
        let modified = object.last_modified_property();
        let body = json!({
            "filterGroups": [{ "filters": [
                { "propertyName": modified, "operator": "GTE", "value": since_ms.to_string() }
            ]}],
            "sorts": [{ "propertyName": modified, "direction": "ASCENDING" }],
            "properties": [modified],
            "limit": MAX_SEARCH_PAGE,
            "after": after,
        });
        self.search(token, object, &body).await
    }

    /// How many live records of `object` the portal has.
    pub async fn count(
        &self,
        token: &SecretString,
        object: ObjectType,
    ) -> Result<u64, HubSpotError> {
        let body = json!({ "limit": 1, "properties": ["hs_object_id"] });
        Ok(self.search(token, object, &body).await?.total)
    }

    async fn search(
        &self,
        token: &SecretString,
        object: ObjectType,
        body: &serde_json::Value,
    ) -> Result<SearchPage, HubSpotError> {
        let url = format!(
            "{}{}/search",
            self.api_base,
            self.version.objects_path(&object.path_name())
        );
        let (_, _, page): (_, _, WireSearch) =
            self.answer(self.http.post(url).json(body), token).await?;
        let found = page
            .results
            .into_iter()
            .map(|wire| {
                record(wire).map(|r| Found {
                    id: r.id,
                    updated_at: r.updated_at,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SearchPage {
            found,
            total: page.total,
            next: WirePaging::after(page.paging),
        })
    }
}
