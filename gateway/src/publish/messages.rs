//! How one request's batches become Kafka messages (pure; the producer is in `kafka.rs`).
//! Each trace's batch is split to fit a message, and the pieces whose keys map to the same
//! partition travel together in one `EventBatches` (contract major version 2): a request of a
//! hundred one-span traces (a Collector's batch) makes at most one message per partition
//! instead of a hundred, which spares the producer, the broker and the sink their per-message
//! work (docs/performance.md, "Kafka messages").

use std::collections::BTreeMap;

use prost::Message as _;
use spanbridge_proto::{EventBatch, EventBatches, EventRow, GROUPED_SCHEMA_VERSION, PartialRow};

/// Bytes a batch's envelope (ids, sdk, key) takes besides its rows, with margin.
const ENVELOPE_BYTES: usize = 1_024;

/// Bytes a nested message (a row in a batch, a batch in a message) adds besides its own
/// encoding: its field tag and length.
const NESTING_BYTES: usize = 8;

/// Appended to a field cut to fit one message (Langfuse's marker for oversized fields).
const TRUNCATED_MARKER: &str = "[TRUNCATED: Field exceeded size limit]";

/// One Kafka message, ready to produce.
#[derive(Debug)]
pub struct Message {
    /// Where it goes; `None` lets the producer's partitioner choose by the key.
    pub partition: Option<i32>,
    /// The first batch's key (its trace id); the partition was chosen for every batch's key.
    pub key: String,
    /// An encoded `EventBatches`.
    pub payload: Vec<u8>,
}

/// librdkafka's default partitioner (`consistent_random`) for a non-empty key: CRC-32 of the
/// key modulo the partition count. A grouped message goes where librdkafka would have put each
/// of its traces alone, so a trace's pieces share a partition whether they travel grouped or
/// one per message (a gateway before grouping, or before it learnt the partition count).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let partitions = partitions.max(1) as u32;
    (crc32fast::hash(key.as_bytes()) % partitions) as i32
}

/// The messages of one request. With the topic's partition count known, batches whose keys
/// map to one partition share messages, each under `max_bytes`; without it (or for a batch
/// without a key) each batch is a message of its own, partitioned by the producer.
pub fn messages(
    batches: Vec<EventBatch>,
    partitions: Option<i32>,
    max_bytes: usize,
) -> Vec<Message> {
    let budget = budget(max_bytes);
    let mut out = Vec::new();
    let mut open: BTreeMap<i32, Group> = BTreeMap::new();
    for batch in batches {
        for (piece, size) in fitted(batch, budget) {
            let key = message_key(&piece).to_owned();
            let Some(partition) = partitions.filter(|_| !key.is_empty()) else {
                let mut alone = Group::default();
                alone.add(key, piece, size);
                out.push(alone.into_message(None));
                continue;
            };
            let partition = partition_for(&key, partition);
            let group = open.entry(partition).or_default();
            if !group.batches.is_empty() && group.bytes + size > budget {
                out.push(std::mem::take(group).into_message(Some(partition)));
            }
            group.add(key, piece, size);
        }
    }
    out.extend(
        open.into_iter()
            .map(|(partition, group)| group.into_message(Some(partition))),
    );
    out
}

/// The bytes of rows and scores a message of `max_bytes` holds besides its envelope.
fn budget(max_bytes: usize) -> usize {
    max_bytes.saturating_sub(ENVELOPE_BYTES).max(1)
}

/// The batch as pieces under the budget, each with its encoded size (most batches fit whole,
/// and then their size is computed once).
fn fitted(batch: EventBatch, budget: usize) -> Vec<(EventBatch, usize)> {
    let size = batch.encoded_len() + NESTING_BYTES;
    if size <= budget {
        return vec![(batch, size)];
    }
    split_batch(batch, budget)
        .into_iter()
        .map(|piece| {
            let size = piece.encoded_len() + NESTING_BYTES;
            (piece, size)
        })
        .collect()
}

/// Batches bound for one partition, not yet encoded.
#[derive(Default)]
struct Group {
    key: String,
    batches: Vec<EventBatch>,
    bytes: usize,
}

impl Group {
    fn add(&mut self, key: String, batch: EventBatch, bytes: usize) {
        if self.batches.is_empty() {
            self.key = key;
        }
        self.batches.push(batch);
        self.bytes += bytes;
    }

