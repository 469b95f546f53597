//! Secret settings (`auth.salt`, `clickhouse.password`, `privacy.hash_key`, the password in
//! `meta.url`, secret librdkafka options): a value that masks itself wherever it is printed —
//! `Debug`, `Display`, and serialization, which is how `spanbridge config` shows the settings —
//! so no caller has to remember to. The value is read only through [`Secret::expose`], at the
//! one place that hands it to a client or a hash.
//!
//! A tiny newtype rather than `secrecy::SecretString`: we need a masked form that keeps a URL
//! readable without its password, `Display` and a masked `Serialize` for the settings dump,
//! `Default` and `PartialEq` for settings structs; `secrecy` offers none of these (and its
//! zeroizing is no defence here: the same bytes sit in the environment and in the client
//! libraries' own copies).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a masked secret shows instead of its value.
pub const REDACTED: &str = "**REDACTED**";

/// How a secret is shown: [`Whole`] (nothing of it) or [`UrlPassword`] (the URL without
/// its password).
pub trait Mask {
    /// The printable form of a non-empty `value`.
    fn masked(value: &str) -> String;
}

/// Shows nothing of the value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Whole;

/// A URL that may carry a password (`postgres://user:password@host/db`,
/// `…?password=…`): shown with the password replaced, so an operator still sees which
/// server and database it names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPassword;

impl Mask for Whole {
    fn masked(_value: &str) -> String {
        REDACTED.to_owned()
    }
}

impl Mask for UrlPassword {
    /// Errs towards hiding: everything between the user name and the last `@` goes (a
    /// password may contain `@` or `/`), and every `password=` query value; a value that is
    /// not a URL at all is hidden whole.
    fn masked(value: &str) -> String {
        let Some(scheme_end) = value.find("://").map(|i| i + 3) else {
            return REDACTED.to_owned();
        };
        let mut shown = match value[scheme_end..].rfind('@').map(|at| scheme_end + at) {
            Some(at) => match value[scheme_end..at].find(':') {
                Some(colon) => format!(
                    "{}:{REDACTED}{}",
                    &value[..scheme_end + colon],
                    &value[at..]
                ),
                None => value.to_owned(),
            },
            None => value.to_owned(),
        };
        let mut searched = 0;
        while let Some(found) = shown[searched..].to_ascii_lowercase().find("password=") {
            let start = searched + found + "password=".len();
            let end = shown[start..].find('&').map_or(shown.len(), |i| start + i);
            shown.replace_range(start..end, REDACTED);
            searched = start + REDACTED.len();
        }
        shown
    }
}

/// A secret setting. Deserializes from a plain string (TOML and environment variables load
/// unchanged); prints and serializes masked; empty stays empty, so "not set" is visible.
pub struct Secret<M: Mask = Whole> {
    value: String,
    mask: PhantomData<fn() -> M>,
}

impl<M: Mask> Secret<M> {
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            mask: PhantomData,
        }
    }

    /// The value itself: only where a client, a hash or a connection needs it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// The printable form: empty when unset, masked otherwise.
    pub fn masked(&self) -> String {
        if self.value.is_empty() {
            String::new()
        } else {
            M::masked(&self.value)
        }
    }
}

impl<M: Mask> Clone for Secret<M> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<M: Mask> Default for Secret<M> {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl<M: Mask> PartialEq for Secret<M> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<M: Mask> Eq for Secret<M> {}

impl<M: Mask> From<&str> for Secret<M> {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl<M: Mask> From<String> for Secret<M> {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl<M: Mask> fmt::Debug for Secret<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.masked(), f)
    }
}

impl<M: Mask> fmt::Display for Secret<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl<'de, M: Mask> Deserialize<'de> for Secret<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// Masked: serialization is how settings leave the process (`spanbridge config`). Nothing
/// serializes settings to load them again, except the defaults, whose secrets are empty.
impl<M: Mask> Serialize for Secret<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// Whether a librdkafka option carries a secret, by its name (`sasl.password`,
/// `ssl.key.password`, `ssl.keystore.password`, `sasl.oauthbearer.client.secret`, the PEM
/// private key `ssl.key.pem`, `sasl.oauthbearer.config` which holds credentials). `_` stands
/// for `.` as in the settings' environment variables.
pub fn is_secret_option(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', ".");
    ["password", "secret", "token", "credential"]
        .iter()
        .any(|word| name.contains(word))
        || matches!(name.as_str(), "ssl.key.pem" | "sasl.oauthbearer.config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serialization_never_show_the_value() {
        let secret: Secret = Secret::new("s3cret-marker");
        for shown in [
            format!("{secret:?}"),
            format!("{secret}"),
            serde_json::to_string(&secret).unwrap(),
        ] {
            assert!(!shown.contains("s3cret-marker"), "{shown}");
            assert!(shown.contains(REDACTED), "{shown}");
        }
        assert_eq!(secret.expose(), "s3cret-marker");
        let empty: Secret = Secret::default();
        assert_eq!(format!("{empty}"), "");
        assert_eq!(format!("{empty:?}"), "\"\"");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let secret: Secret = serde_json::from_str("\"value\"").unwrap();
        assert_eq!(secret.expose(), "value");
        assert!(serde_json::from_str::<Secret>("1").is_err());
    }

    #[test]
    fn urls_keep_everything_but_the_password() {
        let shown = |url: &str| Secret::<UrlPassword>::new(url).to_string();
        assert_eq!(
            shown("postgres://u:secret@h:5432/db"),
            "postgres://u:**REDACTED**@h:5432/db"
        );
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            shown("postgres://u:p@ss/w@rd@h/db"),
            "postgres://u:**REDACTED**@h/db"
        );
        assert_eq!(
            shown("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=**REDACTED**&sslmode=require"
        );
        assert_eq!(
            shown("postgres://h/db?PASSWORD=secret"),
            "postgres://h/db?PASSWORD=**REDACTED**"
        );
        assert_eq!(shown("not a url, maybe a password"), REDACTED);
        assert_eq!(shown(""), "");
    }

    #[test]
    fn secret_option_names() {
        for name in [
            "sasl.password",
            "sasl_password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "ssl.key.pem",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_option(name), "{name}");
        }
        for name in [
            "security.protocol",
            "sasl.mechanism",
            "sasl.username",
            "ssl.ca.location",
        ] {
            assert!(!is_secret_option(name), "{name}");
        }
    }
}
