//! The Kafka deployment's publisher: a request's batches grouped into one Kafka message per
//! partition (`messages.rs`), each on the partition its traces' ids choose, holding a
//! `spanbridge.v1.EventBatches`. Idempotent producer with `acks=all` and lz4; `publish` returns
//! only after the broker acknowledged every message of the request, so a client's 200 means its
//! spans are in Kafka. Every failure (broker unreachable, delivery timeout, local queue full) is
//! a retryable 503 / UNAVAILABLE: OTLP clients drop data on anything else.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use spanbridge_proto::{EventBatch, GROUPED_SCHEMA_VERSION, Secret};

use super::messages::messages;
use super::{PublishError, Publisher};

/// Header naming the contract's major version, so a consumer can route without decoding.
pub const SCHEMA_HEADER: &str = "spanbridge-schema-version";

/// How often the topic's partition count is asked again (partitions can be added at any time;
/// until the answer arrives, messages are grouped by the count known before).
const PARTITIONS_REFRESH: Duration = Duration::from_secs(30);

/// What the Kafka publisher needs from the settings.
#[derive(Debug, Clone)]
pub struct KafkaPublisherConfig {
    /// Bootstrap servers, comma-separated.
    pub brokers: String,
    pub topic: String,
    /// librdkafka `message.timeout.ms`: after this a message counts as not delivered.
    pub delivery_timeout: Duration,
    /// librdkafka `queue.buffering.max.messages`: more messages waiting → 503 at once.
    pub max_inflight_messages: usize,
    /// Rows of one trace are split into several messages above this encoded size.
    pub max_message_bytes: usize,
    /// Pass-through librdkafka options (name, value), applied last. Values are [`Secret`]s:
    /// `sasl.password` and its kind are among them, and this struct derives `Debug`.
    pub options: Vec<(String, Secret)>,
}

impl KafkaPublisherConfig {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            )
            .set(
                "queue.buffering.max.messages",
                self.max_inflight_messages.to_string(),
            )
            .set(
                "message.max.bytes",
                (self.max_message_bytes + 64 * 1024)
                    .max(1_000_000)
                    .to_string(),
            );
        for (name, value) in &self.options {
            config.set(name, value.expose());
        }
        config
    }
}

/// Publishes to Kafka and waits for the acknowledgements.
pub struct KafkaPublisher {
    config: KafkaPublisherConfig,
    /// The current producer and its generation. After a failed delivery the producer is
    /// replaced: an idempotent producer whose broker lost its producer state (a broker
    /// restarted without persistent storage) keeps failing with UNKNOWN_PRODUCER_ID however
    /// often it bumps its epoch; a fresh one gets a new producer id. Requests still waiting on
    /// the old one keep it alive until they are answered.
    producer: RwLock<(u64, FutureProducer)>,
    /// The topic's partition count, for grouping a request's traces by partition.
    partitions: Arc<PartitionCount>,
    /// Whether traces are grouped at all: only under librdkafka's default partitioner, whose
    /// choice `messages::partition_for` computes.
    grouping: bool,
}

/// The topic's partition count as last heard from the broker (0: not yet known), and when it
/// was last asked.
#[derive(Default)]
struct PartitionCount {
    count: AtomicI32,
    asked_at: Mutex<Option<Instant>>,
}

impl KafkaPublisher {
    pub fn new(config: KafkaPublisherConfig) -> Result<Self, String> {
        let producer = config
            .client_config()
            .create::<FutureProducer>()
            .map_err(|error| format!("cannot create the Kafka producer: {error}"))?;
        let grouping = !config
            .options
            .iter()
            .any(|(name, value)| name == "partitioner" && value.expose() != "consistent_random");
        Ok(Self {
            config,
            producer: RwLock::new((0, producer)),
            partitions: Arc::default(),
            grouping,
        })
    }

    /// The partition count to group by, if messages are grouped and the count is known. Asks
    /// the broker again in the background when the count is older than [`PARTITIONS_REFRESH`].
    fn partition_count(&self) -> Option<i32> {
        if !self.grouping {
            return None;
        }
        self.refresh_partitions();
        let count = self.partitions.count.load(Ordering::Relaxed);
        (count > 0).then_some(count)
    }

