//! Per-project daily ingestion usage and `api_keys.last_used_at`: collected in memory on the
//! hot path (a map insert), written in batches by `run_flusher`, never per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{MetaStore, UsageCount};
use spanbridge_proto::StoredRow;

const DAY_US: i64 = 86_400_000_000;

/// `YYYY-MM-DD` (UTC) of a time in µs since the epoch.
pub fn utc_day(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(us.div_euclid(1_000_000))
        .map(|time| time.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".into())
}

/// Per-project daily ingestion counters, summed in memory and written in batches by
/// `run_flusher`, never on the request path. Cheap to clone.
#[derive(Clone, Default)]
pub struct IngestionUsage {
    pending: Option<Arc<Mutex<UsageByProjectDay>>>,
}

/// Counts by (project id, UTC day).
type UsageByProjectDay = HashMap<(String, String), UsageCount>;

impl IngestionUsage {
    pub fn new() -> Self {
        Self {
            pending: Some(Arc::default()),
        }
    }

    /// Counts nothing (read-only metadata stores).
    pub fn disabled() -> Self {
        Self { pending: None }
    }

    /// Counts rows that were just written.
    pub fn record(&self, rows: &[StoredRow]) {
        let Some(pending) = &self.pending else {
            return;
        };
        let Ok(mut pending) = pending.lock() else {
            return;
        };
        // A batch's rows come in runs of one project and one write time: one day string and
        // one map entry per run, not per row (formatting the day was most of the cost).
        let mut rows = rows.iter().peekable();
        while let Some(first) = rows.next() {
            let day_number = first.event_ts_us.div_euclid(DAY_US);
            let (mut spans, mut bytes) = (1, first.event_bytes as i64);
            while let Some(row) = rows.next_if(|row| {
                row.project_id == first.project_id
                    && row.event_ts_us.div_euclid(DAY_US) == day_number
            }) {
                spans += 1;
                bytes += row.event_bytes as i64;
            }
            let day = utc_day(first.event_ts_us);
            let count = pending
                .entry((first.project_id.clone(), day.clone()))
                .or_insert_with(|| UsageCount {
                    project_id: first.project_id.clone(),
                    day,
                    ..UsageCount::default()
                });
            count.spans += spans;
            count.bytes += bytes;
            count.rows_written += spans;
        }
    }

    fn take(&self) -> Vec<UsageCount> {
        self.pending
            .as_ref()
            .and_then(|pending| pending.lock().ok())
            .map(|mut pending| pending.drain().map(|(_, count)| count).collect())
            .unwrap_or_default()
    }

    /// Puts counts back after a failed write, so the next flush retries them.
    fn restore(&self, counts: Vec<UsageCount>) {
        let Some(mut pending) = self.pending.as_ref().and_then(|p| p.lock().ok()) else {
            return;
        };
        for count in counts {
            let entry = pending
                .entry((count.project_id.clone(), count.day.clone()))
                .or_insert_with(|| UsageCount {
                    project_id: count.project_id.clone(),
                    day: count.day.clone(),
                    ..UsageCount::default()
                });
            entry.spans += count.spans;
            entry.bytes += count.bytes;
            entry.rows_written += count.rows_written;
        }
    }
}

/// `api_keys.last_used_at`, collected on the request path (a map insert) and written in
/// batches by `run_flusher`. Cheap to clone.
#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Option<Arc<Mutex<HashMap<String, i64>>>>,
}

impl KeyUsage {
    pub fn new() -> Self {
        Self {
            pending: Some(Arc::default()),
        }
    }

    /// Records nothing (read-only metadata stores; Langfuse does not update it either).
    pub fn disabled() -> Self {
        Self { pending: None }
    }

    /// Notes that `key_id` authenticated at `now_us`.
    pub fn used(&self, key_id: &str, now_us: i64) {
        if let Some(mut pending) = self.pending.as_ref().and_then(|p| p.lock().ok()) {
            pending.insert(key_id.to_owned(), now_us);
        }
    }

    fn take(&self) -> Vec<(String, i64)> {
        self.pending
            .as_ref()
            .and_then(|pending| pending.lock().ok())
            .map(|mut pending| pending.drain().collect())
            .unwrap_or_default()
    }
}

/// Writes what `IngestionUsage` and `KeyUsage` collected. Failures are logged and the usage
/// counts are kept for the next attempt (`last_used_at` is best effort).
pub async fn flush(meta: &dyn MetaStore, usage: &IngestionUsage, keys: &KeyUsage) {
    let counts = usage.take();
    if !counts.is_empty()
        && let Err(error) = meta.add_ingestion_usage(&counts).await
    {
        tracing::warn!(%error, "cannot write ingestion usage; retrying at the next flush");
        usage.restore(counts);
    }
    let touched = keys.take();
    if !touched.is_empty()
        && let Err(error) = meta.touch_keys(&touched).await
    {
        tracing::warn!(%error, "cannot update api_keys.last_used_at");
    }
}

/// Flushes every `interval` until the task is dropped/aborted; call `flush` once more at
/// shutdown.
pub async fn run_flusher(
    meta: Arc<dyn MetaStore>,
    usage: IngestionUsage,
    keys: KeyUsage,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        flush(meta.as_ref(), &usage, &keys).await;
    }
}
