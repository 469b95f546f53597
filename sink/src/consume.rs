//! The Kafka deployment's input: a Kafka consumer in a consumer group, feeding the one write driver
//! ([`crate::write`]). Messages are decoded into `EventBatch`es and batched by rows, bytes or
//! time; a batch is written and only then are its offsets committed, so a crash at any point
//! replays uncommitted messages (the store's dedup absorbs the replay) and never skips one.
//!
//! - A store error is retried with a jittered backoff (`retry::Backoff`), committing nothing
//!   meanwhile.
//! - A message that can never be decoded, or whose rows the store refuses as data, goes to the
//!   dead-letter topic with the reason in a header (`dead_letter.rs`), and is counted.
//! - Shutdown (SIGTERM): stop consuming, write what is held, commit, return.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use spanbridge_proto::{EventBatch, EventBatches, GROUPED_SCHEMA_VERSION, SCHEMA_VERSION, Secret};
use tokio::sync::watch;

use crate::assemble::Assembler;
use crate::dead_letter::{DeadLetters, Reason};
use crate::kafka_admin::client_config;
use crate::retry::{RetryUntil, retry, stopped};
use crate::write::{Batch, BatchLimits, Writer};

/// What the consumer needs from the settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub brokers: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub group_id: String,
    pub limits: BatchLimits,
    pub max_retry_backoff: Duration,
    /// On shutdown, how long the final write may take.
    pub shutdown_timeout: Duration,
    /// Pass-through librdkafka options (name, value) of the consumer, applied last.
    pub options: Vec<(String, Secret)>,
    /// Pass-through librdkafka options of the dead-letter producer.
    pub producer_options: Vec<(String, Secret)>,
}

/// Publishes the consumer lag per partition from librdkafka's statistics, and drops the
/// assembly cache on a rebalance.
struct SinkContext {
    assembler: Option<Assembler>,
}

impl ClientContext for SinkContext {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    metrics::gauge!("spanbridge_consumer_lag_messages", "partition" => partition.to_string())
                        .set(stats.consumer_lag as f64);
                }
            }
        }
    }
}

/// A rebalance moves partitions, and the traces keyed to them, between sinks: cached state of
/// a trace another sink may now write would go stale, and a trace that arrives from another
/// sink's partition is not new. The cache is only a cache: any rebalance empties it, and
/// traces are read back from the store when they return.
impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Revoke(_), Some(assembler)) = (rebalance, &self.assembler) {
            assembler.forget_all();
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let (Rebalance::Assign(_), Some(assembler)) = (rebalance, &self.assembler) {
            assembler.forget_all();
        }
    }
}

/// One consumed message as an input of the write driver: settled by committing its offset.
/// `message` is kept while its rows are unwritten, for the dead-letter topic if they are
/// refused; a message already dead-lettered carries none. It is librdkafka's own message, not
/// a copy: copying every payload (`detach`) was 6.6 % of the sink's CPU, its page faults
/// included (docs/performance.md, "ClickHouse writer").
struct Consumed<'a> {
    partition: i32,
    offset: i64,
    message: Option<BorrowedMessage<'a>>,
}

/// librdkafka prefetches up to 64 MiB of messages by default; 32 MiB keeps the sink's pace
/// (16 MiB cost a fifth of it) and takes ~50 MB off its peak RSS (docs/performance.md,
/// "ClickHouse writer"). A pass-through `queued.max.messages.kbytes` overrides it.
const PREFETCH: (&str, &str) = ("queued.max.messages.kbytes", "32768");

