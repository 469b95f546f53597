//! Project API keys: parse the credentials a client sent, verify them against the key store
//! the way Langfuse does (`fast_hashed_secret_key`, reference §4.2), cache hits and misses.
//! The project always comes from the key, never from the payload.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use sha2::{Digest, Sha256};
use spanbridge_proto::{KeyRecord, Secret, UnhashedKeyRecord};
use subtle::ConstantTimeEq;

use crate::error::{BackendUnavailable, IngestError};

/// Who is sending: the project a verified key belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub project_id: String,
    pub api_key_id: String,
    /// The project's name, for settings that name projects (privacy rules, sampling). It
    /// comes with the key (one join in the same lookup) and is cached with it, so a rename
    /// applies within `auth.cache_ttl_secs`; no second lookup or name table to refresh.
    pub project_name: String,
    /// The project's organisation, answered by `GET /api/public/projects` (Langfuse's shape).
    pub organization_id: String,
    pub organization_name: String,
}

/// Key lookups by secret hash. Implemented over SQLite (embedded) and Postgres.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn find_by_fast_hash(
        &self,
        fast_hash: &str,
    ) -> Result<Option<KeyRecord>, BackendUnavailable>;

    /// Langfuse's fallback for keys without a fast hash (created before the column existed):
    /// the record and its bcrypt `hashed_secret_key`, looked up by public key.
    async fn find_without_fast_hash(
        &self,
        _public_key: &str,
    ) -> Result<Option<UnhashedKeyRecord>, BackendUnavailable> {
        Ok(None)
    }

    /// Called after every successful authentication (on the request path: must not block;
    /// implementations record it and write `last_used_at` in batches).
    fn key_used(&self, _key_id: &str) {}
}

/// Langfuse's `createShaHash(sk, salt)`: lowercase hex of SHA-256 over
/// `sk ‖ hex(SHA-256(salt))`. Keeping it identical lets us read an existing Langfuse database.
pub fn fast_hash(secret_key: &str, salt: &str) -> String {
    let salt_hex = hex::encode(Sha256::digest(salt.as_bytes()));
    let mut hasher = Sha256::new();
    hasher.update(secret_key.as_bytes());
    hasher.update(salt_hex.as_bytes());
    hex::encode(hasher.finalize())
}

/// Credentials as sent: `Basic base64(pk:sk)` or `Bearer sk`.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub public_key: Option<String>,
    pub secret_key: String,
}

/// Parses an `Authorization` header value (HTTP header or gRPC metadata).
pub fn parse_authorization(value: Option<&str>) -> Result<Credentials, IngestError> {
    let value = value.ok_or_else(|| {
        IngestError::Unauthenticated(
            "missing Authorization header: send `Basic base64(public_key:secret_key)` or `Bearer secret_key`".into(),
        )
    })?;
    let value = value.trim();
    // OTLP exporters that do not percent-decode `OTEL_EXPORTER_OTLP_HEADERS` (Claude Code 2.1)
    // send the literal `%20` the OTel spec has users write for the space; base64 and Langfuse
    // keys never contain `%`, so both spellings mean the same credentials.
    let (scheme, rest) = match value.split_once(' ') {
        Some(split) => split,
        None => value.split_once("%20").unwrap_or((value, "")),
    };
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                IngestError::Unauthenticated(
                    "malformed Basic credentials: not base64 of `public_key:secret_key`".into(),
                )
            })?;
        let (public_key, secret_key) = decoded.split_once(':').ok_or_else(|| {
            IngestError::Unauthenticated(
                "malformed Basic credentials: expected `public_key:secret_key`".into(),
            )
        })?;
        if secret_key.is_empty() {
            return Err(IngestError::Unauthenticated("empty secret key".into()));
        }
        Ok(Credentials {
            public_key: Some(public_key.to_owned()),
            secret_key: secret_key.to_owned(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Ok(Credentials {
            public_key: None,
            secret_key: rest.to_owned(),
        })
    } else {
        Err(IngestError::Unauthenticated(
            "unsupported Authorization scheme: use `Basic base64(public_key:secret_key)` or `Bearer secret_key`".into(),
        ))
    }
}

/// Verifies credentials with a bounded TTL cache in front of the key store. Misses are cached
/// too, so a client hammering with a wrong key does not hammer the database. The cache key is
/// the salted hash, never the secret itself.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn KeyStore>,
    salt: Secret,
    cache: moka::future::Cache<String, Option<KeyRecord>>,
}

