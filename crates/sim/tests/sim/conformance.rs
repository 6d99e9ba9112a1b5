//! CRM responses validated against the schemas of HubSpot's own OpenAPI spec, at each API
//! version the simulator serves.

use reqwest::Method;
use reqwest::StatusCode;
use rstest::rstest;
use serde_json::{json, Value};
use spoke_sim::objects::{ObjectType, Simulated, CARS, SIMULATED};

use crate::support::*;

/// A CRM API version as HubSpot serves it: where its object API lives, the spec its
/// answers conform to, and how a batch read with per-id errors is answered.
#[derive(Debug, Clone, Copy)]
struct Served {
    objects: &'static str,
    spec: &'static str,
    partial: StatusCode,
    partial_schema: &'static str,
}

const V3: Served = Served {
    objects: "/crm/v3/objects",
    spec: "crm-objects-v3.json",
    partial: StatusCode::MULTI_STATUS,
    partial_schema: "BatchResponseSimplePublicObjectWithErrors",
};
const V2026_03: Served = Served {
    objects: "/crm/objects/2026-03",
    spec: "crm-objects-2026-03.json",
    partial: StatusCode::MULTI_STATUS,
    partial_schema: "BatchResponseSimplePublicObjectWithErrors",
};
const V2026_09: Served = Served {
    objects: "/crm/objects/2026-09",
    spec: "crm-objects-2026-09.json",
    partial: StatusCode::OK,
    partial_schema: "BatchResponseSimplePublicObject",
};

impl Served {
    fn assert_conforms(&self, schema: &str, instance: &Value) {
        assert_conforms_to(self.spec, schema, instance);
    }
}

/// Fails unless `instance` conforms to `components.schemas.<schema>` of the v3 CRM spec.
fn assert_conforms(schema: &str, instance: &Value) {
    V3.assert_conforms(schema, instance);
}

async fn crm(sim: &spoke_sim::RunningSim, token: &str) -> (reqwest::Client, String, String) {
    (
        reqwest::Client::new(),
        sim.base_url(),
        format!("Bearer {token}"),
    )
}

#[rstest]
#[tokio::test]
async fn read_one_conforms_and_selects_properties(
    #[values(V3, V2026_03, V2026_09)] served: Served,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let objects = format!("{base}{}", served.objects);
    for object in SIMULATED {
        let id = object.id_base() + 7;
        let url = format!("{objects}/{}/{id}", object.path_name());
        let body: Value = http
            .get(&url)
            .header("authorization", &auth)
            .fetch_json()
            .await;
        served.assert_conforms("SimplePublicObjectWithAssociations", &body);
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["properties"]["hs_object_id"], id.to_string());
    }
    let url = format!(
        "{objects}/0-1/{}?properties=email,nosuchproperty&properties=firstname",
        ObjectType::CONTACTS.id_base() + 1
    );
    let body: Value = http
        .get(&url)
        .header("authorization", &auth)
        .fetch_json()
        .await;
    served.assert_conforms("SimplePublicObjectWithAssociations", &body);
    let mut names: Vec<&str> = body["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate"
        ]
    );
}

