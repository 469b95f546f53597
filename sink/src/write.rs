//! The sink's one write path, embedded and in the Kafka deployment (Vector's sink driver): inputs
//! — the embedded queue's requests (`queue.rs`) or the Kafka consumer's messages (`consume.rs`) —
//! are enriched and gathered into a [`Batch`] by rows, bytes and time; [`Writer::flush`] writes
//! it with retries (transient vs. permanent is the error's property, [`StoreError`]), counts it,
//! and hands every input back with its outcome. The feeders only feed and settle (answer the
//! client / commit the offset).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spanbridge_proto::EventBatch;

use crate::assemble::Assembler;
use crate::enrich::{enrich, now_us};
use crate::meta::{IngestionUsage, PromptIds};
use crate::prices::ModelCatalog;
use crate::retry::{Backoff, RetryUntil};
use crate::scores::take_scores;
use crate::store::{Store, StoreError, StoredRow, StoredScore};

/// When a batch is written: whichever limit is reached first.
#[derive(Debug, Clone)]
pub struct BatchLimits {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// How long the first input of a batch waits for more.
    pub max_wait: Duration,
}

/// Enriched rows waiting to be written, and the inputs they came from (`T`: what the feeder
/// settles, e.g. a client's answer channel or a Kafka offset).
pub struct Batch<T> {
    rows: Vec<StoredRow>,
    /// Scores of the inputs, written with the rows.
    scores: Vec<StoredScore>,
    /// Each input with its rows and its scores.
    inputs: Vec<(T, Range<usize>, Range<usize>)>,
    /// Where each live row of the batch is, by the hash of its identity: a newer version of
    /// the same row (an assembly rewrite, a re-sent span) takes its place instead of being
    /// written twice.
    live: HashMap<u64, usize>,
    hasher: RandomState,
    bytes: usize,
    started: Option<Instant>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            scores: Vec::new(),
            inputs: Vec::new(),
            live: HashMap::new(),
            hasher: RandomState::new(),
            bytes: 0,
            started: None,
        }
    }
}

impl<T> Batch<T> {
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Whether the row or byte limit is reached.
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        self.rows.len() >= limits.max_rows || self.bytes >= limits.max_bytes
    }

    /// When the batch must be written even if not full (None while empty).
    pub fn deadline(&self, limits: &BatchLimits) -> Option<Instant> {
        self.started.map(|started| started + limits.max_wait)
    }

    /// Adds a row version. A live row already in the batch with the same identity is replaced
    /// in place: the store keeps only the newest version anyway, and the older input's rows
    /// now hold the newest (a superset of what it sent). A tombstone is appended, and a live
    /// version after it goes after it too.
    fn push_row(&mut self, row: StoredRow) {
        let key = self.hasher.hash_one((
            &row.project_id,
            &row.row.trace_id,
            &row.row.span_id,
            row.row.start_time_us,
            &row.row.r#type,
        ));
        if row.deleted {
            self.live.remove(&key);
        } else if let Some(&at) = self.live.get(&key) {
            if same_row(&self.rows[at], &row) {
                self.rows[at] = row;
                return;
            }
        } else {
            self.live.insert(key, self.rows.len());
        }
        self.rows.push(row);
    }

    /// The inputs without their rows: for answering them all with one error.
    pub fn into_inputs(self) -> impl Iterator<Item = T> {
        self.inputs.into_iter().map(|(input, _, _)| input)
    }
}

/// Whether two versions are of one stored row (the key of events_full and v3 observations).
fn same_row(a: &StoredRow, b: &StoredRow) -> bool {
    a.project_id == b.project_id
        && a.row.trace_id == b.row.trace_id
        && a.row.span_id == b.row.span_id
        && a.row.start_time_us == b.row.start_time_us
        && a.row.r#type == b.row.r#type
}

/// What the write path needs: the store, prices, prompt ids and usage counters, and how long to
/// back off.
pub struct Writer {
    store: Arc<dyn Store>,
    catalog: ModelCatalog,
    prompts: PromptIds,
    usage: IngestionUsage,
    max_retry_backoff: Duration,
    /// None: rows are written as they come (`sink.assembly.enabled = false`).
    assembler: Option<Assembler>,
}

