//! The model catalog: compiled model lists per project and match results, cached in memory
//! with a short TTL (as Langfuse caches matches in-process), in front of any `ModelSource`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::ModelDefinition;
use super::matching::{CompiledModel, order_models};

/// The metadata store could not load models. Always transient: the catalog serves the last
/// list that loaded and tries again after its TTL.
#[derive(Debug, thiserror::Error)]
#[error("cannot load model prices: {0}")]
pub struct ModelsUnavailable(pub String);

/// Where model definitions come from.
#[async_trait]
pub trait ModelSource: Send + Sync + 'static {
    /// Global models (`project_id IS NULL`) for `None`, else the project's own models.
    async fn load_models(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<ModelDefinition>, ModelsUnavailable>;
}

type ModelList = Arc<Vec<Arc<CompiledModel>>>;

struct CatalogInner {
    source: Arc<dyn ModelSource>,
    /// Compiled model lists by project id ("" = the global models).
    lists: moka::future::Cache<String, ModelList>,
    /// The last list that loaded, served when a reload fails (a metadata outage must not
    /// strip costs from rows that would have been priced a minute ago).
    last_good: Mutex<HashMap<String, ModelList>>,
    /// Match results by (project id, provided model name), misses included.
    matches: moka::future::Cache<(String, String), Option<Arc<CompiledModel>>>,
}

/// Model matching with a short-TTL in-memory cache, as Langfuse caches matches in-process.
/// Cloning is cheap; `ModelCatalog::none()` prices nothing (provided costs still count).
#[derive(Clone)]
pub struct ModelCatalog {
    inner: Option<Arc<CatalogInner>>,
}

impl ModelCatalog {
    pub fn new(source: Arc<dyn ModelSource>, ttl: Duration) -> Self {
        let inner = CatalogInner {
            source,
            lists: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            last_good: Mutex::new(HashMap::new()),
            matches: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        };
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    /// A catalog without models.
    pub fn none() -> Self {
        Self { inner: None }
    }

    /// The model `provided_model_name` resolves to for `project_id`, if any.
    pub async fn find(
        &self,
        project_id: &str,
        provided_model_name: &str,
    ) -> Option<Arc<CompiledModel>> {
        let inner = self.inner.as_ref()?;
        if provided_model_name.is_empty() {
            return None;
        }
        let key = (project_id.to_owned(), provided_model_name.to_owned());
        if let Some(found) = inner.matches.get(&key).await {
            metrics::counter!("spanbridge_model_cache_requests_total", "result" => "hit")
                .increment(1);
            return found;
        }
        metrics::counter!("spanbridge_model_cache_requests_total", "result" => "miss").increment(1);
        let project = inner.list(Some(project_id)).await;
        let global = inner.list(None).await;
        let found = project
            .iter()
            .chain(global.iter())
            .find(|model| model.matches(provided_model_name))
            .cloned();
        inner.matches.insert(key, found.clone()).await;
        found
    }
}

impl CatalogInner {
    async fn list(&self, project_id: Option<&str>) -> ModelList {
        let key = project_id.unwrap_or_default().to_owned();
        if let Some(list) = self.lists.get(&key).await {
            return list;
        }
        let list = match self.source.load_models(project_id).await {
            Ok(mut models) => {
                order_models(&mut models);
                let list: ModelList = Arc::new(
                    models
                        .iter()
                        .filter_map(CompiledModel::compile)
                        .map(Arc::new)
                        .collect(),
                );
                if let Ok(mut last_good) = self.last_good.lock() {
                    last_good.insert(key.clone(), list.clone());
                }
                list
            }
            Err(error) => {
                metrics::counter!("spanbridge_model_catalog_errors_total").increment(1);
                tracing::warn!(%error, "cannot load model prices; using the last loaded ones");
                let stale = self
                    .last_good
                    .lock()
                    .ok()
                    .and_then(|last_good| last_good.get(&key).cloned());
                // Not cached: the next row tries the source again.
                return stale.unwrap_or_default();
            }
        };
        self.lists.insert(key, list.clone()).await;
        list
    }
}