#[rstest]
#[tokio::test]
async fn batch_read_is_200_when_complete_and_reports_missing_ids_as_the_version_does(
    #[values(V3, V2026_03, V2026_09)] served: Served,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let url = format!("{base}{}/deals/batch/read", served.objects);
    let id = |i: i64| (ObjectType::DEALS.id_base() + i).to_string();

    let complete = http
        .post(&url)
        .header("authorization", &auth)
        .json(&json!({"inputs": [{"id": id(1)}, {"id": id(2)}], "properties": ["dealname"], "propertiesWithHistory": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(complete.status(), StatusCode::OK);
    let body: Value = complete.json().await.unwrap();
    served.assert_conforms("BatchResponseSimplePublicObject", &body);
    assert_eq!(body["results"].as_array().unwrap().len(), 2);

    let partial = http
        .post(&url)
        .header("authorization", &auth)
        .json(&json!({"inputs": [{"id": id(3)}, {"id": "999"}, {"id": id(3)}], "properties": [], "propertiesWithHistory": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), served.partial);
    let body: Value = partial.json().await.unwrap();
    served.assert_conforms(served.partial_schema, &body);
    assert_eq!(
        body["results"].as_array().unwrap().len(),
        1,
        "a repeated id is read once"
    );
    assert_eq!(body["errors"][0]["context"]["ids"], json!(["999"]));
    assert_eq!(body["numErrors"], 1);
    served.assert_conforms("StandardError", &body["errors"][0]);

    let too_many: Vec<Value> = (1..=101).map(|i| json!({"id": id(i)})).collect();
    let refused = http
        .post(&url)
        .header("authorization", &auth)
        .json(&json!({"inputs": too_many, "properties": [], "propertiesWithHistory": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    served.assert_conforms("Error", &refused.json().await.unwrap());
}

/// `2026-09` returns a property the type has but the record leaves empty as `null`, which
/// its spec allows; v3's spec does not, and v3 leaves it out.
#[tokio::test]
async fn only_2026_09_answers_an_empty_property_with_null() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let without_phone = contact_without_phone(&sim, portal);
    for (served, phone) in [(V3, None), (V2026_09, Some(Value::Null))] {
        let url = format!(
            "{base}{}/contacts/{without_phone}?properties=phone,email",
            served.objects
        );
        let body: Value = http
            .get(&url)
            .header("authorization", &auth)
            .fetch_json()
            .await;
        served.assert_conforms("SimplePublicObjectWithAssociations", &body);
        assert_eq!(
            body["properties"].get("phone"),
            phone.as_ref(),
            "{served:?}"
        );
    }
}

/// The properties API lists every property of a type, a few hundred on contacts, in the
/// spec's shape, at each version; it needs the type's read scope.
#[rstest]
#[tokio::test]
async fn the_properties_api_lists_every_property_of_a_type(
    #[values(
        "/crm/v3/properties",
        "/crm/properties/2026-03",
        "/crm/properties/2026-09"
    )]
    properties: &str,
) {
    let mut narrow = settings();
    narrow.scopes = "oauth crm.objects.contacts.read".into();
    let sim = sim(narrow).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let list: Value = http
        .get(format!("{base}{properties}/contacts"))
        .header("authorization", &auth)
        .fetch_json()
        .await;
    assert_conforms_to(
        "crm-properties-2026-03.json",
        "CollectionResponsePropertyNoPaging",
        &list,
    );
    let names: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), ObjectType::CONTACTS.property_names().len());
    assert!(names.len() >= 300 && names.contains(&"email"), "{names:?}");
    let refused = http
        .get(format!("{base}{properties}/deals"))
        .header("authorization", &auth)
        .fetch_status()
        .await;
    assert_eq!(refused, StatusCode::FORBIDDEN);
}

/// The schemas API lists the portal's custom object, with or without its properties, at
/// each version, as HubSpot's 2026-03 spec has it.
#[rstest]
#[tokio::test]
async fn the_schemas_api_lists_the_portals_custom_object(
    #[values(
        "/crm/v3/schemas",
        "/crm-object-schemas/2026-03/schemas",
        "/crm-object-schemas/2026-09/schemas"
    )]
    schemas: &str,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let list = |query: &'static str| {
        http.get(format!("{base}{schemas}{query}"))
            .header("authorization", &auth)
            .fetch_json::<Value>()
    };
    let full = list("").await;
    assert_conforms_to(
        "crm-schemas-2026-03.json",
        "CollectionResponseObjectSchemaNoPaging",
        &full,
    );
    let cars = &full["results"][0];
    assert_eq!(cars["objectTypeId"], CARS.type_id().as_ref());
    assert_eq!(cars["fullyQualifiedName"], format!("p{portal}_cars"));
    let properties = cars["properties"].as_array().unwrap();
    assert_eq!(properties.len(), CARS.property_names().len());
    assert!(properties.iter().any(|p| p["name"] == "model"));
    let bare = list("?includePropertyDefinitions=false").await;
    assert_eq!(bare["results"][0]["properties"], json!([]));
    let archived = list("?archived=true").await;
    assert_eq!(archived["results"], json!([]));

    let records = format!(
        "{base}/crm/objects/2026-03/{}/{}",
        CARS.type_id(),
        CARS.id_base() + 3
    );
    let car: Value = http
        .get(&records)
        .header("authorization", &auth)
        .fetch_json()
        .await;
    assert!(car["properties"]["make"].is_string(), "{car}");
    let unknown = http
        .get(format!("{base}/crm/objects/2026-03/2-1/1"))
        .header("authorization", &auth)
        .fetch_status()
        .await;
    assert_eq!(unknown, StatusCode::BAD_REQUEST);
}

