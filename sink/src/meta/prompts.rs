//! `prompt_id` for events rows, as Langfuse's worker resolves it (reference §3.13): the id of
//! the project's prompt with the row's `prompt_name` and `prompt_version`, or `""` when there
//! is none. Only an existing Langfuse database (`meta.source = "langfuse"`) has prompts;
//! with Spanbridge's own stores the id stays empty.

use std::sync::Arc;
use std::time::Duration;

use super::MetaStore;

/// Lookups are cached by (project id, name, version): a batch repeats the same prompt for many
/// rows, and a prompt version never changes its id.
type PromptKey = (String, String, u32);

/// Prompt ids with a bounded TTL cache in front of the metadata store. Misses are cached too
/// (most rows name prompts that do not exist in the store, e.g. with our own stores);
/// failures are not, so the next row asks again. Cheap to clone; `PromptIds::none()` resolves
/// nothing.
#[derive(Clone)]
pub struct PromptIds {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    meta: Arc<dyn MetaStore>,
    ids: moka::future::Cache<PromptKey, Option<String>>,
}

impl PromptIds {
    /// Resolves through `meta`, remembering answers for `ttl` (the model cache's TTL: a new
    /// prompt version is linked within that time).
    pub fn new(meta: Arc<dyn MetaStore>, ttl: Duration) -> Self {
        let ids = moka::future::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(ttl)
            .build();
        Self {
            inner: Some(Arc::new(Inner { meta, ids })),
        }
    }

    /// Resolves nothing: every `prompt_id` stays empty.
    pub fn none() -> Self {
        Self { inner: None }
    }

    /// The prompt's id, or `""` when the row names no prompt, the store has none, or the
    /// lookup failed (logged; enrichment never fails).
    pub async fn resolve(&self, project_id: &str, name: &str, version: Option<u32>) -> String {
        let (Some(inner), Some(version)) = (&self.inner, version) else {
            return String::new();
        };
        if name.is_empty() {
            return String::new();
        }
        let key = (project_id.to_owned(), name.to_owned(), version);
        if let Some(found) = inner.ids.get(&key).await {
            return found.unwrap_or_default();
        }
        match inner.meta.find_prompt_id(project_id, name, version).await {
            Ok(found) => {
                inner.ids.insert(key, found.clone()).await;
                found.unwrap_or_default()
            }
            Err(error) => {
                tracing::warn!(%error, project_id, prompt = name, version, "cannot look up the prompt id; stored empty");
                String::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::meta::{KeyRecord, KeySummary, MetaError, NewApiKey, UnhashedKeyRecord, UsageCount};
    use crate::prices::{ModelDefinition, PriceFileModel};

    /// A store with one prompt that counts its lookups.
    #[derive(Default)]
    struct OnePrompt {
        lookups: AtomicUsize,
    }

    #[async_trait]
    impl MetaStore for OnePrompt {
        fn describe(&self) -> &'static str {
            "test"
        }
        async fn find_key_by_fast_hash(&self, _: &str) -> Result<Option<KeyRecord>, MetaError> {
            Ok(None)
        }
        async fn find_key_without_fast_hash(
            &self,
            _: &str,
        ) -> Result<Option<UnhashedKeyRecord>, MetaError> {
            Ok(None)
        }
        async fn project_count(&self) -> Result<i64, MetaError> {
            Ok(0)
        }
        async fn ensure_project(&self, _: &str) -> Result<String, MetaError> {
            Ok(String::new())
        }
        async fn public_key_exists(&self, _: &str) -> Result<bool, MetaError> {
            Ok(false)
        }
        async fn insert_key(&self, _: &str, _: &NewApiKey) -> Result<String, MetaError> {
            Ok(String::new())
        }
        async fn list_keys(&self) -> Result<Vec<KeySummary>, MetaError> {
            Ok(Vec::new())
        }
        async fn revoke(&self, _: &str) -> Result<bool, MetaError> {
            Ok(false)
        }
        async fn touch_keys(&self, _: &[(String, i64)]) -> Result<(), MetaError> {
            Ok(())
        }
        async fn add_ingestion_usage(&self, _: &[UsageCount]) -> Result<(), MetaError> {
            Ok(())
        }
        async fn upsert_models(&self, _: &[PriceFileModel], _: bool) -> Result<usize, MetaError> {
            Ok(0)
        }
        async fn load_models(&self, _: Option<&str>) -> Result<Vec<ModelDefinition>, MetaError> {
            Ok(Vec::new())
        }
        async fn find_prompt_id(
            &self,
            project_id: &str,
            name: &str,
            version: u32,
        ) -> Result<Option<String>, MetaError> {
            self.lookups.fetch_add(1, Ordering::Relaxed);
            Ok((project_id == "p" && name == "greeting" && version == 2)
                .then(|| "prompt-2".to_owned()))
        }
    }

    #[tokio::test]
    async fn hits_and_misses_are_cached_rows_without_a_version_are_not_looked_up() {
        let store = Arc::new(OnePrompt::default());
        let prompts = PromptIds::new(store.clone(), Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(prompts.resolve("p", "greeting", Some(2)).await, "prompt-2");
            assert_eq!(prompts.resolve("p", "greeting", Some(3)).await, "");
        }
        assert_eq!(prompts.resolve("p", "greeting", None).await, "");
        assert_eq!(prompts.resolve("p", "", Some(2)).await, "");
        assert_eq!(store.lookups.load(Ordering::Relaxed), 2);
        assert_eq!(
            PromptIds::none().resolve("p", "greeting", Some(2)).await,
            ""
        );
    }
}
