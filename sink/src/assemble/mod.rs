//! Assembly (DESIGN.md "Assembly"): the pieces of one trace arrive apart — child spans before
//! their root, log content before or after its span — and every written row must carry the
//! trace's merged fields and the observation's merged content. Runs in the write driver before
//! enrichment, the same embedded and in the Kafka deployment.
//!
//! State per (project, trace) is a bounded cache ([`Assembler`]): the merged trace fields and
//! the newest version of each observation row. A miss reads the trace back from the store
//! (`readback`), so losing the cache loses no data. Pieces that change a row make the whole
//! merged row be written again; the store keeps the newest version (`event_ts`).

mod merge;
mod readback;
mod seen;
mod written;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::future::Cache;
use spanbridge_proto::{EventBatch, EventRow, TraceFields};

use crate::enrich::floor_to_millis;
use crate::store::Store;

pub use merge::MergedTrace;
use seen::Seen;
use written::{TraceKey, Written};

/// The `sink.assembly.*` settings.
#[derive(Debug, Clone)]
pub struct AssemblySettings {
    /// Bytes of trace state the cache holds at most (rows weigh their encoded size).
    pub max_bytes: u64,
    /// A trace not touched for this long leaves the cache (it is read back if it returns).
    pub idle: Duration,
    /// The most rows of one trace held and rewritten when the trace fields change: no
    /// unbounded fan-out on huge traces.
    pub max_rewrite_rows: usize,
}

/// Who sent a row (the ingestion attribution columns); kept per row, so a rewrite does not
/// take the attribution of the request that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Attribution {
    api_key_id: String,
    sdk_name: String,
    sdk_version: String,
}

/// The newest version of one observation row, as last written.
#[derive(Debug, Clone)]
struct Held {
    attribution: Attribution,
    row: EventRow,
}

/// What the sink holds of one trace.
#[derive(Debug, Default)]
struct TraceState {
    trace: MergedTrace,
    /// By span id.
    rows: HashMap<String, Held>,
    /// Whether `rows` holds every stored row of the trace (read back, or known to be new);
    /// when not, a piece for an unknown span reads the trace back before becoming an orphan.
    complete: bool,
}

/// Heap a held row takes beyond its encoded size: the `EventRow` struct itself (~60 fields),
/// string and map headers, the map entry and its key (measured: RSS was ~2.5× the encoded
/// size with no allowance).
const ROW_OVERHEAD_BYTES: usize = 2048;

impl TraceState {
    fn bytes(&self) -> usize {
        self.trace.bytes()
            + self
                .rows
                .values()
                .map(|held| prost::Message::encoded_len(&held.row) + ROW_OVERHEAD_BYTES)
                .sum::<usize>()
    }
}

/// The rows to write for a set of input batches: the assembled batches (scores and trace
/// fields passed along untouched, partial rows merged into rows) and the tombstones of orphan
/// rows whose span arrived with another start time. Tombstones are written first.
#[derive(Debug, Default)]
pub struct Assembled {
    pub batches: Vec<EventBatch>,
    pub tombstones: Vec<EventBatch>,
}

type Key = (String, String);

/// A cached trace's state. The writer takes it out to merge (no copy: the cache may still hold
/// a reference to the slot) and puts a new slot back.
type Slot = Arc<Mutex<Option<TraceState>>>;

fn slot(state: TraceState) -> Slot {
    Arc::new(Mutex::new(Some(state)))
}

fn take(slot: &Slot) -> Option<TraceState> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// The per-trace state cache and the merge driver. Cloning shares the cache (the Kafka
/// consumer's rebalance callback holds a clone to drop it).
#[derive(Clone)]
pub struct Assembler {
    cache: Cache<Key, Slot>,
    /// A miss on a trace this sink never saw skips the read-back: a new trace costs no store
    /// query.
    seen: Arc<Seen>,
    /// Traces written whole, so their exact re-sends are dropped.
    written: Arc<Written>,
    max_rewrite_rows: usize,
}

