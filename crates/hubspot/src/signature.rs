//! Request validation for deliveries from HubSpot (reference §3).
//!
//! Everything works on the raw request bytes: re-serialising a body changes whitespace and
//! escapes and breaks the signature (reference §7.1). The caller supplies the URI *HubSpot*
//! called, built from configuration, never from `Host` or `X-Forwarded-*` headers.
//!
//! A [`Verified`] can only be obtained from [`Unverified::verify`], so nothing unverified
//! can reach code that takes a `Verified`.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ClientSecret;

type HmacSha256 = Hmac<Sha256>;

/// `X-HubSpot-Signature-v3`: base64 HMAC-SHA256 (header names are case-insensitive).
pub const HEADER_SIGNATURE_V3: &str = "x-hubspot-signature-v3";
/// `X-HubSpot-Request-Timestamp`: epoch milliseconds, part of the v3 input verbatim.
pub const HEADER_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// `X-HubSpot-Signature`: hex SHA-256 of the v1 or v2 input.
pub const HEADER_SIGNATURE: &str = "x-hubspot-signature";
/// `X-HubSpot-Signature-Version`: `v1` or `v2`, naming the algorithm of `X-HubSpot-Signature`.
pub const HEADER_SIGNATURE_VERSION: &str = "x-hubspot-signature-version";

/// How far a v3 timestamp may lie from our clock, in milliseconds: HubSpot's SDKs reject
/// requests older than 5 minutes; we also reject ones 5 minutes in the future (clock skew).
pub const MAX_TIMESTAMP_SKEW_MS: i64 = 5 * 60 * 1000;

/// The signature headers of a request, as strings; absent headers are `None`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SignatureHeaders<'a> {
    pub v3: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub legacy: Option<&'a str>,
    pub legacy_version: Option<&'a str>,
}

/// Which algorithm proved a request authentic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    V1,
    V2,
    V3,
}

/// Why a request was refused. The texts are safe to show a client: none contains the
/// expected signature or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing signature headers")]
    Missing,
    #[error("v3 signature without a request timestamp")]
    MissingTimestamp,
    #[error("legacy (v1/v2) signatures are not accepted")]
    LegacyRefused,
    #[error("unknown signature version")]
    UnknownVersion,
    #[error("malformed request timestamp")]
    MalformedTimestamp,
    #[error("request timestamp outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// What the verifier accepts besides v3.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Accept v1/v2 signatures when a request carries no v3 headers. They offer no replay
    /// protection, so this is off unless an operator turns it on.
    pub accept_legacy: bool,
}

/// A request as it arrived, not yet proven to come from HubSpot.
#[derive(Debug)]
pub struct Unverified<'a> {
    method: &'a str,
    uri: &'a str,
    headers: SignatureHeaders<'a>,
    body: &'a [u8],
}

/// A request whose signature checked out; the only way to its body for the parser.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
    version: SignatureVersion,
}

impl<'a> Verified<'a> {
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    pub fn version(&self) -> SignatureVersion {
        self.version
    }
}

impl<'a> Unverified<'a> {
    /// `uri` is the full URL HubSpot called (scheme, host, path, query), as on the wire.
    pub fn new(
        method: &'a str,
        uri: &'a str,
        headers: SignatureHeaders<'a>,
        body: &'a [u8],
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            body,
        }
    }

    /// Checks v3 when its header is present; otherwise v1/v2 if the policy allows them.
    /// `now_ms` is the current time in epoch milliseconds.
    pub fn verify(
        self,
        secret: &ClientSecret,
        policy: Policy,
        now_ms: i64,
    ) -> Result<Verified<'a>, SignatureError> {
        let version = match (self.headers.v3, self.headers.legacy) {
            (Some(signature), _) => {
                let timestamp = self
                    .headers
                    .timestamp
                    .ok_or(SignatureError::MissingTimestamp)?;
                check_timestamp(timestamp, now_ms)?;
                let expected = BASE64
                    .decode(signature.trim())
                    .map_err(|_| SignatureError::Mismatch)?;
                v3_mac(secret, self.method, self.uri, self.body, timestamp)
                    .verify_slice(&expected)
                    .map_err(|_| SignatureError::Mismatch)?;
                SignatureVersion::V3
            }
            (None, Some(_)) if !policy.accept_legacy => return Err(SignatureError::LegacyRefused),
            (None, Some(signature)) => {
                let version = match self.headers.legacy_version.map(str::trim) {
                    None | Some("v1") | Some("V1") => SignatureVersion::V1,
                    Some("v2") | Some("V2") => SignatureVersion::V2,
                    Some(_) => return Err(SignatureError::UnknownVersion),
                };
                let digest = match version {
                    SignatureVersion::V1 => v1_digest(secret, self.body),
                    _ => v2_digest(secret, self.method, self.uri, self.body),
                };
                let given = hex::decode(signature.trim()).map_err(|_| SignatureError::Mismatch)?;
                if !bool::from(digest.as_slice().ct_eq(&given)) {
                    return Err(SignatureError::Mismatch);
                }
                version
            }
            (None, None) => return Err(SignatureError::Missing),
        };
        Ok(Verified {
            body: self.body,
            version,
        })
    }
}

