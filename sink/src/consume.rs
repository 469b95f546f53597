//! The production input: a Kafka consumer in a consumer group. Messages are decoded into
//! `EventBatch`es and batched by rows, bytes or time; a batch is written to the store and only
//! then are its offsets committed, so a crash at any point replays uncommitted messages (the
//! store's dedup absorbs the replay) and never skips one.
//!
//! - A store error is retried with a doubling backoff, committing nothing meanwhile.
//! - A message that can never be decoded, or whose rows the store refuses as data, goes to the
//!   dead-letter topic with the reason in a header (`dead_letter.rs`), and is counted.
//! - Shutdown (SIGTERM): stop consuming, write what is held, commit, return.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use spanbridge_proto::{EventBatch, SCHEMA_VERSION};
use tokio::sync::watch;

use crate::dead_letter::{DeadLetters, Reason};
use crate::enrich::{StoredRow, enrich, now_us};
use crate::meta::{IngestionUsage, PromptIds};
use crate::prices::ModelCatalog;
use crate::store::{Store, StoreError};

/// Backoff of the first retry of a failed write or dead-letter produce.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// What the consumer needs from the settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub brokers: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub group_id: String,
    pub max_batch_rows: usize,
    pub max_batch_bytes: usize,
    pub max_batch_wait: Duration,
    pub max_retry_backoff: Duration,
    /// On shutdown, how long the final write may take.
    pub shutdown_timeout: Duration,
    /// Pass-through librdkafka options (name, value) of the consumer, applied last.
    pub options: Vec<(String, String)>,
    /// Pass-through librdkafka options of the dead-letter producer.
    pub producer_options: Vec<(String, String)>,
}

/// A librdkafka configuration with the bootstrap servers and the pass-through options.
pub fn client_config(brokers: &str, options: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (name, value) in options {
        config.set(name, value);
    }
    config
}

/// Publishes the consumer lag per partition from librdkafka's statistics.
struct SinkContext;

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

impl ConsumerContext for SinkContext {}

/// One decoded message waiting to be written.
struct Pending {
    message: OwnedMessage,
    batch: EventBatch,
}

/// The batch being assembled: its messages and the next offset to commit per partition.
#[derive(Default)]
struct Assembly {
    messages: Vec<Pending>,
    next_offsets: BTreeMap<i32, i64>,
    rows: usize,
    bytes: usize,
    started: Option<Instant>,
}

impl Assembly {
    fn mark_done(&mut self, partition: i32, offset: i64) {
        let next = self.next_offsets.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
        self.started.get_or_insert_with(Instant::now);
    }

    fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }
}

/// Runs the consumer until `shutdown` completes, then writes and commits what it holds.
/// `catalog` prices the rows; `usage` counts what was written per project and day.
pub async fn run(
    config: ConsumerConfig,
    store: Arc<dyn Store>,
    catalog: ModelCatalog,
    prompts: PromptIds,
    usage: IngestionUsage,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let consumer: StreamConsumer<SinkContext> = client_config(&config.brokers, &config.options)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000")
        .create_with_context(SinkContext)
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
        store,
        catalog,
        prompts,
        usage,
        dead_letters,
        stop,
    };
    sink.run().await
}

struct Sink {
    config: ConsumerConfig,
    consumer: StreamConsumer<SinkContext>,
    store: Arc<dyn Store>,
    catalog: ModelCatalog,
    prompts: PromptIds,
    usage: IngestionUsage,
    dead_letters: DeadLetters,
    stop: watch::Receiver<bool>,
}

