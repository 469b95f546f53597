//! The Kafka deployment: `spanbridge gateway` and `spanbridge sink` processes, a tansu broker
//! between them and the ClickHouse engine as the store (tests/support/services.rs starts them
//! on free ports; each test holds `services::one_stack_at_a_time` while its stack runs).

mod support;

#[path = "kafka_deployment/assembly.rs"]
mod assembly;
#[path = "kafka_deployment/batch_api.rs"]
mod batch_api;
#[path = "kafka_deployment/delivery.rs"]
mod delivery;
#[path = "kafka_deployment/table_layouts.rs"]
mod table_layouts;
