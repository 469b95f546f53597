//! One module per attribute convention (reference langfuse-otel.md §3, genai-semconv.md): the
//! lookup tables and small functions the rule tables in `fields/` list. A convention module uses
//! only the vocabulary (`crate::convert::vocab`), never another convention or a table.

pub mod flue;
pub mod genai;
pub mod genai_events;
pub mod genkit;
pub mod google_adk;
pub mod langfuse;
pub mod livekit;
pub mod logfire;
pub mod mlflow;
pub mod openinference;
pub mod openllmetry;
pub mod vercel;