    fn refresh_partitions(&self) {
        {
            let mut asked_at = match self.partitions.asked_at.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if asked_at.is_some_and(|at| at.elapsed() < PARTITIONS_REFRESH) {
                return;
            }
            *asked_at = Some(Instant::now());
        }
        let (_, producer) = self.producer();
        let topic = self.config.topic.clone();
        let partitions = Arc::clone(&self.partitions);
        // librdkafka's metadata call blocks; the request goes on without waiting for it.
        tokio::task::spawn_blocking(move || {
            match producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
            {
                Ok(metadata) => match metadata.topics().first() {
                    Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
                        let count = i32::try_from(found.partitions().len()).unwrap_or(i32::MAX);
                        partitions.count.store(count, Ordering::Relaxed);
                        metrics::gauge!("spanbridge_kafka_topic_partitions").set(count);
                    }
                    _ => tracing::debug!(%topic, "no partition count for the topic yet"),
                },
                Err(error) => tracing::debug!(%error, "cannot ask the topic's partition count"),
            }
        });
    }

    fn producer(&self) -> (u64, FutureProducer) {
        match self.producer.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the producer of `generation` unless another request already did.
    fn renew(&self, generation: u64) {
        let mut guard = match self.producer.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.0 != generation {
            return;
        }
        match self.config.client_config().create::<FutureProducer>() {
            Ok(fresh) => {
                tracing::info!(
                    generation = generation + 1,
                    "started a new Kafka producer after a failed delivery"
                );
                *guard = (generation + 1, fresh);
            }
            Err(error) => tracing::error!(%error, "cannot create a new Kafka producer"),
        }
    }

    /// Messages still waiting for an acknowledgement (for the in-flight gauge).
    pub fn in_flight(&self) -> i32 {
        self.producer().1.in_flight_count()
    }

    /// Whether the broker answers a metadata request for the topic within `timeout` (for
    /// `/ready`); librdkafka's call blocks, so it runs on the blocking pool.
    pub async fn check_topic(&self, timeout: Duration) -> Result<(), String> {
        let (_, producer) = self.producer();
        let topic = self.config.topic.clone();
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(|error| format!("Kafka unreachable: {error}"))?;
            match metadata.topics().first().and_then(|t| t.error()) {
                Some(error) => Err(format!("Kafka topic {topic}: {error:?}")),
                None => Ok(()),
            }
        })
        .await
        .map_err(|error| error.to_string())?
    }

    /// Flushes what is queued (shutdown path).
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer().1.flush(timeout) {
            tracing::warn!(%error, "Kafka producer did not flush everything");
        }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, batches: Vec<EventBatch>) -> Result<(), PublishError> {
        let messages = messages(
            batches,
            self.partition_count(),
            self.config.max_message_bytes,
        );
        let (generation, producer) = self.producer();
        let started = Instant::now();
        let version = GROUPED_SCHEMA_VERSION.to_string();
        let mut deliveries = Vec::with_capacity(messages.len());
        for message in &messages {
            let headers = OwnedHeaders::new().insert(Header {
                key: SCHEMA_HEADER,
                value: Some(version.as_str()),
            });
            let mut record = FutureRecord::to(&self.config.topic)
                .key(message.key.as_str())
                .payload(message.payload.as_slice())
                .headers(headers);
            if let Some(partition) = message.partition {
                record = record.partition(partition);
            }
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    // Messages enqueued before this one may still be delivered; the client's
                    // retry then writes them twice, which the store's dedup absorbs.
                    return Err(self.failed(generation, error));
                }
            }
        }
        metrics::gauge!("spanbridge_kafka_inflight_messages").set(producer.in_flight_count());
        let mut first_error = None;
        for delivery in futures::future::join_all(deliveries).await {
            let error = match delivery {
                Ok(Ok(_)) => continue,
                Ok(Err((error, _))) => error,
                Err(_canceled) => KafkaError::Canceled,
            };
            first_error.get_or_insert(error);
        }
        metrics::gauge!("spanbridge_kafka_inflight_messages").set(producer.in_flight_count());
        match first_error {
            None => {
                metrics::histogram!("spanbridge_kafka_produce_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                Ok(())
            }
            Some(error) => Err(self.failed(generation, error)),
        }
    }
}

impl KafkaPublisher {
    /// Counts and logs a failed produce, renews the producer after a failed delivery, and maps
    /// the failure to a retryable error.
    fn failed(&self, generation: u64, error: KafkaError) -> PublishError {
        let reason = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => "queue_full",
            Some(RDKafkaErrorCode::MessageTimedOut) => "timed_out",
            Some(RDKafkaErrorCode::MessageSizeTooLarge) => "too_large",
            Some(_) => "broker_error",
            None => "client_error",
        };
        metrics::counter!("spanbridge_kafka_produce_errors_total", "reason" => reason).increment(1);
        tracing::warn!(%error, reason, "Kafka did not acknowledge a request's messages");
        if reason == "queue_full" {
            return PublishError::Full;
        }
        self.renew(generation);
        PublishError::Unavailable(format!("Kafka did not acknowledge the messages: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(options: &[(&str, &str)]) -> KafkaPublisherConfig {
        KafkaPublisherConfig {
            brokers: "127.0.0.1:1".into(),
            topic: "events".into(),
            delivery_timeout: Duration::from_secs(1),
            max_inflight_messages: 10,
            max_message_bytes: 900_000,
            options: options
                .iter()
                .map(|(name, value)| (name.to_string(), Secret::new(*value)))
                .collect(),
        }
    }

    /// Grouping computes librdkafka's default partitioner; under another one the gateway
    /// cannot know where a trace goes, so every trace stays a message of its own.
    #[tokio::test]
    async fn only_the_default_partitioner_groups_traces() {
        let other =
            KafkaPublisher::new(config(&[("partitioner", "murmur2_random")])).expect("a producer");
        assert!(!other.grouping);
        assert_eq!(other.partition_count(), None);
        let default = KafkaPublisher::new(config(&[("partitioner", "consistent_random")]))
            .expect("a producer");
        assert!(default.grouping);
        assert!(
            KafkaPublisher::new(config(&[]))
                .expect("a producer")
                .grouping
        );
    }
}
