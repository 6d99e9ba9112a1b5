//! Sealing OAuth tokens at rest: XChaCha20-Poly1305 (random 24-byte nonces are safe for
//! any number of tokens) under keys from `SPOKE_TOKEN_KEYS`. The portal id and the token
//! kind are associated data, so a sealed token copied onto another portal or kind does
//! not open. The first key seals; every listed key opens, which is how keys rotate:
//! put the new key first, run `spoke keys rotate`, then drop the old one.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretString};
use store::{PortalId, SealedTokens};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// Which token a sealed blob holds; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn label(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// Why a keyring or a sealed token was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("SPOKE_TOKEN_KEYS: {0}")]
    BadKeys(String),
    #[error("no key with id {0} (was it removed before `spoke keys rotate` finished?)")]
    UnknownKey(String),
    #[error("a sealed token did not open: wrong key, portal or kind, or tampered")]
    Unopenable,
}

/// The keys spoke seals and opens tokens with; their bytes are wiped when dropped.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    keys: HashMap<String, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &ids)
            .finish()
    }
}

/// A token pair as opened from the vault.
#[derive(Debug, Clone)]
pub struct OpenTokens {
    pub access: SecretString,
    pub refresh: SecretString,
}

impl Keyring {
    /// Parses `id:base64key[,id:base64key…]`; each key is 32 random bytes.
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let mut current = None;
        let mut keys = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) = entry.split_once(':').ok_or_else(|| {
                VaultError::BadKeys("each key is id:base64 (see `spoke keys generate`)".into())
            })?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(VaultError::BadKeys(format!(
                    "key id `{id}` must be letters, digits, - or _"
                )));
            }
            let bytes = Zeroizing::new(
                BASE64
                    .decode(encoded.trim())
                    .map_err(|_| VaultError::BadKeys(format!("key `{id}` is not base64")))?,
            );
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                VaultError::BadKeys(format!("key `{id}` must be 32 bytes, not {}", bytes.len()))
            })?;
            if keys.insert(id.to_owned(), Zeroizing::new(key)).is_some() {
                return Err(VaultError::BadKeys(format!("key id `{id}` appears twice")));
            }
            current.get_or_insert_with(|| id.to_owned());
        }
        let current = current.ok_or_else(|| VaultError::BadKeys("no key given".into()))?;
        Ok(Self { current, keys })
    }

    /// A fresh key entry for `SPOKE_TOKEN_KEYS`.
    pub fn generate_entry(id: &str) -> String {
        format!(
            "{id}:{}",
            BASE64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
        )
    }

    pub fn current_id(&self) -> &str {
        &self.current
    }

    fn aad(portal: PortalId, kind: TokenKind) -> String {
        format!("spoke-token-v1:{portal}:{}", kind.label())
    }

    fn seal(&self, portal: PortalId, kind: TokenKind, token: &SecretString) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&*self.keys[&self.current]));
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = Self::aad(portal, kind);
        let payload = Payload {
            msg: token.expose_secret().as_bytes(),
            aad: aad.as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(&nonce, payload)
            .expect("XChaCha20-Poly1305 sealing does not fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    fn open(
        &self,
        key_id: &str,
        portal: PortalId,
        kind: TokenKind,
        sealed: &[u8],
    ) -> Result<SecretString, VaultError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Unopenable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = Self::aad(portal, kind);
        let plain = XChaCha20Poly1305::new(Key::from_slice(&**key))
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Unopenable)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| VaultError::Unopenable)
    }

    /// Seals a pair under the current key; `issued_at` and `access_expires_at` (epoch ms)
    /// travel with it unsealed.
    pub fn seal_pair(
        &self,
        portal: PortalId,
        access: &SecretString,
        refresh: &SecretString,
        issued_at: i64,
        access_expires_at: i64,
    ) -> SealedTokens {
        SealedTokens {
            key_id: self.current.clone(),
            access: self.seal(portal, TokenKind::Access, access),
            refresh: self.seal(portal, TokenKind::Refresh, refresh),
            issued_at,
            access_expires_at,
        }
    }

    pub fn open_pair(
        &self,
        portal: PortalId,
        sealed: &SealedTokens,
    ) -> Result<OpenTokens, VaultError> {
        Ok(OpenTokens {
            access: self.open(&sealed.key_id, portal, TokenKind::Access, &sealed.access)?,
            refresh: self.open(&sealed.key_id, portal, TokenKind::Refresh, &sealed.refresh)?,
        })
    }

    /// The same tokens sealed under the current key.
    pub fn reseal(
        &self,
        portal: PortalId,
        sealed: &SealedTokens,
    ) -> Result<SealedTokens, VaultError> {
        let open = self.open_pair(portal, sealed)?;
        Ok(self.seal_pair(
            portal,
            &open.access,
            &open.refresh,
            sealed.issued_at,
            sealed.access_expires_at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn ring(spec: &[&str]) -> Keyring {
        Keyring::parse(&spec.join(",")).expect("valid keys")
    }

    #[test]
    fn sealed_tokens_open_only_for_their_portal_and_kind() {
        let keys = ring(&[&Keyring::generate_entry("k1")]);
        let sealed = keys.seal_pair(
            PortalId(7),
            &secret("access-abc"),
            &secret("refresh-xyz"),
            9,
            99,
        );
        assert_eq!(sealed.key_id, "k1");
        assert!(
            !sealed.access.windows(10).any(|w| w == b"access-abc"),
            "no plain text"
        );
        let open = keys.open_pair(PortalId(7), &sealed).unwrap();
        assert_eq!(
            (open.access.expose_secret(), open.refresh.expose_secret()),
            ("access-abc", "refresh-xyz")
        );
        assert_eq!(
            keys.open_pair(PortalId(8), &sealed).unwrap_err(),
            VaultError::Unopenable,
            "another portal"
        );
        let swapped = SealedTokens {
            access: sealed.refresh.clone(),
            refresh: sealed.access.clone(),
            ..sealed.clone()
        };
        assert_eq!(
            keys.open_pair(PortalId(7), &swapped).unwrap_err(),
            VaultError::Unopenable,
            "kinds swapped"
        );
        let mut tampered = sealed.clone();
        tampered.access[30] ^= 1;
        assert_eq!(
            keys.open_pair(PortalId(7), &tampered).unwrap_err(),
            VaultError::Unopenable
        );
    }

    #[test]
    fn rotation_reseals_under_the_new_key_while_the_old_one_still_opens() {
        let (old, new) = (
            Keyring::generate_entry("old"),
            Keyring::generate_entry("new"),
        );
        let sealed = ring(&[&old]).seal_pair(PortalId(3), &secret("a"), &secret("r"), 4, 5);
        let rotated = ring(&[&new, &old]);
        assert_eq!(
            rotated
                .open_pair(PortalId(3), &sealed)
                .unwrap()
                .access
                .expose_secret(),
            "a"
        );
        let resealed = rotated.reseal(PortalId(3), &sealed).unwrap();
        assert_eq!(resealed.key_id, "new");
        assert_eq!(
            ring(&[&new])
                .open_pair(PortalId(3), &resealed)
                .unwrap()
                .refresh
                .expose_secret(),
            "r"
        );
        assert_eq!(
            ring(&[&new]).open_pair(PortalId(3), &sealed).unwrap_err(),
            VaultError::UnknownKey("old".into())
        );
    }

    #[test]
    fn bad_key_specs_are_refused_without_echoing_keys() {
        for spec in ["", "nokeyid", "k1:!!!", "k1:AAAA", "k 1:AAAA"] {
            assert!(
                matches!(Keyring::parse(spec), Err(VaultError::BadKeys(_))),
                "{spec:?}"
            );
        }
        let entry = Keyring::generate_entry("k1");
        let err = Keyring::parse(&format!("{entry},{entry}")).unwrap_err();
        assert!(err.to_string().contains("twice"));
        let shown = format!("{:?} {err}", ring(&[&entry]));
        assert!(!shown.contains(entry.split_once(':').unwrap().1), "{shown}");
    }
}