impl Assembler {
    pub fn new(settings: &AssemblySettings) -> Self {
        let cache = Cache::builder()
            .max_capacity(settings.max_bytes)
            .time_to_idle(settings.idle)
            .weigher(|key: &Key, slot: &Slot| {
                let state = slot.lock().unwrap_or_else(PoisonError::into_inner);
                let bytes = state.as_ref().map_or(0, TraceState::bytes);
                u32::try_from(key.0.len() + key.1.len() + bytes).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |_key, _state, cause| {
                if cause.was_evicted() {
                    metrics::counter!("spanbridge_assembly_cache_evictions_total").increment(1);
                }
            })
            .build();
        Self {
            cache,
            seen: Arc::new(Seen::new()),
            written: Arc::new(Written::new()),
            max_rewrite_rows: settings.max_rewrite_rows,
        }
    }

    /// Drops every cached trace (a Kafka rebalance moved partitions): traces are read back
    /// from the store when they return.
    pub fn forget_all(&self) {
        self.cache.invalidate_all();
        self.seen.forget_all();
        self.written.forget_all();
    }

    /// The rows of a write that failed were not stored: re-sends of their traces must not be
    /// taken for copies of what is stored.
    pub fn forget_written<'a>(&self, rows: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (project_id, trace_id) in rows {
            self.written.forget(TraceKey::of(project_id, trace_id));
        }
    }

    /// Assembles the batches of one input, in order.
    pub async fn assemble(&self, batches: Vec<EventBatch>, store: &dyn Store) -> Assembled {
        let mut assembled = Assembled::default();
        for batch in batches {
            self.assemble_one(batch, store, &mut assembled).await;
        }
        assembled
    }

    async fn assemble_one(&self, batch: EventBatch, store: &dyn Store, out: &mut Assembled) {
        let trace_id = batch.rows.first().map(|r| r.trace_id.clone()).or_else(|| {
            batch
                .partial_rows
                .iter()
                .find_map(|p| p.row.as_ref().map(|r| r.trace_id.clone()))
        });
        // Nothing to assemble (scores only, or a dead-lettered input): passed along as is.
        let Some(trace_id) = trace_id else {
            out.batches.push(batch);
            return;
        };
        let written_key = TraceKey::of(&batch.project_id, &trace_id);
        let whole = whole_trace(&batch);
        let whole_digest = whole.is_some().then(|| written::digest(&batch));
        if whole_digest.is_some_and(|digest| self.written.holds(written_key, digest)) {
            // An exact re-send of a trace written whole: what it would write is stored.
            metrics::counter!("spanbridge_assembly_cache_total", "result" => "resent").increment(1);
            return;
        }
        // Whatever this piece does to the trace, a re-send of its earlier whole batch is no
        // longer a copy of what is stored.
        self.written.forget(written_key);
        let key = (batch.project_id.clone(), trace_id);
        let cached = self.cache.get(&key).await.as_ref().and_then(take);
        let mut state = match cached {
            Some(state) => {
                metrics::counter!("spanbridge_assembly_cache_total", "result" => "hit")
                    .increment(1);
                // Again after the filter started over, so an evicted trace is still known.
                self.seen.insert(&key);
                state
            }
            None if !self.seen.may_be_stored(&key, earliest_start(&batch)) => {
                self.seen.insert(&key);
                let mut state = TraceState {
                    complete: true,
                    ..Default::default()
                };
                if let Some(digest) = whole_digest {
                    // New and whole: nothing to merge now, and a later piece finds it seen
                    // and reads it back, so holding it would only cost memory.
                    metrics::counter!("spanbridge_assembly_cache_total", "result" => "whole")
                        .increment(1);
                    self.written.remember(written_key, digest);
                    if whole == Some(Spans::Distinct) {
                        let mut batch = batch;
                        stamp_whole(&mut batch);
                        out.batches.push(batch);
                    } else {
                        // A repeated span id: the full merge folds the repeats into one row.
                        self.merge(batch, &mut state, store, &key, out, false).await;
                    }
                    return;
                }
                metrics::counter!("spanbridge_assembly_cache_total", "result" => "miss")
                    .increment(1);
                state
            }
            None => {
                metrics::counter!("spanbridge_assembly_cache_total", "result" => "miss")
                    .increment(1);
                self.seen.insert(&key);
                match self.read_back(store, &key).await {
                    Some(state) => state,
                    None => {
                        // Not cached: the trace's next piece tries the read-back again.
                        let mut state = TraceState::default();
                        self.merge(batch, &mut state, store, &key, out, false).await;
                        return;
                    }
                }
            }
        };
        self.merge(batch, &mut state, store, &key, out, true).await;
        if let Some(digest) = whole_digest {
            // Merging the same whole batch again into what this merge made changes nothing.
            self.written.remember(written_key, digest);
        }
        if state.rows.len() > self.max_rewrite_rows {
            // Bounded per trace: the rows beyond are read back when a piece needs them.
            let surplus: Vec<String> = state
                .rows
                .keys()
                .skip(self.max_rewrite_rows)
                .cloned()
                .collect();
            for span in surplus {
                state.rows.remove(&span);
            }
            state.complete = false;
        }
        self.cache.insert(key, slot(state)).await;
    }

    /// The trace as stored; None when the store cannot answer (the pieces are still written,
    /// assembled with what their batch knows).
    async fn read_back(&self, store: &dyn Store, (project, trace): &Key) -> Option<TraceState> {
        match readback::read_back(store, project, trace, self.max_rewrite_rows).await {
            Ok(state) => Some(state),
            Err(error) => {
                tracing::warn!(%error, trace, "assembly read-back failed; writing the pieces as they are");
                None
            }
        }
    }

    /// Merges one batch into the trace's state and puts the rows to write in `out`; `hold`
    /// says whether the state is kept (cached) afterwards.
    async fn merge(
        &self,
        batch: EventBatch,
        state: &mut TraceState,
        store: &dyn Store,
        key: &Key,
        out: &mut Assembled,
        hold: bool,
    ) {
        let EventBatch {
            schema_version,
            project_id,
            api_key_id,
            sdk_name,
            sdk_version,
            received_at_us,
            rows,
            partial_rows,
            trace,
            scores,
        } = batch;
        let attribution = Attribution {
            api_key_id: api_key_id.clone(),
            sdk_name: sdk_name.clone(),
            sdk_version: sdk_version.clone(),
        };
        let fields_changed = apply_fields(&mut state.trace, trace.as_ref(), &rows);

        // The spans to write, in the order this batch first touched them.
        let mut dirty: Vec<String> = Vec::new();
        let mut touched: HashSet<String> = HashSet::new();
        let mark = |span: &str, dirty: &mut Vec<String>, touched: &mut HashSet<String>| {
            if touched.insert(span.to_owned()) {
                dirty.push(span.to_owned());
            }
        };
        let mut tombstones: Vec<Held> = Vec::new();
        for mut row in rows {
            if let Some(held) = state.rows.get(&row.span_id) {
                merge::fill_missing(&mut row, &held.row);
                // The held version's row is another row when its start time (events_full's
                // key) or type (v3 observations' key) differs: it is removed. A store skips a
                // tombstone whose own key equals the live row's.
                if floor_to_millis(held.row.start_time_us) != floor_to_millis(row.start_time_us)
                    || held.row.r#type != row.r#type
                {
                    tombstones.push(held.clone());
                }
            }
            mark(&row.span_id, &mut dirty, &mut touched);
            state.rows.insert(
                row.span_id.clone(),
                Held {
                    attribution: attribution.clone(),
                    row,
                },
            );
        }

        let mut partial_rows = partial_rows;
        partial_rows.sort_by_key(|p| p.event_time_us);
        for piece in partial_rows {
            let Some(span) = piece.row.as_ref().map(|r| r.span_id.clone()) else {
                continue;
            };
            metrics::counter!("spanbridge_assembly_pieces_merged_total").increment(1);
            if !state.rows.contains_key(&span) && !state.complete {
                let stored = self.read_back(store, key).await.unwrap_or_default();
                if let Some(fields) = merge::fields_of_rows(stored.rows.values().map(|h| &h.row)) {
                    state.trace.apply(&fields);
                }
                for (span, held) in stored.rows {
                    state.rows.entry(span).or_insert(held);
                }
                state.complete = stored.complete;
            }
            match state.rows.get_mut(&span) {
                Some(held) => {
                    merge::apply_partial(&mut held.row, &piece);
                }
                None => {
                    metrics::counter!("spanbridge_assembly_orphan_pieces_total").increment(1);
                    state.rows.insert(
                        span.clone(),
                        Held {
                            attribution: attribution.clone(),
                            row: merge::orphan_row(&piece),
                        },
                    );
                }
            }
            mark(&span, &mut dirty, &mut touched);
        }

        // Every row this batch touched carries the merged trace fields; when they changed, so
        // do the trace's other held rows, up to the rewrite bound.
        let mut rewritten = 0usize;
        for (span, held) in state.rows.iter_mut() {
            if touched.contains(span) {
                state.trace.stamp(&mut held.row);
            } else if fields_changed
                && rewritten < self.max_rewrite_rows
                && state.trace.stamp(&mut held.row)
            {
                rewritten += 1;
                dirty.push(span.clone());
            }
        }
        metrics::counter!("spanbridge_assembly_rows_rewritten_total").increment(rewritten as u64);

        let header = |attribution: &Attribution| EventBatch {
            schema_version,
            project_id: project_id.clone(),
            api_key_id: attribution.api_key_id.clone(),
            sdk_name: attribution.sdk_name.clone(),
            sdk_version: attribution.sdk_version.clone(),
            received_at_us,
            ..Default::default()
        };
        // Rows grouped by who sent them; the batch's own group first, with its trace fields
        // and scores passed along.
        let mut groups: Vec<(Attribution, Vec<EventRow>)> = vec![(attribution.clone(), Vec::new())];
        for span in &dirty {
            // A state that is not held afterwards gives its rows up instead of copying them.
            let held = if hold {
                state.rows.get(span).cloned()
            } else {
                state.rows.remove(span)
            };
            let Some(Held { attribution, row }) = held else {
                continue;
            };
            match groups.iter_mut().find(|(a, _)| *a == attribution) {
                Some((_, rows)) => rows.push(row),
                None => groups.push((attribution, vec![row])),
            }
        }
        let mut first = Some((trace, scores));
        for (group_attribution, rows) in groups {
            let mut batch = EventBatch {
                rows,
                ..header(&group_attribution)
            };
            if let Some((trace, scores)) = first.take() {
                batch.trace = trace;
                batch.scores = scores;
            } else if batch.rows.is_empty() {
                continue;
            }
            out.batches.push(batch);
        }
        for held in tombstones {
            out.tombstones.push(EventBatch {
                rows: vec![held.row],
                ..header(&held.attribution)
            });
        }
    }
}

