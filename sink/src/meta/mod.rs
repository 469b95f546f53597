//! Project metadata: organizations, projects and API keys, with Langfuse's table names.

pub mod sqlite;

/// A key as shown by `keys list`: never the secret, only Langfuse's display form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    pub public_key: String,
    pub display_secret_key: String,
    pub project_id: String,
    pub project_name: String,
    pub created_at: String,
    pub note: Option<String>,
}

/// A new key as stored: hashes only, never the plain secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub public_key: String,
    pub hashed_secret_key: String,
    pub fast_hashed_secret_key: String,
    pub display_secret_key: String,
    pub note: Option<String>,
}

/// The record the gateway authenticates against.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: String,
    pub project_id: String,
    pub public_key: String,
    pub fast_hashed_secret_key: String,
}

/// Langfuse ids are cuids: 25 lowercase alphanumerics starting with `c`.
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    std::iter::once('c')
        .chain((0..24).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char))
        .collect()
}
