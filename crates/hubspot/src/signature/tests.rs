//! Unit tests of [`super`].

use super::*;

const DOC_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const B_SECRET: &str = "7f3c2a1e-9b8d-4c6f-a5e4-3d2c1b0a9f8e";
const V3_SECRET: &str = "5e1d0c9b-8a7f-4e6d-9c5b-4a3f2e1d0c9b";

fn secret(s: &str) -> ClientSecret {
    ClientSecret::new(s)
}

fn v3_headers<'a>(signature: &'a str, timestamp: &'a str) -> SignatureHeaders<'a> {
    SignatureHeaders {
        v3: Some(signature),
        timestamp: Some(timestamp),
        ..Default::default()
    }
}

fn legacy_headers<'a>(signature: &'a str, version: &'a str) -> SignatureHeaders<'a> {
    SignatureHeaders {
        legacy: Some(signature),
        legacy_version: Some(version),
        ..Default::default()
    }
}

const LEGACY: Policy = Policy {
    accept_legacy: true,
};

const V1_A_BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
const V1_B_BODY: &str = r#"[{"eventId":1001,"subscriptionId":2001,"portalId":62515,"appId":54321,"occurredAt":1735689599000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:45678"}]"#;
const V3_A_URI: &str = "https://hooks.example.com/hubspot/webhooks?tenant=acme&env=prod";
const V3_A_BODY: &str = r#"[{"eventId":3001,"subscriptionId":4001,"portalId":62515,"appId":54321,"occurredAt":1735689599000,"subscriptionType":"deal.propertyChange","attemptNumber":0,"objectId":9876543210,"propertyName":"dealstage","propertyValue":"closedwon","changeSource":"CRM_UI"}]"#;
const V3_B_WIRE: &str = "https://hooks.example.com/hubspot/webhooks?label=%28Q1%29%2Crenewals%3Bvip&next=https%3A%2F%2Fapp.example.com%2Fcb%3Fk%3Dv&who=ops%40example.com%21&note=a%20b%26c";
const V3_B_SIGNED: &str = "https://hooks.example.com/hubspot/webhooks?label=(Q1),renewals;vip&next=https://app.example.com/cb?k%3Dv&who=ops@example.com!&note=a%20b%26c";
const V3_B_BODY: &str = r#"[{"eventId":3002,"subscriptionId":4002,"portalId":62515,"appId":54321,"occurredAt":1735689599500,"subscriptionType":"company.creation","attemptNumber":1,"objectId":5550001,"changeFlag":"CREATED","changeSource":"IMPORT"}]"#;
const V3_C_BODY: &str = r#"[{"eventId":3003,"subscriptionId":4003,"portalId":62515,"appId":54321,"occurredAt":1735689602000,"subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,"propertyName":"firstname","propertyValue":"Zoë Müller – 東京 🚀","changeSource":"CRM_UI"}]"#;
const V3_D_URI: &str = "https://hooks.example.com/hubspot/card?userId=111&portalId=62515&associatedObjectId=123&associatedObjectType=CONTACT";