/// The earliest start among a batch's pieces; None when unknown: no pieces, or a partial row
/// that does not name when its observation started (a batch-API `*-update`, a log record's
/// content) and whose whole row is not in the batch — it may update a row stored before the
/// sink started, so the trace is read back.
fn earliest_start(batch: &EventBatch) -> Option<i64> {
    let whole: HashSet<&str> = batch.rows.iter().map(|r| r.span_id.as_str()).collect();
    let mut earliest = batch.rows.iter().map(|r| r.start_time_us).min();
    for piece in &batch.partial_rows {
        let row = piece.row.as_ref()?;
        if whole.contains(row.span_id.as_str()) {
            continue;
        }
        if !piece.fields.iter().any(|f| f == "start_time_us") {
            return None;
        }
        let start = row.start_time_us.min(piece.event_time_us);
        earliest = Some(earliest.map_or(start, |e| e.min(start)));
    }
    earliest
}

/// Merges a batch's trace fields into `merged`: its `TraceFields`, or the fields its rows
/// carry (batches of gateways that predate assembly). True when a merged value changed.
fn apply_fields(merged: &mut MergedTrace, trace: Option<&TraceFields>, rows: &[EventRow]) -> bool {
    match trace {
        Some(piece) => {
            metrics::counter!("spanbridge_assembly_pieces_merged_total").increment(1);
            merged.apply(piece)
        }
        None => merge::fields_of_rows(rows).is_some_and(|piece| merged.apply(&piece)),
    }
}

