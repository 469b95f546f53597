//! LiveKit Agents (scope `livekit-agents`): span names give the type, internal pipeline spans
//! are DEBUG, `lk.*` attributes hold the text in and out. Reference langfuse-otel.md §3.4,
//! §3.6, §3.9.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

const SCOPE: &str = "livekit-agents";

/// LiveKit span names → type (§3.4 prio 9); only within LiveKit's scope.
pub fn span_type(view: &SpanView) -> Option<&'static str> {
    if view.scope_name() != SCOPE {
        return None;
    }
    match view.span.name.as_str() {
        "agent_turn" | "start_agent_activity" => Some("AGENT"),
        "function_tool" => Some("TOOL"),
        _ => None,
    }
}

/// LiveKit's internal pipeline spans are noise for most users: DEBUG (§3.6).
const DEBUG_SPANS: &[&str] = &[
    "user_speaking",
    "eou_detection",
    "llm_request_run",
    "tts_node",
    "tts_request",
    "tts_request_run",
    "tts_stream_adapter",
    "agent_speaking",
    "drain_agent_activity",
    "on_exit",
    "on_enter",
    "llm_fallback_adapter",
    "tts_fallback_adapter",
    "start_agent_activity",
];

/// DEBUG for LiveKit's internal pipeline spans (§3.6).
pub fn level(view: &SpanView) -> Option<Value> {
    (view.scope_name() == SCOPE && DEBUG_SPANS.contains(&view.span.name.as_str()))
        .then(|| Value::String("DEBUG".into()))
}

/// §3.9 rule 10: LiveKit text in / out.
pub fn io(view: &SpanView) -> Option<Io> {
    let input = ["lk.input_text", "lk.user_transcript", "lk.chat_ctx"]
        .iter()
        .find_map(|k| view.attrs.present(k));
    let output = view
        .attrs
        .get("lk.function_tool.output")
        .filter(value::is_truthy)
        .or_else(|| view.attrs.present("lk.response.text"));
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}
