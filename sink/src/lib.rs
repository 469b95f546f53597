//! The Spanbridge sink: takes `EventBatch`es (from Kafka, or in-process in embedded mode),
//! enriches them (usage totals, costs), batches them and writes them to the event store; keeps
//! project metadata (projects, API keys, model prices) and answers the read API.
//!
//! Path, in module order: `queue` (embedded) | `consume` (Kafka) → `write` (enrich, batch,
//! retry) → `store/`.

pub mod assemble;
pub mod consume;
pub mod db;
pub mod dead_letter;
pub mod enrich;
pub mod kafka_admin;
pub mod meta;
pub mod prices;
pub mod query;
pub mod queue;
pub mod retry;
pub mod scores;
pub mod store;
pub mod write;
