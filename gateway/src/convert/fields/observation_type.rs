//! Observation type (reference §3.4): mappers in priority order, the first that applies wins,
//! default SPAN. Types are Langfuse's upper-case names.

use crate::convert::family::{
    flue, genai, genkit, langfuse, livekit, mlflow, openinference, openllmetry, vercel,
};
use crate::convert::vocab::rules::TypeRule::{self, Derived, Lookup};
use crate::convert::vocab::view::SpanView;

/// Langfuse's order, with our additions placed before the model-based fallback so that an
/// explicit marker beats "has a model attribute".
pub const TYPE: &[TypeRule] = &[
    Derived(langfuse::python_sdk_v330_generation),
    Lookup("langfuse.observation.type", langfuse::OBSERVATION_TYPES),
    Lookup("openinference.span.kind", openinference::SPAN_KINDS),
    Lookup("gen_ai.operation.name", genai::OPERATION_TYPES),
    Lookup("genkit:metadata:subtype", genkit::SUBTYPES),
    Derived(vercel::generation_type),
    Derived(vercel::tool_call_type),
    Derived(genai::tool_call_type),
    Derived(flue::span_type),
    Derived(livekit::span_type),
    Lookup("traceloop.span.kind", openllmetry::SPAN_KINDS), // beyond Langfuse
    Lookup("llm.request.type", openllmetry::REQUEST_TYPES), // beyond Langfuse
    Derived(mlflow::span_type),                             // beyond Langfuse
    Derived(model_present),
];

/// Model attributes that make an otherwise unmarked span a generation (§3.4 prio 10).
const MODEL_KEYS: &[&str] = &[
    "langfuse.observation.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "model",
];

fn model_present(view: &SpanView) -> Option<&'static str> {
    MODEL_KEYS
        .iter()
        .any(|k| view.attrs.present(k).is_some())
        .then_some("GENERATION")
}

/// The observation type of a span.
pub fn observation_type(view: &SpanView) -> &'static str {
    TYPE.iter()
        .find_map(|rule| rule.read(view))
        .unwrap_or("SPAN")
}

/// Types that may carry a linked prompt (Langfuse links prompts to generations only).
pub fn links_prompt(kind: &str) -> bool {
    kind == "GENERATION"
}