/// How each input of a written batch fared: Ok when its rows are durable, or the store's
/// refusal of them as data.
pub type Settled<T> = Vec<(T, Result<(), StoreError>)>;

impl Writer {
    pub fn new(
        store: Arc<dyn Store>,
        catalog: ModelCatalog,
        prompts: PromptIds,
        usage: IngestionUsage,
        max_retry_backoff: Duration,
    ) -> Self {
        Self {
            store,
            catalog,
            prompts,
            usage,
            max_retry_backoff,
            assembler: None,
        }
    }

    /// Assembles pieces of a trace that arrive apart before enriching them (DESIGN.md
    /// "Assembly").
    pub fn with_assembly(mut self, assembler: Assembler) -> Self {
        self.assembler = Some(assembler);
        self
    }

    /// The assembler, for the Kafka consumer to drop its cache on a rebalance.
    pub fn assembler(&self) -> Option<&Assembler> {
        self.assembler.as_ref()
    }

    /// Enriches one input's batches into `batch`. `bytes` is the input's size as received
    /// (for the byte limit); an input without rows (e.g. a dead-lettered message) is still
    /// settled with the batch.
    pub async fn add<T>(
        &self,
        batch: &mut Batch<T>,
        mut batches: Vec<EventBatch>,
        bytes: usize,
        input: T,
    ) {
        let start = batch.rows.len();
        let scores_start = batch.scores.len();
        let now = now_us();
        batch.scores.extend(take_scores(&mut batches, now));
        // Rewrites and tombstones that assembly produces belong to this input: they are
        // written in the same flush, before the input is settled (offsets after every write).
        let batches = match &self.assembler {
            Some(assembler) => {
                let assembled = assembler.assemble(batches, self.store.as_ref()).await;
                let tombstones = enrich(assembled.tombstones, now, &self.catalog, &self.prompts);
                for mut stored in tombstones.await {
                    stored.deleted = true;
                    batch.push_row(stored);
                }
                assembled.batches
            }
            None => batches,
        };
        for stored in enrich(batches, now, &self.catalog, &self.prompts).await {
            batch.push_row(stored);
        }
        batch.inputs.push((
            input,
            start..batch.rows.len(),
            scores_start..batch.scores.len(),
        ));
        batch.bytes += bytes;
        batch.started.get_or_insert_with(Instant::now);
    }

    /// Writes the batch and empties it, returning every input with its outcome. When the
    /// store refuses the batch as data, each input is written alone so only the refused ones
    /// fail. When transient failures outlast `until`, the batch is kept unchanged (nothing may
    /// be settled as written) and the last error is returned.
    pub async fn flush<T>(
        &self,
        batch: &mut Batch<T>,
        until: &RetryUntil,
    ) -> Result<Settled<T>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let results = match self.write(&batch.rows, &batch.scores, until).await {
            Ok(()) => vec![Ok(()); batch.inputs.len()],
            Err(error) if error.is_permanent() => {
                let mut results = Vec::with_capacity(batch.inputs.len());
                for (_, rows, scores) in &batch.inputs {
                    let (rows, scores) = (&batch.rows[rows.clone()], &batch.scores[scores.clone()]);
                    match self.write(rows, scores, until).await {
                        Err(error) if !error.is_permanent() => {
                            self.forget_written(&batch.rows);
                            return Err(error);
                        }
                        Err(error) => {
                            self.forget_written(rows);
                            results.push(Err(error));
                        }
                        Ok(()) => results.push(Ok(())),
                    }
                }
                results
            }
            Err(error) => {
                self.forget_written(&batch.rows);
                return Err(error);
            }
        };
        let written = std::mem::take(batch);
        let rows_written = results
            .iter()
            .zip(&written.inputs)
            .filter(|(result, _)| result.is_ok())
            .map(|(_, (_, range, _))| range.len())
            .sum::<usize>();
        metrics::histogram!("spanbridge_sink_batch_rows").record(written.rows.len() as f64);
        metrics::histogram!("spanbridge_sink_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("spanbridge_sink_rows_written_total").increment(rows_written as u64);
        let scores_written = results
            .iter()
            .zip(&written.inputs)
            .filter(|(result, _)| result.is_ok())
            .map(|(_, (_, _, scores))| scores.len())
            .sum::<usize>();
        metrics::counter!("spanbridge_sink_scores_written_total").increment(scores_written as u64);
        tracing::debug!(
            rows = rows_written,
            inputs = written.inputs.len(),
            "batch written"
        );
        Ok(written
            .inputs
            .into_iter()
            .map(|(input, _, _)| input)
            .zip(results)
            .collect())
    }

