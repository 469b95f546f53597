//! Firebase Genkit (scope `genkit-tracer`): `genkit:*` attributes holding JSON documents.
//! Reference langfuse-otel.md §3.4–3.11.

use serde_json::{Map, Value};

use crate::convert::vocab::content::Io;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

pub const SCOPE: &str = "genkit-tracer";

/// `genkit:metadata:subtype` → type (§3.4 prio 4).
pub const SUBTYPES: &[(&str, &str)] = &[
    ("background-model", "GENERATION"),
    ("model", "GENERATION"),
    ("embedder", "EMBEDDING"),
    ("tool", "TOOL"),
    ("tool.v2", "TOOL"),
    ("retriever", "RETRIEVER"),
    ("evaluator", "EVALUATOR"),
];

/// `genkit:name` names the action (`openai/gpt-5-mini`, a flow name) whenever the key is set.
pub fn name(view: &SpanView) -> Option<Value> {
    view.attrs
        .get("genkit:name")
        .map(|v| Value::String(value::into_text(v)))
}

/// On model actions the action name is the model.
pub fn model_name(view: &SpanView) -> Option<Value> {
    (view.attrs.str("genkit:metadata:subtype") == Some("model"))
        .then(|| name(view))
        .flatten()
}

fn document(view: &SpanView, key: &str) -> Option<Map<String, Value>> {
    view.attrs.get(key).and_then(|v| value::as_object(&v))
}

/// §3.9 rule 2: the request's `messages` in, the response's `message` out (whole documents
/// when those keys are absent). Returns even when both are empty, as Langfuse does.
pub fn io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let side = |key: &str, inner: &str| {
        let raw = view.attrs.present(key)?;
        Some(match value::json_or_self(&raw) {
            Value::Object(mut o) => o.remove(inner).unwrap_or(Value::Object(o)),
            other => other,
        })
    };
    Some(Io {
        input: side("genkit:input", "messages"),
        output: side("genkit:output", "message"),
    })
}

/// §3.11 rule 2: `genkit:output.usage`; Gemini's thoughts are reasoning, inside output.
pub fn usage(view: &SpanView) -> Option<Vec<(String, Value)>> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let usage = match document(view, "genkit:output")?.remove("usage")? {
        Value::Object(u) => u,
        _ => return None,
    };
    let get = |k: &str| usage.get(k).and_then(value::as_f64);
    let thoughts = get("thoughtsTokens");
    let mut out = Vec::new();
    if let Some(i) = get("inputTokens") {
        out.push(("input".to_owned(), Value::from(i)));
    }
    if let Some(o) = get("outputTokens") {
        out.push((
            "output".to_owned(),
            Value::from((o - thoughts.unwrap_or(0.0)).max(0.0)),
        ));
    }
    if let Some(t) = get("totalTokens") {
        out.push(("total".to_owned(), Value::from(t)));
    }
    if let Some(t) = thoughts {
        out.push(("output_reasoning".to_owned(), Value::from(t)));
    }
    Some(out)
}

/// §3.10 rule 2: the request config.
pub fn model_parameters(view: &SpanView) -> Option<Map<String, Value>> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let from_input = document(view, "genkit:input").and_then(|mut d| d.remove("config"));
    let from_output = || {
        document(view, "genkit:output")
            .and_then(|mut d| d.remove("request"))
            .and_then(|r| r.get("config").cloned())
    };
    match from_input.or_else(from_output)? {
        Value::Object(o) => Some(o),
        _ => None,
    }
}
