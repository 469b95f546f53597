//! Model parameters (reference §3.10): an ordered list of sources, each yielding an object;
//! values are kept as strings or numbers, anything else becomes JSON text (Langfuse's
//! `modelParameters` is `Record<string, string | number>`).

use serde_json::{Map, Value};

use crate::convert::family::{genkit, vercel};
use crate::convert::vocab::rules::ParamSource::{self, Blob, Derived, Prefixed};
use crate::convert::vocab::view::SpanView;

/// First non-empty wins. The Vercel rule overlays the Langfuse blob, so the blob is not
/// first on `ai` spans (Langfuse returns it directly elsewhere).
pub const MODEL_PARAMETERS: &[ParamSource] = &[
    Derived(langfuse_blob),
    Derived(genkit::model_parameters),
    Derived(vercel::model_parameters),
    Blob("llm.invocation_parameters"),
    Blob("model_config"),
    Blob("embedding.invocation_parameters"), // beyond Langfuse
    Blob("model_request_parameters"),        // beyond Langfuse: pydantic-ai
    Prefixed(
        &["gen_ai.request.", "llm.invocation_parameters."],
        &["model"],
    ),
];

/// `langfuse.observation.model.parameters`, except on `ai` spans where the Vercel rule
/// overlays it.
fn langfuse_blob(view: &SpanView) -> Option<Map<String, Value>> {
    (view.scope_name() != vercel::SCOPE)
        .then(|| Blob("langfuse.observation.model.parameters").read(view))
        .flatten()
}

/// The parameter object as JSON text, `""` when there is none.
pub fn model_parameters(view: &SpanView) -> String {
    let Some(params) = MODEL_PARAMETERS
        .iter()
        .find_map(|s| s.read(view).filter(|m| !m.is_empty()))
    else {
        return String::new();
    };
    let params: Map<String, Value> = params
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| match v {
            Value::String(_) | Value::Number(_) => (k, v),
            other => (k, Value::String(other.to_string())),
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        Value::Object(params).to_string()
    }
}