/// Associating two records (the app's default-association write) associates them both
/// ways and notifies both sides; the batch read of either direction, at v4 and 2026-03,
/// conforms to HubSpot's spec; removing it empties both directions.
#[rstest]
#[tokio::test]
async fn associations_are_written_both_ways_and_read_in_batches(
    #[values(("/crm/v4", "crm-associations-v4.json"), ("/crm/associations/2026-03", "crm-associations-2026-03.json"))]
    (reads, spec): (&str, &str),
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let (contact, company) = (
        ObjectType::CONTACTS.id_base() + 1,
        ObjectType::COMPANIES.id_base() + 2,
    );
    let write = format!(
        "{base}/crm/objects/2026-03/contacts/{contact}/associations/default/companies/{company}"
    );
    let made = http
        .put(&write)
        .header("authorization", &auth)
        .fetch_json::<Value>()
        .await;
    assert_eq!(
        made["results"][0]["to"]["id"],
        company.to_string(),
        "{made}"
    );
    let batch = |from: &'static str, to: &'static str, ids: Vec<i64>| {
        let url = if reads == "/crm/v4" {
            format!("{base}/crm/v4/associations/{from}/{to}/batch/read")
        } else {
            format!("{base}{reads}/{from}/{to}/batch/read")
        };
        let inputs: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "id": id.to_string() }))
            .collect();
        http.post(url)
            .header("authorization", &auth)
            .json(&json!({ "inputs": inputs }))
            .send()
    };
    let read = batch("contacts", "companies", vec![contact]).await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_conforms_to(spec, "BatchResponsePublicAssociationMultiWithLabel", &read);
    let to = &read["results"][0]["to"][0];
    assert_eq!(to["toObjectId"], company.to_string());
    assert_eq!(to["associationTypes"][0]["typeId"], 279);
    let back: Value = batch("companies", "contacts", vec![company, 5])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_conforms_to(
        spec,
        "BatchResponsePublicAssociationMultiWithLabelWithErrors",
        &back,
    );
    assert_eq!(
        back["results"][0]["to"][0]["toObjectId"],
        contact.to_string()
    );
    assert_eq!(back["errors"][0]["category"], "OBJECT_NOT_FOUND", "{back}");
    assert_eq!(
        back["errors"][0]["context"]["fromObjectId"],
        json!(["5"]),
        "{back}"
    );

    let removed = http
        .delete(format!(
            "{base}/crm/objects/2026-03/companies/{company}/associations/contacts/{contact}"
        ))
        .header("authorization", &auth)
        .fetch_status()
        .await;
    assert_eq!(removed, StatusCode::NO_CONTENT);
    let none: Value = batch("contacts", "companies", vec![contact])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none["results"], json!([]), "{none}");
    assert_conforms_to(
        spec,
        "BatchResponsePublicAssociationMultiWithLabelWithErrors",
        &none,
    );
    let error = &none["errors"][0];
    assert_eq!(error["category"], "OBJECT_NOT_FOUND", "{none}");
    assert_eq!(
        error["context"]["fromObjectId"],
        json!([contact.to_string()])
    );
}