    /// Rows that were not written: assembly must not take re-sends of their traces for copies
    /// of stored ones.
    fn forget_written(&self, rows: &[StoredRow]) {
        if let Some(assembler) = &self.assembler {
            assembler.forget_written(
                rows.iter()
                    .map(|stored| (stored.project_id.as_str(), stored.row.trace_id.as_str())),
            );
        }
    }

    /// Writes rows, then scores, retrying transient errors under `until` (both are
    /// idempotent: a retry rewrites the same versions); counts usage once written.
    async fn write(
        &self,
        rows: &[StoredRow],
        scores: &[StoredScore],
        until: &RetryUntil,
    ) -> Result<(), StoreError> {
        let mut backoff = Backoff::new(self.max_retry_backoff);
        loop {
            let written = match self.store.write(rows).await {
                Ok(()) => self.store.write_scores(scores).await,
                Err(error) => Err(error),
            };
            let error = match written {
                Ok(()) => {
                    self.usage.record(rows);
                    return Ok(());
                }
                Err(error) => error,
            };
            let kind = if error.is_permanent() {
                "rejected"
            } else {
                "transient"
            };
            metrics::counter!("spanbridge_store_errors_total", "kind" => kind).increment(1);
            if error.is_permanent() {
                tracing::warn!(%error, rows = rows.len(), "the store refused rows as data");
                return Err(error);
            }
            tracing::warn!(
                %error,
                rows = rows.len(),
                retry_in_ms = backoff.next_pause().as_millis() as u64,
                "store write failed"
            );
            if !backoff.pause(until).await {
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use spanbridge_proto::EventRow;

    use super::*;

    /// A store that refuses rows of one span id as data and fails transiently a set number of
    /// times: the faults a real store does not produce on demand.
    #[derive(Default)]
    struct FaultyStore {
        refused_span: Option<&'static str>,
        transient_failures: Mutex<usize>,
        written: Mutex<Vec<String>>,
        rows: Mutex<Vec<StoredRow>>,
    }

    #[async_trait]
    impl crate::store::TraceReader for FaultyStore {
        fn name(&self) -> &'static str {
            "test"
        }

        fn describe(&self) -> &'static str {
            "test store"
        }

        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }

        async fn rows_of_trace(
            &self,
            project_id: &str,
            trace_id: &str,
        ) -> Result<Vec<StoredRow>, StoreError> {
            let rows = self.rows.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|r| r.project_id == project_id && r.row.trace_id == trace_id)
                .cloned()
                .collect())
        }

        async fn scores_of_trace(&self, _: &str, _: &str) -> Result<Vec<StoredScore>, StoreError> {
            Ok(Vec::new())
        }

        async fn list_observations(
            &self,
            _: &str,
            _: &spanbridge_proto::ObservationQuery,
        ) -> Result<Vec<StoredRow>, StoreError> {
            Ok(Vec::new())
        }

        async fn count_observations(
            &self,
            _: &str,
            _: &spanbridge_proto::ObservationQuery,
        ) -> Result<u64, StoreError> {
            Ok(0)
        }

        async fn list_traces(
            &self,
            _: &str,
            _: &spanbridge_proto::TraceQuery,
        ) -> Result<spanbridge_proto::TracePage, StoreError> {
            Ok(Default::default())
        }

        async fn list_sessions(
            &self,
            _: &str,
            _: &spanbridge_proto::SessionQuery,
        ) -> Result<spanbridge_proto::SessionPage, StoreError> {
            Ok(Default::default())
        }

        async fn daily_metrics(
            &self,
            _: &str,
            _: &spanbridge_proto::TraceFilter,
        ) -> Result<Vec<spanbridge_proto::DailyRow>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[async_trait]
    impl Store for FaultyStore {
        async fn write(&self, rows: &[StoredRow]) -> Result<(), StoreError> {
            {
                let mut failures = self.transient_failures.lock().unwrap();
                if *failures > 0 {
                    *failures -= 1;
                    return Err(StoreError::Unavailable {
                        store: "test",
                        detail: "down".into(),
                    });
                }
            }
            if rows
                .iter()
                .any(|r| Some(r.row.span_id.as_str()) == self.refused_span)
            {
                return Err(StoreError::Rejected {
                    store: "test",
                    detail: "bad row".into(),
                });
            }
            let mut written = self.written.lock().unwrap();
            written.extend(rows.iter().map(|r| r.row.span_id.clone()));
            self.rows.lock().unwrap().extend(rows.iter().cloned());
            Ok(())
        }

        async fn write_scores(&self, scores: &[StoredScore]) -> Result<(), StoreError> {
            let mut written = self.written.lock().unwrap();
            written.extend(scores.iter().map(|s| format!("score:{}", s.score.id)));
            Ok(())
        }
    }

    fn input(span_id: &str) -> Vec<EventBatch> {
        vec![EventBatch {
            project_id: "p".into(),
            rows: vec![EventRow {
                trace_id: "t".into(),
                span_id: span_id.into(),
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn writer(store: Arc<FaultyStore>) -> Writer {
        Writer::new(
            store,
            ModelCatalog::none(),
            PromptIds::none(),
            IngestionUsage::disabled(),
            Duration::from_millis(100),
        )
    }

    #[tokio::test]
    async fn a_refused_input_fails_alone_and_the_others_are_written() {
        let store = Arc::new(FaultyStore {
            refused_span: Some("bad"),
            ..Default::default()
        });
        let writer = writer(store.clone());
        let mut batch = Batch::default();
        for (i, span) in ["a", "bad", "c"].into_iter().enumerate() {
            writer.add(&mut batch, input(span), 10, i).await;
        }
        let settled = writer.flush(&mut batch, &RetryUntil::Never).await.unwrap();
        let outcomes: Vec<(usize, bool)> = settled.iter().map(|(i, r)| (*i, r.is_ok())).collect();
        assert_eq!(outcomes, [(0, true), (1, false), (2, true)]);
        assert!(settled[1].1.as_ref().is_err_and(StoreError::is_permanent));
        assert_eq!(*store.written.lock().unwrap(), ["a", "c"]);
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn a_retry_of_a_failed_write_is_written_an_exact_resend_of_a_written_one_is_not() {
        use crate::assemble::{Assembler, AssemblySettings};
        let store = Arc::new(FaultyStore {
            transient_failures: Mutex::new(1),
            ..Default::default()
        });
        let writer = writer(store.clone()).with_assembly(Assembler::new(&AssemblySettings {
            max_bytes: 1 << 20,
            idle: Duration::from_secs(60),
            max_rewrite_rows: 100,
        }));
        // A whole trace that starts after the sink did: new, so written without a read-back.
        let start = now_us() + 1_000_000;
        let whole = || {
            let mut batches = input("root");
            batches[0].rows[0].start_time_us = start;
            batches
        };
        let mut batch = Batch::default();
        writer.add(&mut batch, whole(), 10, ()).await;
        assert!(writer.flush(&mut batch, &RetryUntil::Never).await.is_err());
        // Embedded, the client gets a 503 and the batch is dropped; the client sends the same
        // again.
        let mut batch = Batch::default();
        writer.add(&mut batch, whole(), 10, ()).await;
        assert_eq!(
            batch.rows.len(),
            1,
            "the retry of a failed write is no copy"
        );
        writer.flush(&mut batch, &RetryUntil::Never).await.unwrap();
        assert_eq!(*store.written.lock().unwrap(), ["root"]);

        writer.add(&mut batch, whole(), 10, ()).await;
        assert!(batch.rows.is_empty(), "an exact re-send of a stored trace");
        let settled = writer.flush(&mut batch, &RetryUntil::Never).await.unwrap();
        assert!(settled.iter().all(|(_, result)| result.is_ok()));
        assert_eq!(*store.written.lock().unwrap(), ["root"]);
    }

    #[tokio::test]
    async fn transient_failures_keep_the_batch_unless_retried_until_they_pass() {
        let store = Arc::new(FaultyStore {
            transient_failures: Mutex::new(2),
            ..Default::default()
        });
        let writer = writer(store.clone());
        let mut batch = Batch::default();
        writer.add(&mut batch, input("a"), 10, ()).await;
        // No retries (embedded): the error comes back and nothing is settled.
        let error = writer
            .flush(&mut batch, &RetryUntil::Never)
            .await
            .unwrap_err();
        assert!(!error.is_permanent());
        assert!(!batch.is_empty());
        // Retried (Kafka deployment): the second failure is waited out and the rows land.
        let until = RetryUntil::Deadline(Instant::now() + Duration::from_secs(5));
        let settled = writer.flush(&mut batch, &until).await.unwrap();
        assert!(settled[0].1.is_ok());
        assert_eq!(*store.written.lock().unwrap(), ["a"]);
    }

    #[tokio::test]
    async fn scores_are_written_with_their_rows_and_taken_from_the_input() {
        let store = Arc::new(FaultyStore::default());
        let writer = writer(store.clone());
        let mut batch = Batch::default();
        let mut with_score = input("a");
        with_score[0].scores.push(spanbridge_proto::Score {
            id: "s1".into(),
            timestamp_us: 1_234_567,
            ..Default::default()
        });
        writer.add(&mut batch, with_score, 10, ()).await;
        assert_eq!(batch.scores[0].score.timestamp_us, 1_234_000, "ms-aligned");
        assert_eq!(batch.scores[0].project_id, "p");
        writer.flush(&mut batch, &RetryUntil::Never).await.unwrap();
        assert_eq!(*store.written.lock().unwrap(), ["a", "score:s1"]);
    }

    #[tokio::test]
    async fn a_batch_is_due_by_rows_bytes_or_time() {
        let writer = writer(Arc::default());
        let limits = BatchLimits {
            max_rows: 2,
            max_bytes: 100,
            max_wait: Duration::from_secs(1),
        };
        let mut batch = Batch::default();
        assert_eq!(batch.deadline(&limits), None);
        writer.add(&mut batch, input("a"), 10, ()).await;
        assert!(!batch.is_full(&limits));
        assert!(batch.deadline(&limits).is_some());
        writer.add(&mut batch, input("b"), 10, ()).await;
        assert!(batch.is_full(&limits), "two rows");
        let mut by_bytes = Batch::default();
        writer.add(&mut by_bytes, Vec::new(), 100, ()).await;
        assert!(by_bytes.is_full(&limits), "100 bytes");
    }

    #[tokio::test]
    async fn a_newer_version_of_a_row_in_the_same_batch_replaces_the_older_one() {
        let store = Arc::new(FaultyStore::default());
        let writer = writer(store.clone());
        let mut batch = Batch::default();
        let version = |input_tag: &str| {
            let mut batches = input("a");
            batches[0].rows[0].name = input_tag.into();
            batches
        };
        writer.add(&mut batch, version("first"), 10, 0).await;
        writer.add(&mut batch, input("b"), 10, 1).await;
        writer.add(&mut batch, version("second"), 10, 2).await;
        assert_eq!(batch.rows.len(), 2);
        assert_eq!(
            batch.rows[0].row.name, "second",
            "in the older version's place"
        );
        let settled = writer.flush(&mut batch, &RetryUntil::Never).await.unwrap();
        assert!(settled.iter().all(|(_, r)| r.is_ok()));
        assert_eq!(*store.written.lock().unwrap(), ["a", "b"]);
    }
}
