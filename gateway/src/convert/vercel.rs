//! Vercel AI SDK legacy `ai.*` spans (v3–v6, and `LegacyOpenTelemetry` in v7); v7's default
//! integration emits plain GenAI semconv, handled by `genai`. genai-semconv §4.

use serde_json::{Map, Value, json};

use super::io::Io;
use super::value;
use super::view::SpanView;

/// The scope name the AI SDK uses; Langfuse gates Vercel parsing on it.
pub const SCOPE: &str = "ai";

const GENERATION_OPERATIONS: &[&str] = &[
    "ai.generateText.doGenerate",
    "ai.streamText.doStream",
    "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
];
const EMBEDDING_OPERATIONS: &[&str] = &["ai.embedMany.doEmbed", "ai.embed.doEmbed"];

/// Top-level calls whose usage sums their `do*` steps: a roll-up, not counted again.
const ROLLUP_OPERATIONS: &[&str] = &[
    "ai.generateText",
    "ai.streamText",
    "ai.generateObject",
    "ai.streamObject",
    "ai.embed",
    "ai.embedMany",
];

/// `ai.operationId`, or the first word of `operation.name` (`"ai.embed.doEmbed my-fn"`).
fn operation_id<'a>(view: &SpanView<'a>) -> Option<&'a str> {
    view.attrs.str("ai.operationId").or_else(|| {
        view.attrs
            .str("operation.name")
            .and_then(|n| n.split(' ').next())
    })
}

/// Whether this span's operation (by `ai.operationId` equality or `operation.name` prefix, as
/// Langfuse matches) is one of `ids`.
fn operation_in(view: &SpanView, ids: &[&str]) -> bool {
    let by_id = view
        .attrs
        .str("ai.operationId")
        .is_some_and(|op| ids.contains(&op));
    let by_name = view
        .attrs
        .str("operation.name")
        .is_some_and(|n| ids.iter().any(|id| n.starts_with(id)));
    by_id || by_name
}

/// §3.4 prio 5: `do*` model calls are generations / embeddings, but only when a model is
/// named (the SDK also emits them for mock providers without one).
pub fn generation_type(view: &SpanView) -> Option<&'static str> {
    let has_model = [
        "langfuse.observation.model.name",
        "ai.model.id",
        "gen_ai.request.model",
        "gen_ai.response.model",
    ]
    .iter()
    .any(|k| view.attrs.present(k).is_some());
    if !has_model {
        return None;
    }
    if operation_in(view, GENERATION_OPERATIONS) {
        Some("GENERATION")
    } else if operation_in(view, EMBEDDING_OPERATIONS) {
        Some("EMBEDDING")
    } else {
        None
    }
}

/// §3.4 prio 6: `ai.toolCall` spans are tools.
pub fn tool_call_type(view: &SpanView) -> Option<&'static str> {
    operation_in(view, &["ai.toolCall"]).then_some("TOOL")
}

/// Top-level `ai.generateText` & co. carry the sum of their steps' usage.
pub fn is_rollup(view: &SpanView) -> bool {
    operation_id(view).is_some_and(|op| ROLLUP_OPERATIONS.contains(&op))
}

/// `[functionId:]operationId` as the observation name (§3.5).
pub fn operation_name(view: &SpanView) -> Option<Value> {
    let operation = view.attrs.get("ai.operationId")?;
    let operation = value::into_text(operation);
    let name = match view.attrs.present("ai.telemetry.functionId") {
        Some(function) => format!("{}:{operation}", value::into_text(function)),
        None => operation,
    };
    Some(Value::String(name))
}

/// §3.9 rule 3 (scope `ai`, always returns): prompt / tool args in; text, object or tool calls
/// out; text plus tool calls become one assistant message. Missing sides come from GenAI
/// semconv messages (rule 20).
pub fn io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let attrs = &view.attrs;
    let input = ["ai.prompt.messages", "ai.prompt", "ai.toolCall.args"]
        .iter()
        .find_map(|k| attrs.present(k));
    let text = attrs.get("ai.response.text").filter(value::is_truthy);
    let tool_calls = attrs.present("ai.response.toolCalls");
    let output = match (&text, &tool_calls) {
        (Some(text), Some(calls)) => Some(Value::String(
            json!({"role": "assistant", "content": text, "tool_calls": value::json_or_self(calls)})
                .to_string(),
        )),
        _ => text.or_else(|| {
            [
                "ai.result.text",
                "ai.toolCall.result",
                "ai.response.object",
                "ai.result.object",
                "ai.response.toolCalls",
                "ai.result.toolCalls",
            ]
            .iter()
            .find_map(|k| attrs.present(k))
        }),
    };
    let semconv = super::genai::messages_io(view).unwrap_or_default();
    Some(Io {
        input: input.or(semconv.input),
        output: output.or(semconv.output),
    })
}

/// Start + `ai.response.msToFirstChunk` (or `ai.stream.msToFirstChunk`), rounded up to the ms.
pub fn completion_start_time(view: &SpanView) -> Option<Value> {
    let ms = ["ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"]
        .iter()
        .find_map(|k| view.attrs.get(k).and_then(|v| value::as_f64(&v)))?;
    let start_us = (view.span.start_time_unix_nano / 1000) as i64;
    (start_us > 0 && ms >= 0.0).then(|| Value::from(start_us + (ms.ceil() as i64) * 1000))
}

/// `ai.telemetry.metadata.langfusePrompt` is JSON `{name, version}` (Langfuse's AI SDK docs).
fn langfuse_prompt(view: &SpanView) -> Option<Map<String, Value>> {
    view.attrs
        .get("ai.telemetry.metadata.langfusePrompt")
        .and_then(|v| value::as_object(&v))
}

pub fn prompt_name(view: &SpanView) -> Option<Value> {
    langfuse_prompt(view)?.remove("name")
}

pub fn prompt_version(view: &SpanView) -> Option<Value> {
    langfuse_prompt(view)?.remove("version")
}
