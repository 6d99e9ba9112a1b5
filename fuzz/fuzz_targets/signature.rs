//! Signature verification (reference §3) on anything a client can send: it never panics,
//! accepts only a signature the secret made over exactly this request, accepts every
//! request HubSpot signs, and canonicalises a v3 URI as the twelve listed escapes say.
#![no_main]

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hubspot::signature::{
    sign_v1, sign_v2, sign_v3, v3_signed_uri, Policy, SignatureError, SignatureHeaders,
    SignatureVersion, Unverified, MAX_TIMESTAMP_SKEW_MS,
};
use hubspot::ClientSecret;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Request {
    secret: String,
    method: String,
    uri: String,
    v3: Option<String>,
    timestamp: Option<String>,
    legacy: Option<String>,
    legacy_version: Option<String>,
    body: Vec<u8>,
    now_ms: i64,
    accept_legacy: bool,
}

fuzz_target!(|request: Request| {
    let secret = ClientSecret::new(request.secret.clone());
    accepts_only_what_the_secret_signed(&request, &secret);
    accepts_what_hubspot_signs(&request, &secret);
    assert_eq!(
        v3_signed_uri(&request.uri),
        listed_escapes_decoded(&request.uri)
    );
});

fn accepts_only_what_the_secret_signed(request: &Request, secret: &ClientSecret) {
    let headers = SignatureHeaders {
        v3: request.v3.as_deref(),
        timestamp: request.timestamp.as_deref(),
        legacy: request.legacy.as_deref(),
        legacy_version: request.legacy_version.as_deref(),
    };
    let policy = Policy {
        accept_legacy: request.accept_legacy,
    };
    let verdict = Unverified::new(&request.method, &request.uri, headers, &request.body)
        .verify(secret, policy, request.now_ms)
        .map(|verified| verified.version());
    let Ok(version) = verdict else { return };
    let method = &request.method;
    match version {
        SignatureVersion::V3 => {
            let timestamp = request.timestamp.as_deref().expect("v3 needs a timestamp");
            let sent: i64 = timestamp.parse().expect("a verified timestamp is a number");
            assert!(sent.abs_diff(request.now_ms) <= MAX_TIMESTAMP_SKEW_MS as u64);
            let made = sign_v3(secret, method, &request.uri, &request.body, timestamp);
            let given = request.v3.as_deref().expect("v3 header").trim();
            assert_eq!(BASE64.decode(given).ok(), BASE64.decode(made).ok());
        }
        legacy => {
            assert!(request.accept_legacy && request.v3.is_none());
            let made = match legacy {
                SignatureVersion::V1 => sign_v1(secret, &request.body),
                _ => sign_v2(secret, method, &request.uri, &request.body),
            };
            let given = request.legacy.as_deref().expect("legacy header").trim();
            assert!(given.eq_ignore_ascii_case(&made));
        }
    }
}

fn accepts_what_hubspot_signs(request: &Request, secret: &ClientSecret) {
    let Some(timestamp) = u64::try_from(request.now_ms).ok().map(|t| t.to_string()) else {
        return;
    };
    let signature = sign_v3(
        secret,
        &request.method,
        &request.uri,
        &request.body,
        &timestamp,
    );
    let headers = SignatureHeaders {
        v3: Some(&signature),
        timestamp: Some(&timestamp),
        ..SignatureHeaders::default()
    };
    let verdict = Unverified::new(&request.method, &request.uri, headers, &request.body)
        .verify(secret, Policy::default(), request.now_ms)
        .map(|verified| verified.version());
    assert_eq!(verdict, Ok::<_, SignatureError>(SignatureVersion::V3));
}

/// An independent statement of the canonicalisation: each listed escape, in either case of
/// its hex digits, replaced everywhere. No decoded character is `%` or a hex digit, so the
/// replacements cannot build escapes of their own and their order does not matter.
fn listed_escapes_decoded(uri: &str) -> String {
    const LISTED: [(&str, &str); 12] = [
        ("3A", ":"),
        ("2F", "/"),
        ("3F", "?"),
        ("40", "@"),
        ("21", "!"),
        ("24", "$"),
        ("27", "'"),
        ("28", "("),
        ("29", ")"),
        ("2A", "*"),
        ("2C", ","),
        ("3B", ";"),
    ];
    let mut out = uri.to_owned();
    for (hex, decoded) in LISTED {
        for spelling in [hex.to_owned(), hex.to_ascii_lowercase()] {
            out = out.replace(&format!("%{spelling}"), decoded);
        }
    }
    out
}