impl Sink {
    async fn run(self) -> Result<(), String> {
        tracing::info!(topic = %self.config.topic, group = %self.config.group_id, "sink consuming");
        let mut assembly = Assembly::default();
        let mut stop = self.stop.clone();
        loop {
            let deadline = assembly.started.map(|started| {
                tokio::time::Instant::from_std(started + self.config.max_batch_wait)
            });
            tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                () = sleep_until(deadline) => {
                    self.flush(&mut assembly, None).await;
                    continue;
                }
                received = self.consumer.recv() => match received {
                    Ok(message) => {
                        let message = message.detach();
                        self.accept(&mut assembly, message).await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
            if assembly.rows >= self.config.max_batch_rows
                || assembly.bytes >= self.config.max_batch_bytes
            {
                self.flush(&mut assembly, None).await;
            }
        }
        // Still a group member (so the commit is accepted), but no longer consuming.
        tracing::info!("sink stopping: writing and committing what it holds");
        let deadline = Instant::now() + self.config.shutdown_timeout;
        if !self.flush(&mut assembly, Some(deadline)).await {
            return Err(
                "the final write did not succeed within the shutdown deadline; \
                        its messages stay uncommitted and are consumed again on restart"
                    .into(),
            );
        }
        Ok(())
    }

    /// Decodes one message into the assembly, or dead-letters it.
    async fn accept(&self, assembly: &mut Assembly, message: OwnedMessage) {
        let (partition, offset) = (message.partition(), message.offset());
        let payload = message.payload().unwrap_or_default();
        let decoded = match EventBatch::decode(payload) {
            Err(error) => Err((Reason::Undecodable, error.to_string())),
            Ok(batch) if batch.schema_version != SCHEMA_VERSION => Err((
                Reason::UnknownSchemaVersion,
                format!("schema version {}", batch.schema_version),
            )),
            Ok(batch) => Ok(batch),
        };
        match decoded {
            Ok(batch) => {
                assembly.rows += batch.rows.len();
                assembly.bytes += payload.len();
                assembly.messages.push(Pending { message, batch });
            }
            Err((reason, detail)) => {
                // Retry until it is in the dead-letter topic: skipping it silently is not an
                // option, and its offset is committed only after this.
                if !self
                    .retry("dead-letter produce", None, || {
                        self.dead_letters.send(&message, reason, &detail)
                    })
                    .await
                {
                    return;
                }
            }
        }
        assembly.mark_done(partition, offset);
    }

    /// Writes the assembly and commits its offsets. Retries transient store errors (until
    /// `deadline`, if any, or shutdown for a normal flush); on a permanent error writes message
    /// by message and dead-letters the refused ones. Returns whether it was written; if not,
    /// the assembly is kept (and nothing committed) for the next attempt.
    async fn flush(&self, assembly: &mut Assembly, deadline: Option<Instant>) -> bool {
        if assembly.is_empty() {
            return true;
        }
        let started = Instant::now();
        let batches: Vec<EventBatch> = assembly.messages.iter().map(|p| p.batch.clone()).collect();
        let stored = enrich(batches, now_us(), &self.catalog, &self.prompts).await;
        let written = match self.write(&stored, deadline).await {
            Written::Yes => true,
            Written::No => false,
            Written::Refused(_) => self.write_one_by_one(&assembly.messages, deadline).await,
        };
        if !written {
            return false;
        }
        metrics::histogram!("spanbridge_sink_batch_rows").record(assembly.rows as f64);
        metrics::histogram!("spanbridge_sink_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("spanbridge_sink_rows_written_total").increment(assembly.rows as u64);
        self.commit(&assembly.next_offsets);
        *assembly = Assembly::default();
        true
    }

    /// Writes rows, retrying transient errors with backoff.
    async fn write(&self, stored: &[StoredRow], deadline: Option<Instant>) -> Written {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let error: StoreError = match self.store.write(stored).await {
                Ok(()) => {
                    self.usage.record(stored);
                    return Written::Yes;
                }
                Err(error) => error,
            };
            let permanent = self.store.is_permanent(&error);
            let kind = if permanent { "rejected" } else { "transient" };
            metrics::counter!("spanbridge_store_errors_total", "kind" => kind).increment(1);
            if permanent {
                tracing::warn!(%error, rows = stored.len(), "the store refused rows as data");
                return Written::Refused(error.to_string());
            }
            tracing::warn!(
                %error,
                rows = stored.len(),
                retry_in_ms = backoff.as_millis() as u64,
                "store write failed; retrying, nothing committed"
            );
            if !self.pause(&mut backoff, deadline).await {
                return Written::No;
            }
        }
    }

    /// After a refused batch: each message alone; refused ones go to the dead-letter topic.
    /// Messages written before a later failure are written again next time (harmless).
    async fn write_one_by_one(&self, messages: &[Pending], deadline: Option<Instant>) -> bool {
        for pending in messages {
            let stored = enrich(
                vec![pending.batch.clone()],
                now_us(),
                &self.catalog,
                &self.prompts,
            )
            .await;
            match self.write(&stored, deadline).await {
                Written::Yes => {}
                Written::No => return false,
                Written::Refused(detail) => {
                    let sent = self
                        .retry("dead-letter produce", deadline, || {
                            self.dead_letters
                                .send(&pending.message, Reason::Rejected, &detail)
                        })
                        .await;
                    if !sent {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Retries `attempt` with backoff until it succeeds; false if stopped or past `deadline`.
    async fn retry<F, Fut>(&self, what: &str, deadline: Option<Instant>, attempt: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match attempt().await {
                Ok(()) => return true,
                Err(error) => tracing::warn!(%error, "{what} failed; retrying"),
            }
            if !self.pause(&mut backoff, deadline).await {
                return false;
            }
        }
    }

    /// Sleeps `backoff` (then doubles it). False when the retrying should end: past the
    /// deadline, or — for a flush without deadline — on shutdown, after which the final flush
    /// retries under the shutdown deadline.
    async fn pause(&self, backoff: &mut Duration, deadline: Option<Instant>) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(self.config.max_retry_backoff.max(FIRST_BACKOFF));
        match deadline {
            Some(deadline) => {
                if Instant::now() + wait > deadline {
                    return false;
                }
                tokio::time::sleep(wait).await;
                true
            }
            None => {
                let mut stop = self.stop.clone();
                tokio::select! {
                    () = stopped(&mut stop) => false,
                    () = tokio::time::sleep(wait) => true,
                }
            }
        }
    }

    fn commit(&self, next_offsets: &BTreeMap<i32, i64>) {
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

enum Written {
    Yes,
    /// Transient errors until shutdown or the deadline.
    No,
    /// The store refused the rows as data (the reason).
    Refused(String),
}

/// Completes once shutdown was requested (at once if it already was).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        // The sender is gone without a stop: never complete.
        std::future::pending::<()>().await;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Creates the events and dead-letter topics when absent (brokers do not always auto-create
/// topics). Returns the names of the topics it created.
pub async fn create_topics(
    brokers: &str,
    options: &[(String, String)],
    topics: &[&str],
    partitions: i32,
    replication_factor: i32,
) -> Result<Vec<String>, String> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, options)
        .create()
        .map_err(|error| format!("cannot create the Kafka admin client: {error}"))?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                partitions,
                TopicReplication::Fixed(replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|error| format!("Kafka: cannot create topics: {error}"))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("Kafka: cannot create topic {name}: {code}")),
        }
    }
    Ok(created)
}
