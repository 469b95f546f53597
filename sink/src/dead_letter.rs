//! The dead-letter topic: where the sink puts a Kafka message it can never decode or insert,
//! unchanged (same key and payload), with the reason and its origin in headers, so nothing is
//! dropped silently and an operator can replay it after a fix.

use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Header holding why the message was dead-lettered.
pub const ERROR_HEADER: &str = "spanbridge-error";
/// Headers naming where the message came from.
pub const SOURCE_TOPIC_HEADER: &str = "spanbridge-source-topic";
pub const SOURCE_PARTITION_HEADER: &str = "spanbridge-source-partition";
pub const SOURCE_OFFSET_HEADER: &str = "spanbridge-source-offset";

/// Why a message went to the dead-letter topic (the `reason` label of
/// `spanbridge_dead_letter_messages_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The payload is not a `spanbridge.v1.EventBatch`.
    Undecodable,
    /// The batch names a contract major version this sink does not know.
    UnknownSchemaVersion,
    /// The store refused the rows as data (a permanent error).
    Rejected,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::UnknownSchemaVersion => "unknown_schema_version",
            Self::Rejected => "rejected",
        }
    }
}

/// Produces to the dead-letter topic and waits for the acknowledgement.
///
/// The producer is created on the first dead letter, not at start: an idle rdkafka producer
/// keeps a polling thread that spins through the last millisecond of every 100 ms poll, about
/// 1 % of a core for a topic that is written to rarely (6 % of the sink's CPU in the sink
/// benchmark; docs/performance.md, "ClickHouse writer"). Its options are still checked at
/// start.
pub struct DeadLetters {
    config: ClientConfig,
    producer: OnceLock<FutureProducer>,
    topic: String,
}

impl DeadLetters {
    pub fn new(mut config: ClientConfig, topic: String) -> Result<Self, String> {
        // Not idempotent: a duplicate in the dead-letter topic is harmless, and a plain
        // producer survives a broker that lost its producer state.
        config.set("acks", "all");
        config
            .create_native_config()
            .map_err(|error| format!("invalid dead-letter producer options: {error}"))?;
        Ok(Self {
            config,
            producer: OnceLock::new(),
            topic,
        })
    }

    fn producer(&self) -> Result<&FutureProducer, String> {
        if let Some(producer) = self.producer.get() {
            return Ok(producer);
        }
        let producer = self
            .config
            .create::<FutureProducer>()
            .map_err(|error| format!("cannot create the dead-letter producer: {error}"))?;
        Ok(self.producer.get_or_init(|| producer))
    }

    /// Sends one message (its key and payload unchanged) with the reason; Ok once the broker
    /// acknowledged it.
    pub async fn send<M: Message>(
        &self,
        message: &M,
        reason: Reason,
        detail: &str,
    ) -> Result<(), String> {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let text = format!("{}: {detail}", reason.label());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: ERROR_HEADER,
                value: Some(text.as_str()),
            })
            .insert(Header {
                key: SOURCE_TOPIC_HEADER,
                value: Some(message.topic()),
            })
            .insert(Header {
                key: SOURCE_PARTITION_HEADER,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: SOURCE_OFFSET_HEADER,
                value: Some(offset.as_str()),
            });
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer()?
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(error, _)| format!("dead-letter produce failed: {error}"))?;
        metrics::counter!("spanbridge_dead_letter_messages_total", "reason" => reason.label())
            .increment(1);
        tracing::warn!(
            reason = reason.label(),
            %detail,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            "message moved to the dead-letter topic"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(option: (&str, &str)) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:1")
            .set(option.0, option.1);
        config
    }

    #[test]
    fn options_are_checked_at_start_and_the_producer_waits_for_the_first_dead_letter() {
        let refused = DeadLetters::new(config(("no.such.option", "1")), "dlq".into());
        let error = refused.err().unwrap_or_default();
        assert!(error.contains("no.such.option"), "{error}");

        let letters = DeadLetters::new(config(("linger.ms", "5")), "dlq".into())
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(letters.producer.get().is_none());
        assert!(letters.producer().is_ok());
        assert!(letters.producer.get().is_some());
    }
}