/// A new trace that came whole, its span ids distinct, assembled in place: what
/// [`Assembler::merge`] makes of it into an empty state (every row stamped with the trace
/// fields, the batch's order and envelope kept), without holding or copying its rows.
fn stamp_whole(batch: &mut EventBatch) {
    let mut trace = MergedTrace::default();
    apply_fields(&mut trace, batch.trace.as_ref(), &batch.rows);
    for row in &mut batch.rows {
        trace.stamp(row);
    }
}

/// Whether a whole batch's span ids are all distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spans {
    Distinct,
    Repeated,
}

/// Some when the batch holds a trace whole: its root, and the parent of every other span.
fn whole_trace(batch: &EventBatch) -> Option<Spans> {
    let spans: HashSet<&str> = batch.rows.iter().map(|r| r.span_id.as_str()).collect();
    let whole = batch.partial_rows.is_empty()
        && batch.rows.iter().any(|r| r.parent_span_id.is_empty())
        && batch
            .rows
            .iter()
            .all(|r| r.parent_span_id.is_empty() || spans.contains(r.parent_span_id.as_str()));
    whole.then_some(if spans.len() == batch.rows.len() {
        Spans::Distinct
    } else {
        Spans::Repeated
    })
}

#[cfg(test)]
mod tests {
    use spanbridge_proto::{PartialRow, TraceFields};

    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn settings() -> AssemblySettings {
        AssemblySettings {
            max_bytes: 1 << 20,
            idle: Duration::from_secs(60),
            max_rewrite_rows: 100,
        }
    }

