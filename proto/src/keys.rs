//! The key record both halves need: the sink's metadata store reads it, the gateway
//! authenticates with it.

/// A stored project API key as authentication needs it: never the secret, only its hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub project_id: String,
    /// `projects.name`: privacy and sampling settings may name projects.
    pub project_name: String,
    /// The project's organisation (`organizations.id`, `.name`), for `GET /api/public/projects`.
    pub organization_id: String,
    pub organization_name: String,
    pub public_key: String,
    /// Langfuse's `fast_hashed_secret_key`; empty for a key created before the column existed.
    pub fast_hashed_secret_key: String,
    /// The organisation's ingestion is suspended (Langfuse:
    /// `organizations.cloud_free_tier_usage_threshold_state = 'BLOCKED'`): 403, not 401.
    pub ingestion_suspended: bool,
}

/// A key without a fast hash (created by Langfuse before the column existed): it can only be
/// verified with bcrypt against `hashed_secret_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnhashedKeyRecord {
    pub record: KeyRecord,
    pub hashed_secret_key: String,
}
