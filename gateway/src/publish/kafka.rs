//! The production publisher: one Kafka message per (request, trace), key = trace id, holding a
//! `spanbridge.v1.EventBatch`. Idempotent producer with `acks=all` and lz4; `publish` returns
//! only after the broker acknowledged every message of the request, so a client's 200 means
//! its spans are in Kafka. Every failure (broker unreachable, delivery timeout, local queue
//! full) is a retryable 503 / UNAVAILABLE: OTLP clients drop data on anything else.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prost::Message;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use spanbridge_proto::{EventBatch, EventRow, PartialRow};

use super::{PublishError, Publisher};

/// Header naming the contract's major version, so a consumer can route without decoding.
pub const SCHEMA_HEADER: &str = "spanbridge-schema-version";

/// Bytes a batch's envelope (ids, sdk, key) takes besides its rows, with margin.
const ENVELOPE_BYTES: usize = 1_024;

/// Appended to a field cut to fit one message (Langfuse's marker for oversized fields).
const TRUNCATED_MARKER: &str = "[TRUNCATED: Field exceeded size limit]";

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
    /// Pass-through librdkafka options (name, value), applied last.
    pub options: Vec<(String, String)>,
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
            config.set(name, value);
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
}

impl KafkaPublisher {
    pub fn new(config: KafkaPublisherConfig) -> Result<Self, String> {
        let producer = config
            .client_config()
            .create::<FutureProducer>()
            .map_err(|error| format!("cannot create the Kafka producer: {error}"))?;
        Ok(Self {
            config,
            producer: RwLock::new((0, producer)),
        })
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
        let messages: Vec<(String, Vec<u8>)> = batches
            .into_iter()
            .flat_map(|batch| split_batch(batch, self.config.max_message_bytes))
            .map(|batch| {
                let key = message_key(&batch).to_owned();
                (key, batch.encode_to_vec())
            })
            .collect();
        let (generation, producer) = self.producer();
        let started = Instant::now();
        let version = spanbridge_proto::SCHEMA_VERSION.to_string();
        let mut deliveries = Vec::with_capacity(messages.len());
        for (key, payload) in &messages {
            let headers = OwnedHeaders::new().insert(Header {
                key: SCHEMA_HEADER,
                value: Some(version.as_str()),
            });
            let record = FutureRecord::to(&self.config.topic)
                .key(key.as_str())
                .payload(payload.as_slice())
                .headers(headers);
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

/// The message key: the batch's trace id, so every piece of a trace lands on one partition.
/// A batch of scores without a trace (session or dataset-run scores) is keyed by that target.
fn message_key(batch: &EventBatch) -> &str {
    let rows = batch.rows.iter().map(|row| row.trace_id.as_str());
    let partial_rows = batch
        .partial_rows
        .iter()
        .filter_map(|partial| partial.row.as_ref())
        .map(|row| row.trace_id.as_str());
    let scores = batch.scores.iter().flat_map(|score| {
        [
            score.trace_id.as_str(),
            score.session_id.as_str(),
            score.dataset_run_id.as_str(),
        ]
    });
    rows.chain(partial_rows)
        .chain(scores)
        .find(|id| !id.is_empty())
        .unwrap_or_default()
}

/// Splits a trace's batch so each encoded message stays under `max_bytes`; a row that alone
/// exceeds it has its largest content fields cut (see [`fit_row`]). Whole rows, partial rows
/// and scores are spread over the messages in order (intakes refuse a score too large for
/// one message); the trace fields travel in the first one.
pub fn split_batch(batch: EventBatch, max_bytes: usize) -> Vec<EventBatch> {
    let budget = max_bytes.saturating_sub(ENVELOPE_BYTES).max(1);
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
    let mut first = Some(trace);
    let mut envelope = || EventBatch {
        schema_version,
        project_id: project_id.clone(),
        api_key_id: api_key_id.clone(),
        sdk_name: sdk_name.clone(),
        sdk_version: sdk_version.clone(),
        received_at_us,
        trace: first.take().flatten(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut current = envelope();
    let mut current_bytes = current.encoded_len();
    let pieces = rows
        .into_iter()
        .map(|row| (row, None))
        .chain(partial_rows.into_iter().map(|partial| {
            let fields = (partial.fields, partial.event_time_us);
            (partial.row.unwrap_or_default(), Some(fields))
        }));
    for (mut row, partial) in pieces {
        let mut size = row.encoded_len() + 8;
        if size > budget {
            fit_row(&mut row, budget);
            size = row.encoded_len() + 8;
        }
        let empty = current.rows.is_empty() && current.partial_rows.is_empty();
        if !empty && current_bytes + size > budget {
            out.push(std::mem::replace(&mut current, envelope()));
            current_bytes = 0;
        }
        current_bytes += size;
        match partial {
            None => current.rows.push(row),
            Some((fields, event_time_us)) => current.partial_rows.push(PartialRow {
                row: Some(row),
                fields,
                event_time_us,
            }),
        }
    }
    for score in scores {
        let size = score.encoded_len() + 8;
        let empty =
            current.rows.is_empty() && current.partial_rows.is_empty() && current.scores.is_empty();
        if !empty && current_bytes + size > budget {
            out.push(std::mem::replace(&mut current, envelope()));
            current_bytes = 0;
        }
        current_bytes += size;
        current.scores.push(score);
    }
    out.push(current);
    out
}

/// Cuts the largest content fields (input, output, trace I/O, metadata values) of a row that
/// cannot fit one message, halving the largest each round and marking it, like Langfuse does
/// for rows ClickHouse refuses.
pub fn fit_row(row: &mut EventRow, budget: usize) {
    for _ in 0..64 {
        if row.encoded_len() + 8 <= budget {
            return;
        }
        let mut fields: Vec<&mut String> = vec![
            &mut row.input,
            &mut row.output,
            &mut row.trace_input,
            &mut row.trace_output,
        ];
        fields.extend(row.metadata_values.iter_mut());
        let Some(largest) = fields.into_iter().max_by_key(|field| field.len()) else {
            return;
        };
        if largest.len() <= TRUNCATED_MARKER.len() * 2 {
            return;
        }
        let mut cut = largest.len() / 2;
        while !largest.is_char_boundary(cut) {
            cut -= 1;
        }
        largest.truncate(cut);
        largest.push_str(TRUNCATED_MARKER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(span: &str, input_bytes: usize) -> EventRow {
        EventRow {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            span_id: span.into(),
            input: "é".repeat(input_bytes / 2),
            ..Default::default()
        }
    }

    fn batch(rows: Vec<EventRow>) -> EventBatch {
        EventBatch {
            schema_version: 1,
            project_id: "p".into(),
            rows,
            ..Default::default()
        }
    }

    #[test]
    fn small_batches_stay_one_message() {
        let parts = split_batch(batch(vec![row("a", 100), row("b", 100)]), 900_000);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].rows.len(), 2);
    }

    #[test]
    fn large_traces_are_split_under_the_limit_keeping_every_row() {
        let rows: Vec<_> = (0..10)
            .map(|i| row(&format!("{i:016x}"), 300_000))
            .collect();
        let parts = split_batch(batch(rows), 900_000);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= 900_000));
        assert_eq!(parts.iter().map(|p| p.rows.len()).sum::<usize>(), 10);
        assert!(parts.iter().all(|p| p.project_id == "p"));
    }

    #[test]
    fn a_row_larger_than_a_message_is_cut_and_marked() {
        let parts = split_batch(batch(vec![row("a", 3_000_000)]), 900_000);
        assert_eq!(parts.len(), 1);
        assert!(parts[0].encoded_len() <= 900_000);
        assert!(parts[0].rows[0].input.ends_with(TRUNCATED_MARKER));
    }

    #[test]
    fn partial_rows_trace_fields_and_scores_are_kept_when_split() {
        let mut large = batch((0..4).map(|i| row(&format!("r{i}"), 300_000)).collect());
        large.partial_rows = (0..4)
            .map(|i| PartialRow {
                row: Some(row(&format!("p{i}"), 300_000)),
                fields: vec!["input".into()],
                event_time_us: i,
            })
            .collect();
        large.trace = Some(spanbridge_proto::TraceFields {
            name: Some("chat".into()),
            ..Default::default()
        });
        large.scores = vec![spanbridge_proto::Score {
            name: "helpful".into(),
            ..Default::default()
        }];
        let parts = split_batch(large, 900_000);
        assert!(parts.len() >= 3, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= 900_000));
        assert_eq!(parts.iter().map(|p| p.rows.len()).sum::<usize>(), 4);
        let partial: Vec<_> = parts.iter().flat_map(|p| &p.partial_rows).collect();
        assert_eq!(partial.len(), 4);
        assert!(partial.iter().all(|p| p.fields == ["input"]));
        assert_eq!(parts.iter().filter(|p| p.trace.is_some()).count(), 1);
        assert_eq!(parts.iter().map(|p| p.scores.len()).sum::<usize>(), 1);
    }

    #[test]
    fn many_scores_are_spread_over_messages_and_keyed_by_their_target() {
        let score = |i: usize| spanbridge_proto::Score {
            id: format!("s{i}"),
            session_id: "session-1".into(),
            comment: "c".repeat(100_000),
            ..Default::default()
        };
        let mut scores = batch(Vec::new());
        scores.scores = (0..30).map(score).collect();
        let parts = split_batch(scores, 900_000);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= 900_000));
        let ids: Vec<_> = parts
            .iter()
            .flat_map(|p| &p.scores)
            .map(|s| &s.id)
            .collect();
        assert_eq!(
            ids,
            (0..30)
                .map(|i| format!("s{i}"))
                .collect::<Vec<_>>()
                .iter()
                .collect::<Vec<_>>()
        );
        assert!(parts.iter().all(|p| message_key(p) == "session-1"));
        let mut traced = batch(vec![row("a", 10)]);
        traced.scores = vec![score(0)];
        assert_eq!(message_key(&traced), "0af7651916cd43dd8448eb211c80319c");
    }
}