/// Runs the consumer until `shutdown` completes, then writes and commits what it holds.
pub async fn run(
    config: ConsumerConfig,
    writer: Writer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // The prefetch default first, so a pass-through option still wins.
    let options: Vec<(String, Secret)> = [(PREFETCH.0.to_owned(), Secret::new(PREFETCH.1))]
        .into_iter()
        .chain(config.options.iter().cloned())
        .collect();
    let consumer: StreamConsumer<SinkContext> = client_config(&config.brokers, &options)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000")
        .create_with_context(SinkContext {
            assembler: writer.assembler().cloned(),
        })
        .map_err(|error| format!("cannot create the Kafka consumer: {error}"))?;
    consumer
        .subscribe(&[&config.topic])
        .map_err(|error| format!("cannot subscribe to {}: {error}", config.topic))?;
    let dead_letters = DeadLetters::new(
        client_config(&config.brokers, &config.producer_options),
        config.dead_letter_topic.clone(),
    )?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let sink = Sink {
        config,
        consumer,
        writer,
        dead_letters,
        stop,
    };
    sink.run().await
}

struct Sink {
    config: ConsumerConfig,
    consumer: StreamConsumer<SinkContext>,
    writer: Writer,
    dead_letters: DeadLetters,
    stop: watch::Receiver<bool>,
}

