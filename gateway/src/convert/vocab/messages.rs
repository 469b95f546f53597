//! GenAI message lists shared by several conventions: the `gen_ai.*` message attributes (rule
//! 20 of reference §3.9) are also the fallback of Vercel's `ai.*` spans, they appear inside span
//! events, and pydantic-ai prepends the same system instructions. Kept here so no convention
//! module imports another (genai-semconv §1, §4–5).

use serde_json::{Map, Value, json};

use super::content::Io;
use super::value;
use super::view::Attrs;

/// `gen_ai.system_instructions` as a system message: a string as is, a parts array as its
/// text parts joined (Langfuse prepends `{role: "system", content}`).
fn system_message(instructions: &Value) -> Option<Value> {
    let content = match value::json_or_self(instructions) {
        Value::Array(parts) => {
            let texts: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    Value::Object(o) => o.get("content").map(value::to_text).unwrap_or_default(),
                    other => value::to_text(other),
                })
                .filter(|t| !t.is_empty())
                .collect();
            texts.join("\n")
        }
        Value::String(s) => s,
        Value::Null => return None,
        other => other.to_string(),
    };
    (!content.is_empty()).then(|| json!({"role": "system", "content": content}))
}

/// Prepends the system instructions to a message list unless it already has a system message.
/// Returns the messages untouched (verbatim text) when nothing is prepended.
pub fn with_system_instructions(messages: Value, instructions: Option<Value>) -> Value {
    let Some(system) = instructions.as_ref().and_then(system_message) else {
        return messages;
    };
    match value::json_or_self(&messages) {
        Value::Array(mut list) => {
            let has_system = list
                .iter()
                .any(|m| m.get("role").and_then(Value::as_str) == Some("system"));
            if has_system {
                return messages;
            }
            list.insert(0, system);
            Value::Array(list)
        }
        _ => messages,
    }
}

/// Input and output from GenAI message lists: the input messages with the system instructions
/// prepended (or the instructions alone), the output messages. `None` when neither list is
/// there.
pub fn messages_io_parts(
    input: Option<Value>,
    output: Option<Value>,
    instructions: Option<Value>,
) -> Option<Io> {
    if input.is_none() && output.is_none() {
        return None;
    }
    let input = match input {
        Some(messages) => Some(with_system_instructions(messages, instructions)),
        None => instructions
            .as_ref()
            .and_then(system_message)
            .map(|s| Value::Array(vec![s])),
    };
    Some(Io { input, output })
}

/// Several occurrences of one message-list attribute (one per event), in order, as one list:
/// a single occurrence is returned verbatim; several are concatenated (JSON arrays
/// flattened, anything else one entry). Strands sends a span's system instructions, input and
/// output in separate events, and an agent-loop span one input event per turn.
pub fn concat_lists(values: Vec<Value>) -> Option<Value> {
    if values.len() <= 1 {
        return values.into_iter().next();
    }
    let mut list = Vec::new();
    for v in values {
        match value::json_or_self(&v) {
            Value::Array(items) => list.extend(items),
            other => list.push(other),
        }
    }
    Some(Value::Array(list))
}

/// Rule 20 on any attribute set: `gen_ai.input.messages` (system instructions prepended) /
/// `gen_ai.output.messages`, else tool call arguments / result.
pub fn messages_io_from(attrs: &Attrs) -> Option<Io> {
    let input = attrs.present("gen_ai.input.messages");
    let output = attrs.present("gen_ai.output.messages");
    let instructions = attrs.present("gen_ai.system_instructions");
    if let Some(io) = messages_io_parts(input, output, instructions) {
        return Some(io);
    }
    let input = attrs.present("gen_ai.tool.call.arguments");
    let output = attrs.present("gen_ai.tool.call.result");
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// Semconv 1.28–1.36 per-message events and the role of the message each one carries. They
/// arrive as span events (attributes) or as OTLP log records (body); both build the same list.
pub const MESSAGE_EVENT_ROLES: &[(&str, &str)] = &[
    ("gen_ai.system.message", "system"),
    ("gen_ai.user.message", "user"),
    ("gen_ai.assistant.message", "assistant"),
    ("gen_ai.tool.message", "tool"),
];

/// The event of one completion choice (`{index, finish_reason, message}`).
pub const CHOICE_EVENT: &str = "gen_ai.choice";

/// The role a message event's name implies, None for other events.
pub fn message_event_role(event_name: &str) -> Option<&'static str> {
    MESSAGE_EVENT_ROLES
        .iter()
        .find(|(name, _)| *name == event_name)
        .map(|(_, role)| *role)
}

/// One message event as an input message: `{role, ...fields}`.
pub fn role_message(role: &str, fields: Map<String, Value>) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), Value::String(role.into()));
    message.extend(fields);
    Value::Object(message)
}

/// Choice events as the output: one choice is the object itself, several an array.
pub fn choices_output(mut choices: Vec<Value>) -> Option<Value> {
    match choices.len() {
        0 => None,
        1 => choices.pop(),
        _ => Some(Value::Array(choices)),
    }
}
