//! One rule table per output field (reference langfuse-otel.md §3), written as ordered lists
//! of vocabulary rule kinds whose convention-specific steps come from `family/`. Tables use the
//! families and the vocabulary; `tools` also uses `metadata` (it takes the offered tools out of
//! the metadata object); nothing here is used by a family or by the vocabulary.

pub mod io;
pub mod metadata;
pub mod model_parameters;
pub mod observation_type;
pub mod scalar;
pub mod tools;
pub mod usage;
