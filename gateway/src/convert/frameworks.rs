//! Smaller framework conventions Langfuse special-cases: LiveKit Agents (scope
//! `livekit-agents`), Flue (scope `@flue/opentelemetry`) and Google ADK (scope
//! `gcp.vertex.agent`). Reference langfuse-otel.md §3.4, §3.6, §3.9.

use serde_json::Value;

use super::io::Io;
use super::value;
use super::view::SpanView;

const LIVEKIT_SCOPE: &str = "livekit-agents";
const FLUE_SCOPE: &str = "@flue/opentelemetry";
const GOOGLE_ADK_SCOPE: &str = "gcp.vertex.agent";

/// LiveKit span names → type (§3.4 prio 9); only within LiveKit's scope.
pub fn livekit_type(view: &SpanView) -> Option<&'static str> {
    if view.scope_name() != LIVEKIT_SCOPE {
        return None;
    }
    match view.span.name.as_str() {
        "agent_turn" | "start_agent_activity" => Some("AGENT"),
        "function_tool" => Some("TOOL"),
        _ => None,
    }
}

/// LiveKit's internal pipeline spans are noise for most users: DEBUG (§3.6).
const LIVEKIT_DEBUG_SPANS: &[&str] = &[
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

pub fn livekit_level(view: &SpanView) -> Option<Value> {
    (view.scope_name() == LIVEKIT_SCOPE && LIVEKIT_DEBUG_SPANS.contains(&view.span.name.as_str()))
        .then(|| Value::String("DEBUG".into()))
}

/// §3.9 rule 10: LiveKit text in / out.
pub fn livekit_io(view: &SpanView) -> Option<Io> {
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

/// Flue tool calls are tools, tasks are agents (§3.4 prio 8).
pub fn flue_type(view: &SpanView) -> Option<&'static str> {
    let a = &view.attrs;
    if a.present("flue.tool.name").is_some() || a.present("flue.tool.call_id").is_some() {
        Some("TOOL")
    } else if a.present("flue.task.id").is_some() || a.present("flue.task.agent").is_some() {
        Some("AGENT")
    } else {
        None
    }
}

/// §3.9 rule 4 (scope `@flue/opentelemetry`), values JSON-parsed when possible.
pub fn flue_io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != FLUE_SCOPE {
        return None;
    }
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| view.attrs.present(k))
            .map(|v| value::json_or_self(&v))
    };
    let input = first(&[
        "flue.turn.input",
        "flue.tool.arguments",
        "flue.task.prompt",
        "flue.workflow.payload",
    ]);
    let output = first(&[
        "flue.turn.output",
        "flue.tool.result",
        "flue.task.result",
        "flue.operation.result",
        "flue.workflow.result",
    ]);
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// §3.9 rule 8: Google ADK's request/response blobs, else its tool call blobs (`"{}"` counts
/// as empty).
pub fn google_adk_io(view: &SpanView) -> Option<Io> {
    let get = |k: &str| view.attrs.present(k).filter(|v| v.as_str() != Some("{}"));
    let input =
        get("gcp.vertex.agent.llm_request").or_else(|| get("gcp.vertex.agent.tool_call_args"));
    let output =
        get("gcp.vertex.agent.llm_response").or_else(|| get("gcp.vertex.agent.tool_response"));
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// Google ADK reports cached prompt tokens only inside its response blob.
pub fn google_adk_cached_tokens(view: &SpanView) -> Option<Value> {
    if view.scope_name() != GOOGLE_ADK_SCOPE {
        return None;
    }
    let response = value::as_object(&view.attrs.present("gcp.vertex.agent.llm_response")?)?;
    response
        .get("usage_metadata")?
        .get("cached_content_token_count")
        .cloned()
}
