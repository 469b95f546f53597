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
    /// compiling Langfuse's ~170 default models takes tens of milliseconds), then reloads every
    /// loaded list once per TTL in the background while the catalog lives: a price change
    /// applies within about the TTL even to the first row after a quiet hour, and no row
    /// waits for a reload.
    pub async fn warm(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        inner.list(None).await;
        let (catalog, ttl) = (Arc::downgrade(inner), inner.ttl);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl).await;
                let Some(inner) = catalog.upgrade() else {
                    return;
                };
                // A list a row had reloaded since (it found it past the TTL) is left alone.
                let keys: Vec<String> = inner
                    .lists
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .filter(|(_, loaded)| loaded.at.elapsed() >= ttl / 2)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in keys {
                    inner.reload_in_background(key);
                }
            }
        });
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
    /// (docs/performance.md, "Conversion, pricing, privacy"). Also says whether the list is
    /// within its TTL.
    async fn list(self: &Arc<Self>, project_id: Option<&str>) -> (ModelList, bool) {
        let key = project_id.unwrap_or_default().to_owned();
        let found = {
            let lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            lists
                .get(&key)
                .map(|loaded| (loaded.list.clone(), loaded.at.elapsed() < self.ttl))
        };
        match found {
            Some((list, fresh)) => {
                if !fresh {
                    self.reload_in_background(key);
                }
                (list, fresh)
            }
            None => (self.load(key, project_id).await, true),
        }
    }

    /// Starts one reload of the list under `key` ("" = global) unless one is under way.
    /// Compiling takes tens of milliseconds, so it runs on a blocking thread, not on the
    /// runtime's workers.
    fn reload_in_background(self: &Arc<Self>, key: String) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut lists = self.lists.lock().unwrap_or_else(PoisonError::into_inner);
            match lists.get_mut(&key) {
                Some(loaded) if !loaded.refreshing => loaded.refreshing = true,
                _ => return,
            }
        }
        let (inner, handle) = (self.clone(), runtime.clone());
        runtime.spawn_blocking(move || {
            let project_id = (!key.is_empty()).then(|| key.clone());
            handle.block_on(inner.load(key, project_id.as_deref()))
        });
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

    const SLOW_LOAD: Duration = Duration::from_millis(400);

    /// One global model, of the version `version` holds (loads of later versions take
    /// [`SLOW_LOAD`]); fails while `down`.
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
            if version > 1.0 {
                // A slow metadata store, which no row may wait for.
                tokio::time::sleep(SLOW_LOAD).await;
            }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lists_reload_in_the_background_and_stay_when_the_reload_fails() {
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

        // The models change while no row comes: the catalog reloads by itself, so the first
        // row after the quiet spell already finds the new model (an inline or on-use reload
        // would have served it the old list).
        *source
            .version
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = 2.0;
        tokio::time::sleep(ttl + SLOW_LOAD + ttl).await;
        let asked = Instant::now();
        assert_eq!(matched_id(&catalog).await.as_deref(), Some("gpt-test-2"));
        assert!(
            asked.elapsed() < SLOW_LOAD / 2,
            "the row waited for a reload"
        );

        // The source goes down: the last list stays, and each list (the global one and
        // project p's) is tried again once per TTL, not once per row.
        source.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(ttl * 2).await;
        let (before, started) = (source.loads.load(Ordering::SeqCst), Instant::now());
        for _ in 0..40 {
            assert_eq!(matched_id(&catalog).await.as_deref(), Some("gpt-test-2"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let ttls = started.elapsed().as_millis() / ttl.as_millis() + 1;
        let loads = source.loads.load(Ordering::SeqCst) - before;
        assert!(
            loads as u128 <= 2 * ttls,
            "{loads} loads in {ttls} TTLs for 40 rows"
        );
    }
}
