//! OpenTelemetry GenAI semantic conventions (`gen_ai.*`, semconv 1.26 → latest), as span
//! attributes and as span events. genai-semconv.md §1, §7–8.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::messages::{
    CHOICE_EVENT, choices_output, concat_lists, message_event_role, messages_io_from,
    messages_io_parts, role_message,
};
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// `gen_ai.operation.name` → observation type. Langfuse's table (§3.4 prio 3) plus the
/// operations of newer semconv it does not map (retrieval, search, workflows).
pub const OPERATION_TYPES: &[(&str, &str)] = &[
    ("chat", "GENERATION"),
    ("completion", "GENERATION"),
    ("text_completion", "GENERATION"),
    ("generate_content", "GENERATION"),
    ("generate", "GENERATION"),
    ("embeddings", "EMBEDDING"),
    ("invoke_agent", "AGENT"),
    ("create_agent", "AGENT"),
    ("execute_tool", "TOOL"),
    ("retrieval", "RETRIEVER"),     // beyond Langfuse: semconv 1.37+
    ("search_memory", "RETRIEVER"), // beyond Langfuse
    ("invoke_workflow", "CHAIN"),   // beyond Langfuse
];

/// Operations whose usage is a roll-up of their children (Vercel v7 agents, pydantic-ai,
/// OpenAI Agents): counting it again double-counts tokens and cost (§3.10, semconv §8.5).
pub const ROLLUP_OPERATIONS: &[&str] = &["invoke_agent", "agent_step", "invoke_workflow"];

/// `gen_ai.tool.name` as the observation name; Langfuse JSON-stringifies non-strings.
pub fn tool_name(view: &SpanView) -> Option<Value> {
    view.attrs
        .present("gen_ai.tool.name")
        .map(|v| Value::String(value::into_text(v)))
}

/// A span that names a tool call is a TOOL (§3.4 prio 7).
pub fn tool_call_type(view: &SpanView) -> Option<&'static str> {
    let named = view.attrs.present("gen_ai.tool.name").is_some()
        || view.attrs.present("gen_ai.tool.call.id").is_some();
    named.then_some("TOOL")
}

/// The agent's name on a root `invoke_agent` span names the trace (beyond Langfuse).
pub fn root_agent_name(view: &SpanView) -> Option<Value> {
    (view.attrs.str("gen_ai.operation.name") == Some("invoke_agent"))
        .then(|| view.attrs.present("gen_ai.agent.name"))
        .flatten()
}

/// The `exception` span event's message (OTel exception semconv), for failed spans whose
/// status carries no message.
pub fn exception_message(view: &SpanView) -> Option<Value> {
    let event = view.events.iter().find(|e| e.name == "exception")?;
    event
        .attrs
        .present("exception.message")
        .or_else(|| event.attrs.present("exception.type"))
}

/// Time to first chunk in seconds after the span start (semconv 1.38+ and Vercel v7 /
/// pydantic-ai `gen_ai.client.operation.time_to_first_chunk`), else the time of the AI SDK's
/// `ai.stream.firstChunk` event, as µs.
pub fn completion_start_time(view: &SpanView) -> Option<Value> {
    let seconds = [
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.client.operation.time_to_first_chunk",
    ]
    .iter()
    .find_map(|k| view.attrs.get(k).and_then(|v| value::as_f64(&v)));
    let start_us = (view.span.start_time_unix_nano / 1000) as i64;
    if let Some(seconds) = seconds.filter(|s| *s >= 0.0 && start_us > 0) {
        // Saturating: a hostile `1e300` seconds must not overflow (`as` saturates the product).
        let offset_us = (seconds * 1e6).round() as i64;
        return Some(Value::from(start_us.saturating_add(offset_us)));
    }
    let event = view
        .events
        .iter()
        .find(|e| e.name == "ai.stream.firstChunk")?;
    (event.time_unix_nano > 0).then(|| Value::from((event.time_unix_nano / 1000) as i64))
}

/// Rule 20: GenAI content on the span itself (semconv ≥ 1.37 `span_only` mode).
pub fn messages_io(view: &SpanView) -> Option<Io> {
    messages_io_from(&view.attrs)
}

/// The semconv ≥ 1.37 event that carries a span's content (`span_and_event` mode).
pub const OPERATION_DETAILS_EVENT: &str = "gen_ai.client.inference.operation.details";

/// Rule 5: `gen_ai.client.inference.operation.details` span events carry the attributes of
/// rule 20. A span may have several (Strands: system instructions, input messages and output
/// messages each in an event of its own; an agent loop one input event per turn): each list
/// is merged over all of them in event order ([`concat_lists`]); the span's own
/// `gen_ai.system_instructions` is used when no event has them. A tool span's own
/// `gen_ai.tool.call.arguments` / `.result` win (its events only repeat them as messages), so
/// this rule yields nothing there and rule 20 reads them.
pub fn operation_details_event_io(view: &SpanView) -> Option<Io> {
    let events: Vec<_> = view
        .events
        .iter()
        .filter(|e| e.name == OPERATION_DETAILS_EVENT)
        .collect();
    if events.is_empty() {
        return None;
    }
    let tool_call = ["gen_ai.tool.call.arguments", "gen_ai.tool.call.result"]
        .iter()
        .any(|k| view.attrs.present(k).is_some());
    if tool_call {
        return None;
    }
    let merged =
        |key: &str| concat_lists(events.iter().filter_map(|e| e.attrs.present(key)).collect());
    let instructions = merged("gen_ai.system_instructions")
        .or_else(|| view.attrs.present("gen_ai.system_instructions"));
    messages_io_parts(
        merged("gen_ai.input.messages"),
        merged("gen_ai.output.messages"),
        instructions,
    )
}

/// Rule 6: semconv 1.28–1.36 message events. Each `gen_ai.{system,user,assistant,tool}.message`
/// becomes `{role, ...attributes}`; `gen_ai.choice` events are the output (one object, or an
/// array when several). The same events as OTLP log records: `convert::logs`.
pub fn message_events_io(view: &SpanView) -> Option<Io> {
    let mut input = Vec::new();
    let mut choices = Vec::new();
    for event in &view.events {
        if event.name == CHOICE_EVENT {
            choices.push(Value::Object(event.attrs.to_object()));
        } else if let Some(role) = message_event_role(event.name) {
            input.push(role_message(role, event.attrs.to_object()));
        }
    }
    let input = (!input.is_empty()).then_some(Value::Array(input));
    let output = choices_output(choices);
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// Rule 7: legacy `gen_ai.content.prompt` / `gen_ai.content.completion` events (Semantic
/// Kernel, OpenLIT) carry `gen_ai.prompt` / `gen_ai.completion`; an event without that key
/// contributes its whole attribute object, as Langfuse's recursive extraction does.
pub fn deprecated_content_events_io(view: &SpanView) -> Option<Io> {
    let find = |name: &str, key: &str| {
        let event = view.events.iter().find(|e| e.name == name)?;
        event.attrs.present(key).or_else(|| {
            let object = event.attrs.to_object();
            (!object.is_empty()).then_some(Value::Object(object))
        })
    };
    let input = find("gen_ai.content.prompt", "gen_ai.prompt");
    let output = find("gen_ai.content.completion", "gen_ai.completion");
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// Retrieved documents of a semconv `retrieval` span (`gen_ai.retrieval.documents`).
pub fn retrieval_documents(view: &SpanView) -> Option<Value> {
    view.attrs.present("gen_ai.retrieval.documents")
}
