//! OpenLLMetry / Traceloop: indexed `gen_ai.prompt.N.*` / `gen_ai.completion.N.*` (the most
//! common shape in the wild 2024–2025), `llm.*` extras and `traceloop.*`. genai-semconv §1.6, §2.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::unflatten;
use crate::convert::vocab::view::SpanView;

/// `traceloop.span.kind` (beyond Langfuse, which has no mapping for it). `task` is a plain
/// span: it must not fall through to the model-based GENERATION fallback.
pub const SPAN_KINDS: &[(&str, &str)] = &[
    ("workflow", "CHAIN"),
    ("task", "SPAN"),
    ("agent", "AGENT"),
    ("tool", "TOOL"),
];

/// `llm.request.type` (beyond Langfuse): OpenLLMetry's own operation marker.
pub const REQUEST_TYPES: &[(&str, &str)] = &[
    ("chat", "GENERATION"),
    ("completion", "GENERATION"),
    ("embedding", "EMBEDDING"),
];

/// Rule 18: the indexed prompt/completion attributes rebuilt into arrays of messages
/// (`gen_ai.prompt.0.role` + `gen_ai.prompt.0.content` → `[{role, content}]`). A bare
/// `gen_ai.prompt` / `gen_ai.completion` key wins as is (OpenLIT, OpenRouter).
pub fn indexed_prompt_io(view: &SpanView) -> Option<Io> {
    let side = |key: &str, prefix: &str| {
        view.attrs
            .present(key)
            .or_else(|| unflatten::rebuild(view.attrs.with_prefix(prefix)))
    };
    let input = side("gen_ai.prompt", "gen_ai.prompt.");
    let output = side("gen_ai.completion", "gen_ai.completion.");
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// `traceloop.association.properties.<k>` become user metadata (except the user and session
/// ids, which have their own columns). Beyond Langfuse.
pub fn association_properties(view: &SpanView) -> Vec<(String, Value)> {
    view.attrs
        .with_prefix("traceloop.association.properties.")
        .filter(|(k, _)| *k != "user_id" && *k != "session_id")
        .map(|(k, v)| (k.to_owned(), crate::convert::vocab::value::to_json(v)))
        .collect()
}