/// Under a version HubSpot does not serve there is no API.
#[tokio::test]
async fn an_unknown_version_is_not_found() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let status = http
        .get(format!("{base}/crm/objects/2025-01/contacts"))
        .header("authorization", &auth)
        .fetch_status()
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[rstest]
#[tokio::test]
async fn list_pages_through_every_record_and_conforms(
    #[values(V3, V2026_03, V2026_09)] served: Served,
) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let (mut after, mut seen) = (None::<String>, Vec::new());
    loop {
        let mut url = format!(
            "{base}{}/companies?limit=20&properties=name",
            served.objects
        );
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let page: Value = http
            .get(&url)
            .header("authorization", &auth)
            .fetch_json()
            .await;
        served.assert_conforms(
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
            &page,
        );
        if let Some(link) = page["paging"]["next"]["link"].as_str() {
            assert!(link.contains(served.objects), "{link}");
        }
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        match page["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50);
    assert_eq!(
        seen.iter().collect::<std::collections::BTreeSet<_>>().len(),
        50
    );
}

#[tokio::test]
async fn archived_records_are_hidden_unless_asked_for() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let id = ObjectType::TICKETS.id_base() + 4;
    let hubspot = sim.client();
    let tickets = format!("tickets/{id}");
    let singular = format!("ticket/{id}");
    let archive = |path| hubspot.objects(Method::DELETE, portal, path, &Value::Null);
    archive(&tickets).await.unwrap();
    let wrong_type = archive(&singular).await.unwrap_err();
    assert!(
        wrong_type.to_string().contains("404 Not Found"),
        "singular names are not object types: {wrong_type}"
    );

    let live = http
        .get(format!("{base}/crm/v3/objects/tickets/{id}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::NOT_FOUND);
    assert_conforms("Error", &live.json().await.unwrap());
    let body: Value = http
        .get(format!("{base}/crm/v3/objects/tickets/{id}?archived=true"))
        .header("authorization", &auth)
        .fetch_json()
        .await;
    assert_conforms("SimplePublicObjectWithAssociations", &body);
    assert_eq!(body["archived"], true);
    assert!(body["archivedAt"].is_string());
}

#[tokio::test]
async fn bad_expired_and_uninstalled_tokens_get_401_in_hubspots_shape() {
    let mut s = settings();
    s.access_token_ttl = 1;
    let clock = hubspot::time::ManualClock::starting_now();
    let sim = sim_on(s, clock.clock()).await;
    let portal = first_portal(&sim);
    let url = format!(
        "{}/crm/v3/objects/contacts/{}",
        sim.base_url(),
        ObjectType::CONTACTS.id_base() + 1
    );
    let http = reqwest::Client::new();
    let get = |auth: Option<String>| {
        let mut r = http.get(&url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };

    let missing = get(None).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_conforms("Error", &missing.json().await.unwrap());
    assert_eq!(
        get(Some("Bearer forged".into())).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let fresh = token(&sim, portal).await;
    assert_eq!(
        get(Some(format!("Bearer {fresh}"))).await.unwrap().status(),
        StatusCode::OK
    );
    clock.advance(std::time::Duration::from_millis(1_001)); // past the token's 1 s life
    let expired: Value = get(Some(format!("Bearer {fresh}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        expired["message"].as_str().unwrap().contains("expired"),
        "{expired}"
    );

    let other = token(&sim, portal).await;
    sim.client()
        .update_portal(portal, &json!({"installed": false}))
        .await
        .unwrap();
    assert_eq!(
        get(Some(format!("Bearer {other}"))).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let no_tokens = sim.client().issue_tokens(portal).await.unwrap_err();
    assert!(
        no_tokens.to_string().contains("404 Not Found"),
        "an uninstalled portal gets no tokens: {no_tokens}"
    );
}

#[test]
fn the_schema_check_rejects_what_hubspot_would_not_send() {
    let valid = json!({"id": "1", "properties": {"a": "b"}, "createdAt": "2024-01-01T00:00:00.000Z",
                       "updatedAt": "2024-01-01T00:00:00.000Z", "archived": false});
    assert_conforms("SimplePublicObject", &valid);
    for broken in [
        json!({"id": 1, "properties": {}, "createdAt": "x", "updatedAt": "x", "archived": false}),
        json!({"id": "1", "properties": {"amount": 12.5}, "createdAt": "x", "updatedAt": "x", "archived": false}),
        json!({"id": "1", "properties": {}, "updatedAt": "x", "archived": false}),
    ] {
        let outcome = std::panic::catch_unwind(|| assert_conforms("SimplePublicObject", &broken));
        assert!(outcome.is_err(), "accepted {broken}");
    }
}

#[rstest]
#[tokio::test]
async fn search_filters_sorts_pages_and_conforms(#[values(V3, V2026_03, V2026_09)] served: Served) {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let hubspot = sim.client();
    let first = ObjectType::CONTACTS.id_base() + 1;
    // Two changes after the seed: the newest last when sorted by last modification.
    for (id, name) in [(first + 9, "Ada"), (first + 2, "Grace")] {
        let path = format!("contacts/{id}");
        let body = json!({ "properties": { "firstname": name } });
        hubspot
            .objects(Method::PATCH, portal, &path, &body)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    hubspot
        .objects(
            Method::DELETE,
            portal,
            &format!("contacts/{}", first + 3),
            &Value::Null,
        )
        .await
        .unwrap();
    let since = sim.sim.world(|w| {
        w.record(portal, ObjectType::CONTACTS, first + 9)
            .unwrap()
            .updated_at
    });
    let search = |body: Value| {
        http.post(format!("{base}{}/contacts/search", served.objects))
            .header("authorization", &auth)
            .json(&body)
    };
    let modified = |after: Option<&str>| {
        json!({
            "filterGroups": [{ "filters": [
                { "propertyName": "lastmodifieddate", "operator": "GTE", "value": since.to_string() }
            ]}],
            "sorts": [{ "propertyName": "lastmodifieddate", "direction": "ASCENDING" }],
            "properties": ["firstname"],
            "limit": 1,
            "after": after,
        })
    };
    let page: Value = search(modified(None)).fetch_json().await;
    served.assert_conforms("CollectionResponseWithTotalSimplePublicObject", &page);
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(page["results"][0]["id"], (first + 9).to_string());
    assert_eq!(page["results"][0]["properties"]["firstname"], "Ada");
    let after = page["paging"]["next"]["after"].as_str().unwrap().to_owned();
    let last: Value = search(modified(Some(&after))).fetch_json().await;
    assert_eq!(last["results"][0]["id"], (first + 2).to_string());
    assert!(last["paging"].is_null(), "{last}");

    let all: Value = search(json!({ "limit": 1 })).fetch_json().await;
    assert_eq!(
        all["total"], 49,
        "every live contact, the archived one left out"
    );
    let past_the_cap = search(json!({ "limit": 100, "after": "9950" }))
        .fetch_status()
        .await;
    assert_eq!(past_the_cap, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn search_has_its_own_limit_of_five_a_second_without_headers() {
    let sim = sim(settings()).await;
    let portal = first_portal(&sim);
    let (http, base, auth) = crm(&sim, &token(&sim, portal).await).await;
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all((0..20).map(|_| {
        http.post(format!("{base}/crm/objects/2026-03/deals/search"))
            .header("authorization", &auth)
            .json(&json!({ "limit": 1 }))
            .send()
    }))
    .await;
    let seconds = started.elapsed().as_secs() + 1;
    let mut admitted = 0;
    for answer in answers {
        let answer = answer.unwrap();
        assert!(answer.headers().get("x-hubspot-ratelimit-max").is_none());
        match answer.status() {
            StatusCode::OK => admitted += 1,
            status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        }
    }
    assert!(
        (5..=5 * seconds).contains(&admitted),
        "{admitted} of 20 admitted in under {seconds} s"
    );
    let read = http
        .get(format!("{base}/crm/objects/2026-03/deals?limit=1"))
        .header("authorization", &auth)
        .fetch_status()
        .await;
    assert_eq!(read, StatusCode::OK, "the other calls' limit is apart");
    let ledger = sim.client().crm_ledger().await.unwrap();
    assert_eq!(
        ledger["portals"][portal.to_string()]["calls"]["search"]["429"],
        json!(20 - admitted)
    );
}