    fn into_message(self, partition: Option<i32>) -> Message {
        let payload = EventBatches {
            schema_version: GROUPED_SCHEMA_VERSION,
            batches: self.batches,
        }
        .encode_to_vec();
        Message {
            partition,
            key: self.key,
            payload,
        }
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

/// Splits a trace's batch so each piece's rows and scores stay under `budget` (see [`budget`]);
/// a row that alone exceeds it has its largest content fields cut (see [`fit_row`]). Whole
/// rows, partial rows and scores are spread over the messages in order (intakes refuse a score
/// too large for one message); the trace fields travel in the first one.
fn split_batch(batch: EventBatch, budget: usize) -> Vec<EventBatch> {
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
        let mut size = row.encoded_len() + NESTING_BYTES;
        if size > budget {
            fit_row(&mut row, budget);
            size = row.encoded_len() + NESTING_BYTES;
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
        let size = score.encoded_len() + NESTING_BYTES;
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
fn fit_row(row: &mut EventRow, budget: usize) {
    for _ in 0..64 {
        if row.encoded_len() + NESTING_BYTES <= budget {
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
        let parts = split_batch(batch(vec![row("a", 100), row("b", 100)]), budget(900_000));
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].rows.len(), 2);
    }

    #[test]
    fn large_traces_are_split_under_the_limit_keeping_every_row() {
        let rows: Vec<_> = (0..10)
            .map(|i| row(&format!("{i:016x}"), 300_000))
            .collect();
        let parts = split_batch(batch(rows), budget(900_000));
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.encoded_len() <= 900_000));
        assert_eq!(parts.iter().map(|p| p.rows.len()).sum::<usize>(), 10);
        assert!(parts.iter().all(|p| p.project_id == "p"));
    }

    #[test]
    fn a_row_larger_than_a_message_is_cut_and_marked() {
        let parts = split_batch(batch(vec![row("a", 3_000_000)]), budget(900_000));
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
        let parts = split_batch(large, budget(900_000));
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
        let parts = split_batch(scores, budget(900_000));
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

    fn one_span_traces(count: usize) -> Vec<EventBatch> {
        (0..count)
            .map(|i| {
                let mut batch = batch(vec![row(&format!("{i:016x}"), 2_000)]);
                batch.rows[0].trace_id = format!("{i:032x}");
                batch
            })
            .collect()
    }

    fn decoded(message: &Message) -> Vec<EventBatch> {
        let group = EventBatches::decode(message.payload.as_slice()).expect("an EventBatches");
        assert_eq!(group.schema_version, GROUPED_SCHEMA_VERSION);
        group.batches
    }

    #[test]
    fn a_request_of_many_traces_makes_one_message_per_partition() {
        let messages = messages(one_span_traces(100), Some(12), 900_000);
        assert!(messages.len() <= 12, "{} messages", messages.len());
        let mut traces = Vec::new();
        for message in &messages {
            let partition = message.partition.expect("an explicit partition");
            let batches = decoded(message);
            assert_eq!(message.key, message_key(&batches[0]));
            for batch in &batches {
                assert_eq!(partition_for(message_key(batch), 12), partition);
                traces.push(batch.rows[0].trace_id.clone());
            }
        }
        traces.sort();
        let expected: Vec<_> = (0..100).map(|i| format!("{i:032x}")).collect();
        assert_eq!(traces, expected, "every trace exactly once");
    }

    #[test]
    fn without_a_partition_count_every_trace_is_a_message_keyed_by_it() {
        let messages = messages(one_span_traces(5), None, 900_000);
        assert_eq!(messages.len(), 5);
        for (i, message) in messages.iter().enumerate() {
            assert_eq!(message.partition, None);
            assert_eq!(message.key, format!("{i:032x}"));
            assert_eq!(decoded(message).len(), 1);
        }
    }

    #[test]
    fn a_partition_whose_traces_outgrow_a_message_gets_several() {
        // 40 traces of ~300 KB on one partition: no message may pass the limit.
        let batches: Vec<_> = (0..40)
            .map(|i| {
                let mut batch = batch(vec![row(&format!("{i:016x}"), 300_000)]);
                batch.rows[0].trace_id = format!("{i:032x}");
                batch
            })
            .collect();
        let messages = messages(batches, Some(1), 900_000);
        assert!(messages.len() >= 14, "{} messages", messages.len());
        assert!(messages.iter().all(|m| m.payload.len() <= 900_000));
        let rows: usize = messages.iter().map(|m| decoded(m).len()).sum();
        assert_eq!(rows, 40);
    }

    /// The partition computed here must be librdkafka's own choice for the key, or pieces of
    /// one trace sent grouped and sent alone would land on different partitions.
    #[tokio::test]
    async fn the_partition_is_the_one_librdkafka_chooses_for_the_key() {
        use rdkafka::ClientConfig;
        use rdkafka::mocking::MockCluster;
        use rdkafka::producer::{FutureProducer, FutureRecord};

        let cluster = MockCluster::new(1).expect("librdkafka's mock cluster");
        cluster
            .create_topic("keys", 12, 1)
            .expect("a topic of 12 partitions");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        for i in 0..50 {
            let key = format!("{:032x}", 0x5b8e_fff7_u128 * (i + 1) * 7919);
            let delivery = producer
                .send(
                    FutureRecord::to("keys").key(key.as_str()).payload("x"),
                    std::time::Duration::from_secs(10),
                )
                .await
                .map_err(|(error, _)| error)
                .expect("delivered");
            assert_eq!(delivery.partition, partition_for(&key, 12), "key {key}");
        }
    }
}
