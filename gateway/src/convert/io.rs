//! Input and output (reference §3.9): an ordered rule list where input and output come from
//! the same rule; the first rule that yields either side wins. Values stay as sent (a JSON
//! string is stored verbatim); structures we rebuild are stored as JSON text.

use serde_json::Value;

use super::value;
use super::view::SpanView;
use super::{frameworks, genai, genkit, logfire, openinference, openllmetry, vercel};

/// What one rule found. `None` sides are absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Io {
    pub input: Option<Value>,
    pub output: Option<Value>,
}

/// One input/output source.
pub enum IoRule {
    /// A pair of span attributes read together.
    Pair(&'static str, &'static str),
    /// A convention's own extraction; `Some` ends the search (even with both sides empty, for
    /// the scope-gated rules that Langfuse lets "always return").
    Derived(fn(&SpanView) -> Option<Io>),
}

use IoRule::{Derived, Pair};

/// Langfuse's order (§3.9, rules 1–20), then our additions.
pub const IO: &[IoRule] = &[
    Pair("langfuse.observation.input", "langfuse.observation.output"),
    Derived(genkit::io),
    Derived(vercel::io),
    Derived(frameworks::flue_io),
    Derived(genai::operation_details_event_io),
    Derived(genai::message_events_io),
    Derived(genai::legacy_content_events_io),
    Derived(frameworks::google_adk_io),
    Pair("prompt", "all_messages_events"), // Logfire (legacy)
    Derived(frameworks::livekit_io),
    Derived(logfire::events_io),
    Pair("mlflow.spanInputs", "mlflow.spanOutputs"),
    Pair("traceloop.entity.input", "traceloop.entity.output"),
    Pair("input.value", "output.value"), // OpenInference, smolagents
    Pair("input", "output"),             // Pydantic, Pipecat
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

/// Attribute keys that are content, removed from `metadata.attributes` whichever rule fired
/// (§3.9) so content is stored once.
pub const CONTENT_KEYS: &[&str] = &[
    "langfuse.trace.input",
    "langfuse.trace.output",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "ai.prompt.messages",
    "ai.prompt",
    "ai.toolCall.args",
    "ai.response.text",
    "ai.result.text",
    "ai.toolCall.result",
    "ai.response.object",
    "ai.result.object",
    "ai.response.toolCalls",
    "ai.result.toolCalls",
    "gcp.vertex.agent.llm_request",
    "gcp.vertex.agent.llm_response",
    "gcp.vertex.agent.tool_call_args",
    "gcp.vertex.agent.tool_response",
    "prompt",
    "all_messages_events",
    "events",
    "lk.input_text",
    "lk.user_transcript",
    "lk.chat_ctx",
    "lk.user_input",
    "lk.function_tool.output",
    "lk.response.text",
    "mlflow.spanInputs",
    "mlflow.spanOutputs",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "input.value",
    "output.value",
    "final_result",
    "pydantic_ai.all_messages",
    "gen_ai.system_instructions",
    "input",
    "output",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "genkit:input",
    "genkit:output",
    "flue.turn.input",
    "flue.turn.output",
    "flue.tool.arguments",
    "flue.tool.result",
    "flue.task.prompt",
    "flue.task.result",
    "flue.operation.result",
    "flue.workflow.payload",
    "flue.workflow.result",
];

/// Attribute key prefixes that are content or user metadata, also kept out of
/// `metadata.attributes` (§3.8).
pub const CONTENT_PREFIXES: &[&str] = &[
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
    "langfuse.trace.metadata",
    "langfuse.observation.metadata",
    "ai.telemetry.metadata",
];

impl IoRule {
    fn read(&self, view: &SpanView) -> Option<Io> {
        match self {
            Pair(input, output) => {
                let io = Io {
                    input: view.attrs.present(input),
                    output: view.attrs.present(output),
                };
                (io.input.is_some() || io.output.is_some()).then_some(io)
            }
            Derived(f) => f(view),
        }
    }
}

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