fn sha256_hex(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

#[test]
fn vector_bodies_are_the_reference_bytes() {
    let expected = [
        (
            V1_A_BODY,
            207,
            "94d4cf868ba813b5247912fd7fe48cb78d43dfd44e382dc91c568dca526929b1",
        ),
        (
            V1_B_BODY,
            242,
            "51f3b5669fc9abd807e2b4d7a241ca61fd45bf446a23362bf1705ef8aec6dabd",
        ),
        (
            V3_A_BODY,
            258,
            "584629984b4eb1866e1129f2e6ec9ce30c921e294b55eb17a9bdf869eb2a7b56",
        ),
        (
            V3_B_BODY,
            220,
            "2aab1991c556620ca44bc90f88f12827209f89bd155ff4cfd20c8f0b06a50ffa",
        ),
        (
            V3_C_BODY,
            273,
            "c050caf89d1b0840733b19c5c495a4ea6dd9bfbbe6032b8736c0f2e17ca7df6d",
        ),
    ];
    for (body, len, sha) in expected {
        assert_eq!(body.len(), len);
        assert_eq!(sha256_hex(body), sha);
    }
}

#[test]
fn v1_matches_hubspot_documented_and_extra_vectors() {
    assert_eq!(
        sign_v1(&secret(DOC_SECRET), V1_A_BODY.as_bytes()),
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    );
    assert_eq!(
        sign_v1(&secret(B_SECRET), V1_B_BODY.as_bytes()),
        "893cae39524a10352ee31ae6f9b51d794a46d2fcc39f47097bf516896cc242e2"
    );
}

#[test]
fn v2_matches_hubspot_documented_and_extra_vectors() {
    let uri = "https://www.example.com/webhook_uri";
    assert_eq!(
        sign_v2(&secret(DOC_SECRET), "GET", uri, b""),
        "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    );
    assert_eq!(
        sign_v2(
            &secret(DOC_SECRET),
            "POST",
            uri,
            br#"{"example_field":"example_value"}"#
        ),
        "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    );
    let card =
        "https://hooks.example.com/hubspot/card?userId=111&portalId=62515&associatedObjectId=123";
    let body = r#"{"origin":{"portalId":62515,"actionDefinitionId":7},"object":{"objectId":123,"objectType":"CONTACT"}}"#;
    assert_eq!(body.len(), 101);
    assert_eq!(
        sign_v2(&secret(B_SECRET), "POST", card, body.as_bytes()),
        "0ad16a4021ccd03a11e8d313287c62a0d69df77d15a1304a3198ad262e494e1f"
    );
}

#[test]
fn v3_matches_the_python_sdk_unit_test_vector() {
    assert_eq!(
        sign_v3(
            &secret(DOC_SECRET),
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            "15000000"
        ),
        "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    );
}

#[test]
fn v3_vectors_sign_and_verify() {
    let cases = [
        (
            "POST",
            V3_A_URI,
            V3_A_BODY,
            "1735689600000",
            "uaAPnc+5yRVkgxIzD8DooO+vNzwVdSkD4TCkgJnjVSc=",
        ),
        (
            "POST",
            V3_B_WIRE,
            V3_B_BODY,
            "1735689601234",
            "soj4PaVHJoSf3klasc3jm/Z4OHS6q1HHHZrlrpQh2C8=",
        ),
        (
            "POST",
            "https://hooks.example.com/hubspot/webhooks",
            V3_C_BODY,
            "1735689603000",
            "oj/6SMYxbqVBe/+L6r95xheTxz/FrhJNisddhZb52T8=",
        ),
        (
            "GET",
            V3_D_URI,
            "",
            "1735689604000",
            "E+ILMKmQYs5rHaBFVcV3EE82kdYmEBW04oKdGsyYkQ4=",
        ),
    ];
    for (method, uri, body, ts, expected) in cases {
        let key = secret(V3_SECRET);
        assert_eq!(
            sign_v3(&key, method, uri, body.as_bytes(), ts),
            expected,
            "{uri}"
        );
        let now = ts.parse::<i64>().expect("digits") + 60_000;
        let verified = Unverified::new(method, uri, v3_headers(expected, ts), body.as_bytes())
            .verify(&key, Policy::default(), now)
            .expect("vector verifies");
        assert_eq!(verified.version(), SignatureVersion::V3);
        assert_eq!(verified.body(), body.as_bytes());
    }
}

#[test]
fn v3_decodes_only_the_listed_escapes() {
    assert_eq!(v3_signed_uri(V3_B_WIRE), V3_B_SIGNED);
    assert_eq!(v3_signed_uri("https://h/p?a=%3a%2f"), "https://h/p?a=:/");
    assert_eq!(v3_signed_uri("https://h/p?a=%2"), "https://h/p?a=%2");
    assert_eq!(
        v3_signed_uri("https://h/ü?a=%C3%BC"),
        "https://h/ü?a=%C3%BC"
    );
}

#[test]
fn v3_signature_over_the_undecoded_uri_is_refused() {
    let forged = "cbAKPSEptxYYiaII7ZdS/9/wlFzYFtxLd9g6CLRbAoY=";
    let result = Unverified::new(
        "POST",
        V3_B_WIRE,
        v3_headers(forged, "1735689601234"),
        V3_B_BODY.as_bytes(),
    )
    .verify(&secret(V3_SECRET), Policy::default(), 1_735_689_601_234);
    assert_eq!(result.unwrap_err(), SignatureError::Mismatch);
}

#[test]
fn v3_signature_over_a_reserialised_body_is_refused() {
    let reserialised = "HaHwmENh7qqnxwapOki2Le0V017NtMaGMXcsGRDkwzg=";
    let result = Unverified::new(
        "POST",
        "https://hooks.example.com/hubspot/webhooks",
        v3_headers(reserialised, "1735689603000"),
        V3_C_BODY.as_bytes(),
    )
    .verify(&secret(V3_SECRET), Policy::default(), 1_735_689_603_000);
    assert_eq!(result.unwrap_err(), SignatureError::Mismatch);
}

fn verify_v3_a_at(timestamp: &str, now: i64) -> Result<SignatureVersion, SignatureError> {
    let key = secret(V3_SECRET);
    let signature = sign_v3(&key, "POST", V3_A_URI, V3_A_BODY.as_bytes(), timestamp);
    Unverified::new(
        "POST",
        V3_A_URI,
        v3_headers(&signature, timestamp),
        V3_A_BODY.as_bytes(),
    )
    .verify(&key, Policy::default(), now)
    .map(|v| v.version())
}

#[test]
fn v3_timestamp_window_is_five_minutes_each_way() {
    let ts = 1_735_689_600_000_i64;
    let t = ts.to_string();
    assert_eq!(verify_v3_a_at(&t, ts + 299_999), Ok(SignatureVersion::V3));
    assert_eq!(verify_v3_a_at(&t, ts + 300_000), Ok(SignatureVersion::V3));
    assert_eq!(verify_v3_a_at(&t, ts + 300_001), Err(SignatureError::Stale));
    assert_eq!(verify_v3_a_at(&t, ts - 300_001), Err(SignatureError::Stale));
}

#[test]
fn v3_timestamp_must_be_digits() {
    for bad in [
        "",
        "17356896OOOOO",
        "-1735689600000",
        "1735689600000.0",
        " 1735689600000",
        "99999999999999999999",
    ] {
        assert_eq!(
            verify_v3_a_at(bad, 1_735_689_600_000),
            Err(SignatureError::MalformedTimestamp),
            "{bad:?}"
        );
    }
}

#[test]
fn v3_signature_without_timestamp_is_refused() {
    let headers = SignatureHeaders {
        v3: Some("uaAPnc+5yRVkgxIzD8DooO+vNzwVdSkD4TCkgJnjVSc="),
        ..Default::default()
    };
    let result = Unverified::new("POST", V3_A_URI, headers, V3_A_BODY.as_bytes()).verify(
        &secret(V3_SECRET),
        LEGACY,
        1_735_689_600_000,
    );
    assert_eq!(result.unwrap_err(), SignatureError::MissingTimestamp);
}

#[test]
fn v3_with_a_wrong_secret_or_garbage_is_a_mismatch() {
    let ts = "1735689600000";
    for signature in [
        "uaAPnc+5yRVkgxIzD8DooO+vNzwVdSkD4TCkgJnjVSc=",
        "not base64!",
        "",
    ] {
        let result = Unverified::new(
            "POST",
            V3_A_URI,
            v3_headers(signature, ts),
            V3_A_BODY.as_bytes(),
        )
        .verify(
            &secret("another-secret"),
            Policy::default(),
            1_735_689_600_000,
        );
        assert_eq!(
            result.unwrap_err(),
            SignatureError::Mismatch,
            "{signature:?}"
        );
    }
}

#[test]
fn missing_headers_are_refused() {
    let result = Unverified::new("POST", V3_A_URI, SignatureHeaders::default(), b"[]").verify(
        &secret(V3_SECRET),
        LEGACY,
        0,
    );
    assert_eq!(result.unwrap_err(), SignatureError::Missing);
}

#[test]
fn legacy_signatures_need_the_policy_switch() {
    let key = secret(DOC_SECRET);
    let v1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
    let request = || {
        Unverified::new(
            "POST",
            "https://x/y",
            legacy_headers(v1, "v1"),
            V1_A_BODY.as_bytes(),
        )
    };
    assert_eq!(
        request().verify(&key, Policy::default(), 0).unwrap_err(),
        SignatureError::LegacyRefused
    );
    assert_eq!(
        request().verify(&key, LEGACY, 0).map(|v| v.version()),
        Ok(SignatureVersion::V1)
    );
}

#[test]
fn legacy_v2_and_v1_verify_and_refuse_tampering() {
    let key = secret(DOC_SECRET);
    let uri = "https://www.example.com/webhook_uri";
    let body = br#"{"example_field":"example_value"}"#;
    let v2 = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900";
    let ok = Unverified::new("POST", uri, legacy_headers(v2, "v2"), body).verify(&key, LEGACY, 0);
    assert_eq!(ok.map(|v| v.version()), Ok(SignatureVersion::V2));
    let wrong_uri = Unverified::new(
        "POST",
        "https://evil.example/webhook_uri",
        legacy_headers(v2, "v2"),
        body,
    )
    .verify(&key, LEGACY, 0);
    assert_eq!(wrong_uri.unwrap_err(), SignatureError::Mismatch);
    let as_v1 =
        Unverified::new("POST", uri, legacy_headers(v2, "v1"), body).verify(&key, LEGACY, 0);
    assert_eq!(as_v1.unwrap_err(), SignatureError::Mismatch);
    let unknown =
        Unverified::new("POST", uri, legacy_headers(v2, "v9"), body).verify(&key, LEGACY, 0);
    assert_eq!(unknown.unwrap_err(), SignatureError::UnknownVersion);
}

#[test]
fn secrets_are_redacted_in_debug() {
    assert_eq!(
        format!("{:?}", secret(V3_SECRET)),
        "ClientSecret([redacted])"
    );
}
