//! Logfire and pydantic-ai (scope `pydantic-ai`): `logfire.msg` names, `events` /
//! `all_messages_events` content, `pydantic_ai.all_messages` + `final_result`. genai-semconv §5.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::messages;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

pub const PYDANTIC_AI_SCOPE: &str = "pydantic-ai";

/// `logfire.level_num` (Logfire's numbers: warn 13, error 17) → level; beyond Langfuse.
pub fn level(view: &SpanView) -> Option<Value> {
    let n = view
        .attrs
        .get("logfire.level_num")
        .and_then(|v| value::as_f64(&v))?;
    let level = if n >= 17.0 {
        "ERROR"
    } else if n >= 13.0 {
        "WARNING"
    } else if n < 9.0 {
        "DEBUG"
    } else {
        return None;
    };
    Some(Value::String(level.into()))
}

/// §3.9 rule 11: Logfire's `events` attribute (array, or JSON text of one): every entry but the
/// `gen_ai.choice` one is input; the choice is output.
pub fn events_io(view: &SpanView) -> Option<Io> {
    let events = match value::json_or_self(&view.attrs.present("events")?) {
        Value::Array(items) => items,
        _ => return None,
    };
    let is_choice =
        |e: &Value| e.get("event.name").and_then(Value::as_str) == Some("gen_ai.choice");
    let output = events.iter().find(|e| is_choice(e)).cloned();
    let input: Vec<Value> = events.into_iter().filter(|e| !is_choice(e)).collect();
    let input = (!input.is_empty()).then_some(Value::Array(input));
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// §3.9 rule 16 (scope `pydantic-ai`): the full conversation in, `final_result` out, with the
/// agent's system instructions prepended when the conversation has no system message.
pub fn pydantic_ai_io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != PYDANTIC_AI_SCOPE {
        return None;
    }
    let input = view.attrs.present("pydantic_ai.all_messages").map(|m| {
        messages::with_system_instructions(m, view.attrs.present("gen_ai.system_instructions"))
    });
    let output = view.attrs.present("final_result");
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// pydantic-ai's agent run span (`<agent> run`, no chat operation) carries the summed usage of
/// its model requests: a roll-up (genai-semconv §8.5).
pub fn is_rollup(view: &SpanView) -> bool {
    view.scope_name() == PYDANTIC_AI_SCOPE
        && (view.attrs.contains("agent_name") || view.attrs.contains("gen_ai.agent.name"))
        && !matches!(
            view.attrs.str("gen_ai.operation.name"),
            Some("chat" | "execute_tool")
        )
}
