//! Kafka client settings shared by the sink's consumer and producer, and topic creation for
//! `spanbridge migrate` (brokers do not always auto-create topics).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use spanbridge_proto::Secret;

/// A librdkafka configuration with the bootstrap servers and the pass-through options (their
/// values are secrets: `sasl.password` and its kind are among them).
pub fn client_config(brokers: &str, options: &[(String, Secret)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (name, value) in options {
        config.set(name, value.expose());
    }
    config
}

/// Creates the topics that are absent. Returns the names of the topics it created.
pub async fn create_topics(
    brokers: &str,
    options: &[(String, Secret)],
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
