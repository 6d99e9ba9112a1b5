//! The OAuth `state` of an install: signed (HMAC-SHA256 under a key derived from the
//! client secret), expiring, and single-use (the use is recorded in the store by the
//! caller). A forged or expired state is refused before any database work.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hubspot::ClientSecret;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a user may take between the install link and HubSpot's callback.
pub const STATE_TTL_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state parameter is missing or malformed")]
    Malformed,
    #[error("the state parameter was not issued by this app")]
    Forged,
    #[error("the install link expired; start the install again")]
    Expired,
}

/// A state that checked out: its nonce (to record as used) and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedState {
    pub nonce: String,
    pub expires_at_ms: i64,
}

#[derive(Clone)]
pub struct StateSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner([redacted])")
    }
}

impl StateSigner {
    pub fn new(client_secret: &ClientSecret) -> Self {
        let mut mac = HmacSha256::new_from_slice(client_secret.expose().as_bytes())
            .expect("HMAC takes any key");
        mac.update(b"spoke install state v1");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(payload);
        mac
    }

    /// A new state: 16 random bytes and the expiry, then the signature; and its nonce
    /// (hex), which the browser that asked for it keeps in a cookie.
    pub fn issue(&self, now_ms: i64) -> (String, String) {
        let nonce = uuid::Uuid::new_v4().into_bytes();
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&(now_ms + STATE_TTL_MS).to_be_bytes());
        let signature = self.mac(&payload).finalize().into_bytes();
        let state = format!("{}.{}", B64.encode(&payload), B64.encode(signature));
        (state, hex::encode(nonce))
    }

    pub fn verify(&self, state: &str, now_ms: i64) -> Result<VerifiedState, StateError> {
        let (payload, signature) = state.split_once('.').ok_or(StateError::Malformed)?;
        let payload = B64.decode(payload).map_err(|_| StateError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| StateError::Malformed)?;
        if payload.len() != 24 {
            return Err(StateError::Malformed);
        }
        self.mac(&payload)
            .verify_slice(&signature)
            .map_err(|_| StateError::Forged)?;
        let expires_at_ms = i64::from_be_bytes(payload[16..].try_into().expect("8 bytes"));
        if now_ms > expires_at_ms {
            return Err(StateError::Expired);
        }
        Ok(VerifiedState {
            nonce: hex::encode(&payload[..16]),
            expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &str) -> StateSigner {
        StateSigner::new(&ClientSecret::new(secret))
    }

    #[test]
    fn a_state_verifies_until_it_expires() {
        let s = signer("secret");
        let (state, nonce) = s.issue(1_000);
        let verified = s.verify(&state, 1_000 + STATE_TTL_MS).expect("valid");
        assert_eq!(verified.nonce, nonce);
        assert_eq!(
            (verified.nonce.len(), verified.expires_at_ms),
            (32, 1_000 + STATE_TTL_MS)
        );
        assert_eq!(
            s.verify(&state, 1_001 + STATE_TTL_MS),
            Err(StateError::Expired)
        );
        assert_ne!(s.issue(1_000).0, state, "every state is new");
    }

    #[test]
    fn forged_and_malformed_states_are_refused() {
        let (state, _) = signer("secret").issue(0);
        assert_eq!(signer("other").verify(&state, 0), Err(StateError::Forged));
        let (payload, signature) = state.split_once('.').unwrap();
        let mut bytes = B64.decode(payload).unwrap();
        bytes[20] ^= 1; // a later expiry
        assert_eq!(
            signer("secret").verify(&format!("{}.{signature}", B64.encode(bytes)), 0),
            Err(StateError::Forged)
        );
        for bad in ["", "abc", "a.b", "!!.!!"] {
            assert_eq!(
                signer("secret").verify(bad, 0),
                Err(StateError::Malformed),
                "{bad:?}"
            );
        }
    }
}