    fn row(span: &str, parent: &str) -> EventRow {
        EventRow {
            trace_id: "t".into(),
            span_id: span.into(),
            parent_span_id: parent.into(),
            start_time_us: 1_000_000,
            r#type: "SPAN".into(),
            ..Default::default()
        }
    }

    fn batch(rows: Vec<EventRow>, trace: Option<TraceFields>) -> EventBatch {
        EventBatch {
            project_id: "p".into(),
            rows,
            trace,
            ..Default::default()
        }
    }

    async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open_sqlite(&dir.path().join("events.db"))
            .await
            .unwrap();
        (dir, SqliteStore::open(pool).unwrap())
    }

    fn spans(assembled: &Assembled) -> Vec<(String, String)> {
        let mut spans: Vec<(String, String)> = assembled
            .batches
            .iter()
            .flat_map(|b| &b.rows)
            .map(|r| (r.span_id.clone(), r.user_id.clone()))
            .collect();
        spans.sort();
        spans
    }

    /// The in-place path for new whole traces must write what the full merge writes.
    #[tokio::test]
    async fn a_new_whole_trace_is_stamped_in_place_as_the_full_merge_would() {
        let (_dir, store) = sqlite().await;
        let assembler = Assembler::new(&settings());
        let mut child = row("c", "r");
        child.tags = vec!["own".into(), "t1".into(), "own".into()];
        child.release = "child-release".into();
        let fields = TraceFields {
            name: Some("chat".into()),
            user_id: Some("u".into()),
            tags: vec!["t1".into(), "t2".into()],
            release: Some("r1".into()),
            public: Some(true),
            input: Some("question".into()),
            from_root: true,
            ..Default::default()
        };
        let whole = EventBatch {
            api_key_id: "key".into(),
            sdk_name: "sdk".into(),
            received_at_us: 7,
            ..batch(vec![row("r", ""), child], Some(fields))
        };
        let mut repeated = batch(vec![row("r", ""), row("c", "r"), row("c", "r")], None);
        repeated.rows[0].user_id = "from-the-row".into();

        for input in [whole, repeated] {
            let key = ("p".to_string(), "t".to_string());
            let mut merged = Assembled::default();
            let mut state = TraceState::default();
            assembler
                .merge(input.clone(), &mut state, &store, &key, &mut merged, false)
                .await;
            match whole_trace(&input) {
                Some(Spans::Distinct) => {
                    let mut stamped = input.clone();
                    stamp_whole(&mut stamped);
                    assert_eq!(merged.batches, vec![stamped]);
                }
                // Only the batch that repeats a span id goes the long way.
                spans => {
                    assert_eq!(spans, Some(Spans::Repeated));
                    assert_eq!(merged.batches[0].rows.len(), 2);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_late_root_rewrites_the_held_children_with_its_trace_fields() {
        let (_dir, store) = sqlite().await;
        let assembler = Assembler::new(&settings());
        let children = assembler
            .assemble(
                vec![batch(vec![row("c1", "r"), row("c2", "r")], None)],
                &store,
            )
            .await;
        assert_eq!(
            spans(&children),
            [("c1".into(), "".into()), ("c2".into(), "".into())]
        );
        let root = TraceFields {
            user_id: Some("u-1".into()),
            from_root: true,
            ..Default::default()
        };
        let assembled = assembler
            .assemble(vec![batch(vec![row("r", "")], Some(root))], &store)
            .await;
        assert_eq!(
            spans(&assembled),
            [
                ("c1".into(), "u-1".into()),
                ("c2".into(), "u-1".into()),
                ("r".into(), "u-1".into())
            ]
        );
    }

    #[tokio::test]
    async fn content_before_its_span_is_an_orphan_row_then_merged_into_the_span() {
        let (_dir, store) = sqlite().await;
        let assembler = Assembler::new(&settings());
        let content = PartialRow {
            row: Some(EventRow {
                trace_id: "t".into(),
                span_id: "g".into(),
                input: "question".into(),
                ..Default::default()
            }),
            fields: vec!["input".into()],
            event_time_us: 2_000_000,
        };
        let orphan = assembler
            .assemble(
                vec![EventBatch {
                    partial_rows: vec![content],
                    ..batch(Vec::new(), None)
                }],
                &store,
            )
            .await;
        assert_eq!(orphan.batches[0].rows[0].input, "question");
        let span = assembler
            .assemble(vec![batch(vec![row("g", "r")], None)], &store)
            .await;
        assert_eq!(span.batches[0].rows[0].input, "question");
        assert_eq!(span.batches[0].rows[0].start_time_us, 1_000_000);
        assert_eq!(span.tombstones.len(), 1, "the orphan's other start time");
    }

    #[tokio::test]
    async fn an_exact_resend_of_a_whole_trace_is_dropped_an_edited_one_is_written() {
        let (_dir, store) = sqlite().await;
        let assembler = Assembler::new(&settings());
        let start = crate::enrich::now_us() + 1_000_000;
        let whole = |input: &str, received_at_us: i64| {
            let mut rows = vec![row("r", ""), row("c", "r")];
            for row in &mut rows {
                row.start_time_us = start;
            }
            rows[0].input = input.into();
            EventBatch {
                received_at_us,
                ..batch(rows, None)
            }
        };
        let first = assembler.assemble(vec![whole("question", 1)], &store).await;
        assert_eq!(first.batches[0].rows.len(), 2);

        let retry = assembler.assemble(vec![whole("question", 2)], &store).await;
        assert!(retry.batches.is_empty(), "what it would write is stored");

        let edited = assembler.assemble(vec![whole("edited", 3)], &store).await;
        let rows = &edited.batches[0].rows;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().any(|r| r.input == "edited"));
        // After another version, the first one is no longer what is stored.
        let first_again = assembler.assemble(vec![whole("question", 4)], &store).await;
        assert_eq!(first_again.batches[0].rows.len(), 2);
    }

    #[tokio::test]
    async fn a_new_trace_whole_in_one_batch_is_not_held_a_partial_one_is() {
        let (_dir, store) = sqlite().await;
        let assembler = Assembler::new(&settings());
        let recent = |mut row: EventRow, trace: &str| {
            row.trace_id = trace.into();
            row.start_time_us = crate::enrich::now_us() + 1_000_000;
            row
        };
        let whole = vec![
            recent(row("r", ""), "whole"),
            recent(row("c", "r"), "whole"),
        ];
        let partial = vec![recent(row("c", "r"), "partial")];
        assembler.assemble(vec![batch(whole, None)], &store).await;
        assembler.assemble(vec![batch(partial, None)], &store).await;
        let held = |trace: &str| ("p".to_owned(), trace.to_owned());
        assert!(assembler.cache.get(&held("whole")).await.is_none());
        let partial = assembler.cache.get(&held("partial")).await;
        assert!(partial.as_ref().and_then(take).is_some());
        assert!(
            assembler.seen.may_be_stored(&held("whole"), Some(i64::MAX)),
            "its next piece reads it back"
        );
    }
}
