//! The model catalog: compiled model lists per project and match results, cached in memory
//! with a short TTL (as Langfuse caches matches in-process), in front of any `ModelSource`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// A compiled model list and when it was loaded.
struct Loaded {
    list: ModelList,
    at: Instant,
    /// A reload is under way in the background.
    refreshing: bool,
}

struct CatalogInner {
    source: Arc<dyn ModelSource>,
    ttl: Duration,
    /// Compiled model lists by project id ("" = the global models): one per project that
    /// exists, so bounded by the metadata. A list older than the TTL is still served while a
    /// reload runs, and stays if the reload fails (a metadata outage must not strip costs from
    /// rows that would have been priced a minute ago).
    lists: Mutex<HashMap<String, Loaded>>,
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
            ttl,
            lists: Mutex::default(),
            matches: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        };
        Self {
            inner: Some(Arc::new(inner)),
        }
    }

    /// Loads the global models now, so the first rows do not wait for them (loading and
    /// compiling Langfuse's ~170 default models takes tens of milliseconds).
    pub async fn warm(&self) {
        if let Some(inner) = &self.inner {
            inner.list(None).await;
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
        let (project, project_fresh) = inner.list(Some(project_id)).await;
        let (global, global_fresh) = inner.list(None).await;
        let found = project
            .iter()
            .chain(global.iter())
            .find(|model| model.matches(provided_model_name))
            .cloned();
        // A match against a list being reloaded is not kept: the next row matches against
        // the new list, so a price change applies within the TTL.
        if project_fresh && global_fresh {
            inner.matches.insert(key, found.clone()).await;
        }
        found
    }
}

impl CatalogInner {
    /// The compiled list of a project's models (`None`: the global ones). Only the first use
    /// of a list waits for the source; a list older than the TTL is served as it is while one
    /// reload runs in the background. Reloading inline made every row that came after the TTL
    /// wait for it, and in embedded mode every client of that group commit with it
    /// (docs/performance.md, seventh pass). Also says whether the list is within its TTL.
    async fn list(self: &Arc<Self>, project_id: Option<&str>) -> (ModelList, bool) {
        let key = project_id.unwrap_or_default().to_owned();
        {
            let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(loaded) = lists.get_mut(&key) {
                let fresh = loaded.at.elapsed() < self.ttl;
                if !fresh
                    && !loaded.refreshing
                    && let Ok(runtime) = tokio::runtime::Handle::try_current()
                {
                    loaded.refreshing = true;
                    let (inner, key, project_id) =
                        (self.clone(), key.clone(), project_id.map(str::to_owned));
                    // Compiling takes tens of milliseconds: off the runtime's workers.
                    let handle = runtime.clone();
                    runtime.spawn_blocking(move || {
                        handle.block_on(inner.load(key, project_id.as_deref()))
                    });
                }
                return (loaded.list.clone(), fresh);
            }
        }
        (self.load(key, project_id).await, true)
    }

    /// Loads and compiles a list and keeps it. When the source fails, a list loaded before is
    /// kept and tried again after another TTL; with none, the rows go unpriced and the next
    /// row tries again.
    async fn load(&self, key: String, project_id: Option<&str>) -> ModelList {
        let loaded = self.source.load_models(project_id).await.map(compile);
        let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
        match loaded {
            Ok(list) => {
                lists.insert(
                    key,
                    Loaded {
                        list: list.clone(),
                        at: Instant::now(),
                        refreshing: false,
                    },
                );
                list
            }
            Err(error) => {
                metrics::counter!("spanbridge_model_catalog_errors_total").increment(1);
                tracing::warn!(%error, "cannot load model prices; using the last loaded ones");
                let Some(stale) = lists.get_mut(&key) else {
                    return ModelList::default();
                };
                stale.at = Instant::now();
                stale.refreshing = false;
                stale.list.clone()
            }
        }
    }
}

/// The models in matching order, each compiled (a pattern that does not compile is skipped).
fn compile(mut models: Vec<ModelDefinition>) -> ModelList {
    order_models(&mut models);
    Arc::new(
        models
            .iter()
            .filter_map(CompiledModel::compile)
            .map(Arc::new)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One global model, of the version `version` holds; fails while `down`.
    struct Source {
        version: Mutex<f64>,
        loads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl ModelSource for Source {
        async fn load_models(
            &self,
            project_id: Option<&str>,
        ) -> Result<Vec<ModelDefinition>, ModelsUnavailable> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(ModelsUnavailable("down".into()));
            }
            if project_id.is_some() {
                return Ok(Vec::new());
            }
            let version = *self.version.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(vec![model("gpt-test", version)])
        }
    }

    /// A global model whose id tells which load it came from.
    fn model(name: &str, version: f64) -> ModelDefinition {
        ModelDefinition {
            id: format!("{name}-{version}"),
            project_id: None,
            model_name: name.to_owned(),
            match_pattern: format!("(?i)^{name}$"),
            start_date: None,
            tiers: Vec::new(),
        }
    }

    async fn matched_id(catalog: &ModelCatalog) -> Option<String> {
        let found = catalog.find("p", "gpt-test").await?;
        Some(found.id.clone())
    }

    #[tokio::test]
    async fn an_old_list_is_served_while_it_reloads_and_kept_when_the_reload_fails() {
        let source = Arc::new(Source {
            version: Mutex::new(1.0),
            loads: AtomicUsize::new(0),
            down: Default::default(),
        });
        let ttl = Duration::from_millis(200);
        let catalog = ModelCatalog::new(source.clone(), ttl);
        catalog.warm().await;
        assert_eq!(
            source.loads.load(Ordering::SeqCst),
            1,
            "warm loads the global list"
        );
        assert_eq!(matched_id(&catalog).await.as_deref(), Some("gpt-test-1"));

        // Past the TTL, the models changed: the row that finds the list old is answered from
        // it at once, and the reload behind it brings the new model.
        *source
            .version
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = 2.0;
        tokio::time::sleep(ttl * 2).await;
        assert_eq!(matched_id(&catalog).await.as_deref(), Some("gpt-test-1"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while matched_id(&catalog).await.as_deref() != Some("gpt-test-2") {
            assert!(Instant::now() < deadline, "the reload never landed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // The source goes down: the last list stays, and is tried again only after a TTL.
        source.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(ttl * 2).await;
        let before = source.loads.load(Ordering::SeqCst);
        for _ in 0..20 {
            assert_eq!(matched_id(&catalog).await.as_deref(), Some("gpt-test-2"));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            source.loads.load(Ordering::SeqCst) - before <= 2,
            "one failed reload per TTL, not one per row"
        );
    }
}