/// Rejects timestamps that are not all digits, or further than [`MAX_TIMESTAMP_SKEW_MS`]
/// from `now_ms` in either direction.
fn check_timestamp(timestamp: &str, now_ms: i64) -> Result<(), SignatureError> {
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedTimestamp);
    }
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    if (now_ms - sent).abs() > MAX_TIMESTAMP_SKEW_MS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The URI as v3 signs it: only the twelve escapes HubSpot lists are decoded; every other
/// escape (`%20`, `%26`, `%3D`, …) stays as it is. Lowercase hex is decoded too, the tolerant
/// choice where HubSpot's docs are silent.
pub fn v3_signed_uri(wire_uri: &str) -> Cow<'_, str> {
    if !wire_uri.contains('%') {
        return Cow::Borrowed(wire_uri);
    }
    let bytes = wire_uri.as_bytes();
    let mut out = String::with_capacity(wire_uri.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(decoded) = decode_listed_escape(&bytes[i + 1..i + 3]) {
                out.push(decoded);
                i += 3;
                continue;
            }
        }
        // `i` stays on a char boundary: escapes are ASCII and other chars are copied whole.
        let ch = wire_uri[i..]
            .chars()
            .next()
            .expect("index is on a char boundary");
        out.push(ch);
        i += ch.len_utf8();
    }
    Cow::Owned(out)
}

fn decode_listed_escape(hex: &[u8]) -> Option<char> {
    let code = std::str::from_utf8(hex).ok()?.to_ascii_uppercase();
    Some(match code.as_str() {
        "3A" => ':',
        "2F" => '/',
        "3F" => '?',
        "40" => '@',
        "21" => '!',
        "24" => '$',
        "27" => '\'',
        "28" => '(',
        "29" => ')',
        "2A" => '*',
        "2C" => ',',
        "3B" => ';',
        _ => return None,
    })
}

fn v3_mac(
    secret: &ClientSecret,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.bytes()).expect("HMAC accepts keys of any length");
    mac.update(method.as_bytes());
    mac.update(v3_signed_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

fn v1_digest(secret: &ClientSecret, body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(secret.bytes())
        .chain_update(body)
        .finalize()
        .into()
}

fn v2_digest(secret: &ClientSecret, method: &str, uri: &str, body: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(secret.bytes())
        .chain_update(method.as_bytes())
        .chain_update(uri.as_bytes())
        .chain_update(body)
        .finalize()
        .into()
}

/// `X-HubSpot-Signature-v3` for a request, as HubSpot computes it. `wire_uri` is the URL as
/// sent; the listed escapes are decoded here, as the verifier does.
pub fn sign_v3(
    secret: &ClientSecret,
    method: &str,
    wire_uri: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    BASE64.encode(
        v3_mac(secret, method, wire_uri, body, timestamp)
            .finalize()
            .into_bytes(),
    )
}

/// `X-HubSpot-Signature` with version `v1`: hex SHA-256 of secret and body.
pub fn sign_v1(secret: &ClientSecret, body: &[u8]) -> String {
    hex::encode(v1_digest(secret, body))
}

/// `X-HubSpot-Signature` with version `v2`: hex SHA-256 of secret, method, URI and body.
pub fn sign_v2(secret: &ClientSecret, method: &str, uri: &str, body: &[u8]) -> String {
    hex::encode(v2_digest(secret, method, uri, body))
}

/// The vectors of reference §3.6, checked there against HubSpot's official SDK.
#[cfg(test)]
mod tests {
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
        let card = "https://hooks.example.com/hubspot/card?userId=111&portalId=62515&associatedObjectId=123";
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
        let ok =
            Unverified::new("POST", uri, legacy_headers(v2, "v2"), body).verify(&key, LEGACY, 0);
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
}
