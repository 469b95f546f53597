//! Input and output (reference §3.9): an ordered rule list where input and output come from
//! the same rule; the first rule that yields either side wins. Values stay as sent (a JSON
//! string is stored verbatim); structures we rebuild are stored as JSON text.

use serde_json::Value;

use crate::convert::family::{
    flue, genai, genkit, google_adk, livekit, logfire, openinference, openllmetry, vercel,
};
use crate::convert::vocab::content::Io;
use crate::convert::vocab::rules::IoRule::{self, Derived, Pair};
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// Langfuse's order (§3.9, rules 1–20), then our additions.
pub const IO: &[IoRule] = &[
    Pair("langfuse.observation.input", "langfuse.observation.output"),
    Derived(genkit::io),
    Derived(vercel::io),
    Derived(flue::io),
    Derived(genai::operation_details_event_io),
    Derived(genai::message_events_io),
    Derived(genai::deprecated_content_events_io),
    Derived(google_adk::io),
    Pair("prompt", "all_messages_events"), // Logfire (older format)
    Derived(livekit::io),
    Derived(logfire::events_io),
    Pair("mlflow.spanInputs", "mlflow.spanOutputs"),
    Pair("traceloop.entity.input", "traceloop.entity.output"),
    Derived(openinference::llama_index_messages_io), // beyond Langfuse: LlamaIndex's messages
    Pair("input.value", "output.value"),             // OpenInference, smolagents
    Pair("input", "output"),                         // Pydantic, Pipecat
    Derived(logfire::pydantic_ai_io),
    Pair("tool_arguments", "tool_response"),
    Derived(openllmetry::indexed_prompt_io),
    Derived(openinference::indexed_messages_io),
    Derived(genai::messages_io),
];

/// Output sources tried when the winning rule had no output (beyond Langfuse): retrievers
/// report their documents, not an `output.value`.
const OUTPUT_FALLBACK: &[fn(&SpanView) -> Option<Value>] = &[
    openinference::retrieval_documents,
    genai::retrieval_documents,
];

/// The observation's input and output.
pub fn extract(view: &SpanView) -> Io {
    let mut io = IO
        .iter()
        .find_map(|rule| rule.read(view))
        .unwrap_or_default();
    io.input = io.input.filter(value::is_present);
    io.output = io.output.filter(value::is_present);
    if io.output.is_none() {
        io.output = OUTPUT_FALLBACK
            .iter()
            .find_map(|f| f(view))
            .filter(value::is_present);
    }
    io
}
