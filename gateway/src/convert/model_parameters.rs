//! Model parameters (reference §3.10): an ordered list of sources, each yielding an object;
//! values are kept as strings or numbers, anything else becomes JSON text (Langfuse's
//! `modelParameters` is `Record<string, string | number>`).

use serde_json::{Map, Value};

use super::view::SpanView;
use super::{genkit, value, vercel};

/// One source of a parameter object.
pub enum ParamSource {
    /// A JSON object (or JSON text of one) in one attribute.
    Blob(&'static str),
    /// Every attribute under a prefix, prefix stripped, except the listed keys.
    Prefixed(&'static [&'static str], &'static [&'static str]),
    Derived(fn(&SpanView) -> Option<Map<String, Value>>),
}

use ParamSource::{Blob, Derived, Prefixed};

/// First non-empty wins. The Vercel rule overlays the Langfuse blob, so the blob is not
/// first on `ai` spans (Langfuse returns it directly elsewhere).
pub const MODEL_PARAMETERS: &[ParamSource] = &[
    Derived(langfuse_blob),
    Derived(genkit::model_parameters),
    Derived(vercel_parameters),
    Blob("llm.invocation_parameters"),
    Blob("model_config"),
    Blob("embedding.invocation_parameters"), // beyond Langfuse
    Blob("model_request_parameters"),        // beyond Langfuse: pydantic-ai
    Prefixed(
        &["gen_ai.request.", "llm.invocation_parameters."],
        &["model"],
    ),
];

fn blob(view: &SpanView, key: &str) -> Option<Map<String, Value>> {
    view.attrs.get(key).and_then(|v| value::as_object(&v))
}

fn langfuse_blob(view: &SpanView) -> Option<Map<String, Value>> {
    (view.scope_name() != vercel::SCOPE)
        .then(|| blob(view, "langfuse.observation.model.parameters"))
        .flatten()
}

/// Scope `ai`: a synthesised parameter set, overlaid with `langfuse.observation.model.parameters`.
fn vercel_parameters(view: &SpanView) -> Option<Map<String, Value>> {
    if view.scope_name() != vercel::SCOPE {
        return None;
    }
    let a = &view.attrs;
    let first = |keys: &[&str]| keys.iter().find_map(|k| a.present(k));
    let fields: [(&str, Option<Value>); 9] = [
        ("maxSteps", first(&["ai.settings.maxSteps"])),
        ("toolChoice", first(&["ai.prompt.toolChoice"])),
        ("maxTokens", first(&["gen_ai.request.max_tokens"])),
        (
            "finishReason",
            first(&["gen_ai.response.finish_reasons", "gen_ai.finishReason"]),
        ),
        ("system", first(&["gen_ai.system", "ai.model.provider"])),
        ("maxRetries", first(&["ai.settings.maxRetries"])),
        ("mode", first(&["ai.settings.mode"])),
        ("temperature", first(&["gen_ai.request.temperature"])),
        (
            "service_tier",
            first(&[
                "ai.response.providerMetadata.openai.serviceTier",
                "gen_ai.request.service_tier",
            ]),
        ),
    ];
    let mut out: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), Value::String(value::into_text(v)))))
        .collect();
    if let Some(overlay) = blob(view, "langfuse.observation.model.parameters") {
        out.extend(overlay);
    }
    Some(out)
}

impl ParamSource {
    fn read(&self, view: &SpanView) -> Option<Map<String, Value>> {
        match self {
            Blob(key) => blob(view, key),
            Prefixed(prefixes, except) => {
                let mut out = Map::new();
                for prefix in *prefixes {
                    for (k, v) in view.attrs.with_prefix(prefix) {
                        if !except.contains(&k) && !out.contains_key(k) {
                            out.insert(k.to_owned(), value::to_json(v));
                        }
                    }
                }
                Some(out)
            }
            Derived(f) => f(view),
        }
    }
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