impl Authenticator {
    pub fn new(
        store: Arc<dyn KeyStore>,
        salt: Secret,
        cache_ttl: Duration,
        cache_capacity: u64,
    ) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(cache_capacity)
            .time_to_live(cache_ttl)
            .build();
        Self { store, salt, cache }
    }

    /// Resolves an `Authorization` header to its project, or a 401 / 503 error.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Project, IngestError> {
        let result = self.verify(authorization).await;
        if let Err(IngestError::Unauthenticated(_)) = &result {
            metrics::counter!("spanbridge_auth_requests_total", "result" => "failure").increment(1);
        }
        result
    }

    async fn verify(&self, authorization: Option<&str>) -> Result<Project, IngestError> {
        let credentials = parse_authorization(authorization)?;
        let hash = fast_hash(&credentials.secret_key, self.salt.expose());
        let record = match self.cache.get(&hash).await {
            Some(cached) => {
                metrics::counter!("spanbridge_auth_requests_total", "result" => "cache_hit")
                    .increment(1);
                cached
            }
            None => {
                metrics::counter!("spanbridge_auth_requests_total", "result" => "cache_miss")
                    .increment(1);
                let mut found = self.store.find_by_fast_hash(&hash).await?;
                if found.is_none()
                    && let Some(public_key) = &credentials.public_key
                {
                    found = self
                        .verify_without_fast_hash(public_key, &credentials.secret_key, &hash)
                        .await?;
                }
                self.cache.insert(hash.clone(), found.clone()).await;
                found
            }
        };
        let record = record
            .filter(|record| {
                bool::from(
                    record
                        .fast_hashed_secret_key
                        .as_bytes()
                        .ct_eq(hash.as_bytes()),
                )
            })
            .ok_or_else(|| IngestError::Unauthenticated("invalid API key".into()))?;
        if let Some(public_key) = &credentials.public_key
            && !bool::from(public_key.as_bytes().ct_eq(record.public_key.as_bytes()))
        {
            return Err(IngestError::Unauthenticated(
                "public key does not match the secret key".into(),
            ));
        }
        if record.ingestion_suspended {
            return Err(IngestError::Forbidden(
                "ingestion is suspended for this organization".into(),
            ));
        }
        self.store.key_used(&record.id);
        Ok(Project {
            project_id: record.project_id,
            api_key_id: record.id,
            project_name: record.project_name,
            organization_id: record.organization_id,
            organization_name: record.organization_name,
        })
    }

    /// The bcrypt fallback (Langfuse `apiAuth.ts`): a key without a fast hash, found by its
    /// public key, whose `hashed_secret_key` verifies the secret. Only keys that lack a fast
    /// hash get here, so a wrong secret for a normal key never costs a bcrypt round.
    async fn verify_without_fast_hash(
        &self,
        public_key: &str,
        secret_key: &str,
        hash: &str,
    ) -> Result<Option<KeyRecord>, BackendUnavailable> {
        let Some(UnhashedKeyRecord {
            mut record,
            hashed_secret_key,
        }) = self.store.find_without_fast_hash(public_key).await?
        else {
            return Ok(None);
        };
        let secret_key = secret_key.to_owned();
        let verified = tokio::task::spawn_blocking(move || {
            bcrypt::verify(secret_key, &hashed_secret_key).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        Ok(verified.then(|| {
            record.fast_hashed_secret_key = hash.to_owned();
            record
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed vectors computed outside this code base, with Python's hashlib:
    /// `sha256((sk + sha256(salt).hexdigest()).encode()).hexdigest()` (Langfuse's
    /// `createShaHash`); the first also with `sha256sum` in the shell.
    #[test]
    fn fast_hash_matches_langfuse() {
        let vectors = [
            (
                "sk-lf-1",
                "salt",
                "4b60b8b29f43ec4b509f4faa962efe11f811c033e672baa5ffdfc52f9ad987d1",
            ),
            (
                "sk-lf-1234567890abcdef",
                "langfuse-deployment-salt",
                "4e90a396c933de46f85e938221a8b0e737fa021acb57b56b5e0b0ee2a79c328c",
            ),
            (
                "sk-lf-ünïcode",
                "",
                "f4b723bc21af333f43a59d50606b8e853b80f7ea712102d896504c402abbf22e",
            ),
        ];
        for (secret_key, salt, expected) in vectors {
            assert_eq!(
                fast_hash(secret_key, salt),
                expected,
                "{secret_key:?} / {salt:?}"
            );
        }
    }

    /// A key store holding one key without a fast hash, as Langfuse databases have them.
    struct UnhashedOnly {
        hashed_secret_key: &'static str,
    }

    #[async_trait]
    impl KeyStore for UnhashedOnly {
        async fn find_by_fast_hash(
            &self,
            _: &str,
        ) -> Result<Option<KeyRecord>, BackendUnavailable> {
            Ok(None)
        }

        async fn find_without_fast_hash(
            &self,
            public_key: &str,
        ) -> Result<Option<UnhashedKeyRecord>, BackendUnavailable> {
            let record = KeyRecord {
                id: "key-1".into(),
                project_id: "project-1".into(),
                public_key: public_key.into(),
                ..KeyRecord::default()
            };
            Ok((public_key == "pk-lf-unhashed").then(|| UnhashedKeyRecord {
                record,
                hashed_secret_key: self.hashed_secret_key.into(),
            }))
        }
    }

    /// The bcrypt fallback verifies hashes made elsewhere: fixed `$2a$` (bcryptjs, as Langfuse
    /// writes them) and `$2b$` hashes generated once with libxcrypt's `crypt()` (Perl
    /// `crypt($secret, $settings)`), not by the crate this code calls.
    #[tokio::test]
    async fn bcrypt_fallback_verifies_fixed_hashes() {
        let vectors = [
            (
                "sk-lf-legacy-0000",
                "$2a$10$LegacyKeyFixedSaltLegOgmtbzmiFvxr4v4QE0O8Kuo2fpgmYzK2",
            ),
            (
                "sk-lf-00000000-1111-2222-3333-444444444444",
                "$2b$11$Spanbridge.fixed.salt.JXTHEkMGPoM3CF17Frq0djzwBacTcwS",
            ),
        ];
        for (secret_key, hashed_secret_key) in vectors {
            let authenticator = Authenticator::new(
                Arc::new(UnhashedOnly { hashed_secret_key }),
                "salt".into(),
                Duration::from_secs(60),
                100,
            );
            let basic = |secret: &str| {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("pk-lf-unhashed:{secret}"));
                format!("Basic {encoded}")
            };
            let project = authenticator
                .authenticate(Some(&basic(secret_key)))
                .await
                .unwrap_or_else(|error| panic!("{hashed_secret_key}: {error}"));
            assert_eq!(project.project_id, "project-1");
            let wrong = authenticator
                .authenticate(Some(&basic("sk-lf-wrong")))
                .await;
            assert!(
                matches!(wrong, Err(IngestError::Unauthenticated(_))),
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn parses_basic_and_bearer() {
        let basic = base64::engine::general_purpose::STANDARD.encode("pk-lf-1:sk-lf-2:x");
        let credentials = parse_authorization(Some(&format!("Basic {basic}"))).unwrap();
        assert_eq!(credentials.public_key.as_deref(), Some("pk-lf-1"));
        assert_eq!(credentials.secret_key, "sk-lf-2:x");
        let bearer = parse_authorization(Some("bearer sk-lf-3")).unwrap();
        assert_eq!(
            bearer,
            Credentials {
                public_key: None,
                secret_key: "sk-lf-3".into()
            }
        );
        assert!(parse_authorization(None).is_err());
        assert!(parse_authorization(Some("Basic !!!")).is_err());
        // The separator as an exporter that does not percent-decode its headers sends it.
        let encoded = parse_authorization(Some(&format!("Basic%20{basic}"))).unwrap();
        assert_eq!(encoded.public_key.as_deref(), Some("pk-lf-1"));
        assert_eq!(encoded.secret_key, "sk-lf-2:x");
        assert_eq!(
            parse_authorization(Some("Bearer%20sk-lf-3"))
                .unwrap()
                .secret_key,
            "sk-lf-3"
        );
        assert!(parse_authorization(Some("Basic%20")).is_err());
        assert!(parse_authorization(Some("Token abc")).is_err());
    }
}
