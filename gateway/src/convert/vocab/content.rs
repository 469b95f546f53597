//! What counts as content: the input/output pair a rule finds, and the attribute keys that hold
//! content. The io table (`fields::io`) reads these keys; the metadata table (`fields::metadata`)
//! keeps them out of `metadata.attributes`, so content is stored once (reference §3.8–3.9).

use std::sync::LazyLock;

use rustc_hash::FxHashSet;
use serde_json::Value;

/// What one input/output rule found. `None` sides are absent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Io {
    pub input: Option<Value>,
    pub output: Option<Value>,
}

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

/// [`CONTENT_KEYS`] as a set: every attribute of every span is checked against it.
static CONTENT: LazyLock<FxHashSet<&'static str>> =
    LazyLock::new(|| CONTENT_KEYS.iter().copied().collect());

/// Whether an attribute holds content (a [`CONTENT_KEYS`] key or under a [`CONTENT_PREFIXES`]
/// prefix).
pub fn is_content(key: &str) -> bool {
    CONTENT.contains(key) || CONTENT_PREFIXES.iter().any(|p| key.starts_with(p))
}
