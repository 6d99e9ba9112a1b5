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
        let version = match self.headers.precheck(policy, now_ms)? {
            Scheme::V3 {
                signature,
                timestamp,
            } => {
                let expected = BASE64
                    .decode(signature.trim())
                    .map_err(|_| SignatureError::Mismatch)?;
                v3_mac(secret, self.method, self.uri, self.body, timestamp)
                    .verify_slice(&expected)
                    .map_err(|_| SignatureError::Mismatch)?;
                SignatureVersion::V3
            }
            Scheme::Legacy { version, signature } => {
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
        };
        Ok(Verified {
            body: self.body,
            version,
        })
    }
}

/// How a request says it is signed, once its headers checked out.
enum Scheme<'a> {
    V3 {
        signature: &'a str,
        timestamp: &'a str,
    },
    Legacy {
        version: SignatureVersion,
        signature: &'a str,
    },
}

impl<'a> SignatureHeaders<'a> {
    /// What the headers alone decide, so a request is refused before its body is read: no
    /// signature, a v3 one without a timestamp or with a malformed or stale one, a legacy
    /// one the policy refuses or of an unknown version. `Ok` says only that the body is
    /// worth reading and checking.
    pub fn check_before_body(&self, policy: Policy, now_ms: i64) -> Result<(), SignatureError> {
        self.precheck(policy, now_ms).map(|_| ())
    }

    fn precheck(&self, policy: Policy, now_ms: i64) -> Result<Scheme<'a>, SignatureError> {
        match (self.v3, self.legacy) {
            (Some(signature), _) => {
                let timestamp = self.timestamp.ok_or(SignatureError::MissingTimestamp)?;
                check_timestamp(timestamp, now_ms)?;
                Ok(Scheme::V3 {
                    signature,
                    timestamp,
                })
            }
            (None, Some(_)) if !policy.accept_legacy => Err(SignatureError::LegacyRefused),
            (None, Some(signature)) => {
                let version = match self.legacy_version.map(str::trim) {
                    None | Some("v1") | Some("V1") => SignatureVersion::V1,
                    Some("v2") | Some("V2") => SignatureVersion::V2,
                    Some(_) => return Err(SignatureError::UnknownVersion),
                };
                Ok(Scheme::Legacy { version, signature })
            }
            (None, None) => Err(SignatureError::Missing),
        }
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
    if now_ms.abs_diff(sent) > MAX_TIMESTAMP_SKEW_MS.unsigned_abs() {
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
mod tests;
