//! HubSpot's list API as spoke reads it (reference §4, `GET /crm/objects/{version}/{type}`):
//! a type's live records in pages of up to [`MAX_PAGE`], in id order, each page naming the
//! cursor of the next. Backfill pages through a portal's records with it.

use secrecy::SecretString;
use serde::Deserialize;

use crate::crm::{record, CrmClient, ObjectType, RateLimit, Record, WireRecord};
use crate::failure::HubSpotError;

/// Most records one page holds (the list API's `limit`).
pub const MAX_PAGE: usize = 100;

/// One page of a type's records.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub records: Vec<Record>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Deserialize)]
struct WirePage {
    results: Vec<WireRecord>,
    #[serde(default)]
    paging: Option<WirePaging>,
}

/// `paging` of HubSpot's paged answers (list and search alike).
#[derive(Deserialize)]
pub(crate) struct WirePaging {
    next: Option<WireNext>,
}

#[derive(Deserialize)]
struct WireNext {
    after: String,
}

impl WirePaging {
    /// The next page's cursor, if there is one.
    pub(crate) fn after(paging: Option<Self>) -> Option<String> {
        paging.and_then(|p| p.next).map(|n| n.after)
    }
}

impl CrmClient {
    /// The URL of the page after `after` (the first page without one) with `properties`
    /// (HubSpot's defaults when empty). A list call carries its properties in the URL, so
    /// its length decides whether a type's properties fit one call ([`Self::list_page`]).
    pub fn list_url(
        &self,
        object: ObjectType,
        after: Option<&str>,
        properties: &[String],
    ) -> reqwest::Url {
        let mut url = reqwest::Url::parse(&format!(
            "{}{}",
            self.api_base,
            self.version.objects_path(&object.path_name())
        ))
        .expect("the API base is a URL");
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &MAX_PAGE.to_string());
            query.append_pair("archived", "false");
            if let Some(after) = after {
                query.append_pair("after", after);
            }
            if !properties.is_empty() {
                query.append_pair("properties", &properties.join(","));
            }
        }
        url
    }

    /// One page of `object`'s live records: the one after `after`, the first without it.
    pub async fn list_page(
        &self,
        token: &SecretString,
        object: ObjectType,
        after: Option<&str>,
        properties: &[String],
    ) -> Result<Page, HubSpotError> {
        let url = self.list_url(object, after, properties);
        let (_, rate_limit, page): (_, _, WirePage) =
            self.answer(self.http.get(url), token).await?;
        let records = page
            .results
            .into_iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
        let next = WirePaging::after(page.paging);
        // A cursor that does not move would page forever.
        if next.as_deref().is_some_and(|n| Some(n) == after) {
            return Err(HubSpotError::Malformed(
                "a page whose next cursor is its own",
            ));
        }
        Ok(Page {
            records,
            next,
            rate_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::version::ApiVersion;

    use super::*;

    #[test]
    fn a_list_url_names_the_version_the_cursor_and_the_properties() {
        let crm = CrmClient::new("https://api.hubapi.com/", ApiVersion::V2026_03);
        let first = crm.list_url(ObjectType::CONTACTS, None, &[]);
        assert_eq!(
            first.as_str(),
            "https://api.hubapi.com/crm/objects/2026-03/contacts?limit=100&archived=false"
        );
        let properties = ["email".to_owned(), "firstname".to_owned()];
        let next = crm.list_url(ObjectType::custom(7), Some("MTA1"), &properties);
        assert_eq!(
            next.as_str(),
            "https://api.hubapi.com/crm/objects/2026-03/2-7?limit=100&archived=false&after=MTA1&properties=email%2Cfirstname"
        );
        let v3 = CrmClient::new("https://api.hubapi.com", ApiVersion::V3);
        assert!(v3
            .list_url(ObjectType::DEALS, None, &[])
            .path()
            .ends_with("/crm/v3/objects/deals"));
    }
}
