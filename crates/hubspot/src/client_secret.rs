//! The app's client secret: the HMAC key of every webhook signature and the credential of
//! every OAuth call. One type for both, so it is read and checked once; `Debug` never
//! shows it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret's text, for the one place that must send it (an OAuth form).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.expose().as_bytes()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}