impl Sink {
    async fn run(self) -> Result<(), String> {
        tracing::info!(topic = %self.config.topic, group = %self.config.group_id, "sink consuming");
        let limits = &self.config.limits;
        let until_stopped = RetryUntil::Stopped(self.stop.clone());
        let mut batch = Batch::default();
        let mut stop = self.stop.clone();
        loop {
            let deadline = batch.deadline(limits).map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                () = sleep_until(deadline) => {
                    self.flush(&mut batch, &until_stopped).await;
                    continue;
                }
                received = self.consumer.recv() => match received {
                    Ok(message) => self.accept(&mut batch, message, &until_stopped).await,
                    Err(error) => {
                        tracing::warn!(%error, "Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
            if batch.is_full(limits) {
                self.flush(&mut batch, &until_stopped).await;
            }
        }
        // Still a group member (so the commit is accepted), but no longer consuming.
        tracing::info!("sink stopping: writing and committing what it holds");
        let until = RetryUntil::Deadline(Instant::now() + self.config.shutdown_timeout);
        if !self.flush(&mut batch, &until).await {
            return Err(
                "the final write did not succeed within the shutdown deadline; \
                        its messages stay uncommitted and are consumed again on restart"
                    .into(),
            );
        }
        Ok(())
    }

    /// Decodes one message into the batch, or dead-letters it (and then only its offset
    /// joins the batch, to be committed with it).
    async fn accept<'a>(
        &self,
        batch: &mut Batch<Consumed<'a>>,
        message: BorrowedMessage<'a>,
        until: &RetryUntil,
    ) {
        let payload = message.payload().unwrap_or_default();
        let bytes = payload.len();
        let decoded = decode(payload);
        let mut consumed = Consumed {
            partition: message.partition(),
            offset: message.offset(),
            message: None,
        };
        match decoded {
            Ok(event_batches) => {
                consumed.message = Some(message);
                self.writer.add(batch, event_batches, bytes, consumed).await;
            }
            // Retry until it is in the dead-letter topic: skipping it silently is not an
            // option, and its offset is committed only after this.
            Err((reason, detail)) => {
                if self.dead_letter(&message, reason, &detail, until).await {
                    self.writer.add(batch, Vec::new(), bytes, consumed).await;
                }
            }
        }
    }

    /// Writes the batch, dead-letters the messages whose rows the store refused, and commits.
    /// Returns whether all of that happened; if not, nothing is committed (the batch is kept
    /// when the write itself did not succeed).
    async fn flush(&self, batch: &mut Batch<Consumed<'_>>, until: &RetryUntil) -> bool {
        let settled = match self.writer.flush(batch, until).await {
            Ok(settled) => settled,
            Err(_) => return false,
        };
        let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
        for (consumed, result) in settled {
            if let (Err(refused), Some(message)) = (result, &consumed.message)
                && !self
                    .dead_letter(message, Reason::Rejected, &refused.to_string(), until)
                    .await
            {
                // Committing a later offset of this partition would skip the message: commit
                // nothing, and the whole batch is consumed again on restart.
                return false;
            }
            let next = next_offsets.entry(consumed.partition).or_default();
            *next = (*next).max(consumed.offset + 1);
        }
        self.commit(&next_offsets);
        true
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: Reason,
        detail: &str,
        until: &RetryUntil,
    ) -> bool {
        retry(
            "dead-letter produce",
            self.config.max_retry_backoff,
            until,
            || self.dead_letters.send(message, reason, detail),
        )
        .await
    }

    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) {
        if next_offsets.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (partition, offset) in next_offsets {
            if let Err(error) =
                list.add_partition_offset(&self.config.topic, *partition, Offset::Offset(*offset))
            {
                tracing::warn!(%error, "cannot build the offset list");
                return;
            }
        }
        // A failed commit (rebalance, broker away) only means these messages are consumed and
        // written again later; the store's dedup makes that harmless.
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => tracing::debug!(?next_offsets, "offsets committed"),
            Err(error) => {
                tracing::warn!(%error, "offset commit failed; the batch will be replayed")
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A message's batches: an `EventBatches` (major version 2) or, from gateways before grouping,
/// one `EventBatch` (version 1). Field 1 is the major version in both, so the message is read
/// as `EventBatches` first; for a version-1 message that reads field 1 and skips the rest.
fn decode(payload: &[u8]) -> Result<Vec<EventBatch>, (Reason, String)> {
    let undecodable = |error: prost::DecodeError| (Reason::Undecodable, error.to_string());
    let unknown = |version: u32| {
        (
            Reason::UnknownSchemaVersion,
            format!("schema version {version}"),
        )
    };
    let grouped = EventBatches::decode(payload).map_err(undecodable)?;
    let batches = match grouped.schema_version {
        GROUPED_SCHEMA_VERSION => grouped.batches,
        SCHEMA_VERSION => vec![EventBatch::decode(payload).map_err(undecodable)?],
        other => return Err(unknown(other)),
    };
    match batches.iter().find(|b| b.schema_version != SCHEMA_VERSION) {
        Some(inner) => Err(unknown(inner.schema_version)),
        None => Ok(batches),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(trace_id: &str) -> EventBatch {
        EventBatch {
            schema_version: SCHEMA_VERSION,
            project_id: "p".into(),
            rows: vec![spanbridge_proto::EventRow {
                trace_id: trace_id.into(),
                span_id: "a".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn trace_ids(batches: &[EventBatch]) -> Vec<&str> {
        batches
            .iter()
            .map(|b| b.rows[0].trace_id.as_str())
            .collect()
    }

    #[test]
    fn a_grouped_message_gives_its_batches_and_a_single_batch_from_an_older_gateway_one() {
        let grouped = EventBatches {
            schema_version: GROUPED_SCHEMA_VERSION,
            batches: vec![batch("t1"), batch("t2")],
        };
        let batches = decode(&grouped.encode_to_vec()).expect("version 2");
        assert_eq!(trace_ids(&batches), ["t1", "t2"]);
        let batches = decode(&batch("t3").encode_to_vec()).expect("version 1");
        assert_eq!(trace_ids(&batches), ["t3"]);
        assert_eq!(batches[0].project_id, "p");
    }

    #[test]
    fn unknown_versions_and_garbage_are_refused_with_their_reason() {
        let future = EventBatches {
            schema_version: GROUPED_SCHEMA_VERSION + 1,
            batches: vec![batch("t1")],
        };
        let (reason, detail) = decode(&future.encode_to_vec()).expect_err("version 3");
        assert!(matches!(reason, Reason::UnknownSchemaVersion));
        assert_eq!(detail, "schema version 3");
        let mut inner = batch("t1");
        inner.schema_version = 7;
        let wrapped = EventBatches {
            schema_version: GROUPED_SCHEMA_VERSION,
            batches: vec![batch("t0"), inner],
        };
        let (reason, detail) = decode(&wrapped.encode_to_vec()).expect_err("inner version 7");
        assert!(matches!(reason, Reason::UnknownSchemaVersion));
        assert_eq!(detail, "schema version 7");
        let (reason, _) = decode(b"\xff\xff not a batch").expect_err("garbage");
        assert!(matches!(reason, Reason::Undecodable));
    }
}
