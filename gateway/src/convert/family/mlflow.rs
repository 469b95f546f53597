//! MLflow tracing: every attribute value is JSON-encoded (strings arrive double-quoted), span
//! types in `mlflow.spanType`. Langfuse reads only `mlflow.spanInputs` / `mlflow.spanOutputs`;
//! the rest here is beyond Langfuse. genai-semconv §5.

use serde_json::{Map, Value};

use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// `mlflow.spanType` (JSON-decoded) → type.
const SPAN_TYPES: &[(&str, &str)] = &[
    ("LLM", "GENERATION"),
    ("CHAT_MODEL", "GENERATION"),
    ("EMBEDDING", "EMBEDDING"),
    ("RETRIEVER", "RETRIEVER"),
    ("RERANKER", "RETRIEVER"),
    ("TOOL", "TOOL"),
    ("AGENT", "AGENT"),
    ("CHAIN", "CHAIN"),
];

/// Whether a span is MLflow's: its tracer's scope, or the attribute MLflow puts on every span.
/// Only these spans' attribute values are JSON-decoded (never guessed for other clients).
pub fn is_mlflow(view: &SpanView) -> bool {
    view.scope_name().starts_with("mlflow") || view.attrs.contains("mlflow.spanType")
}

/// A JSON-encoded MLflow string attribute, decoded once.
fn decoded(view: &SpanView, key: &str) -> Option<Value> {
    view.attrs.present(key).map(|v| value::json_or_self(&v))
}

pub fn span_type(view: &SpanView) -> Option<&'static str> {
    let kind = decoded(view, "mlflow.spanType")?;
    let kind = kind.as_str()?;
    SPAN_TYPES.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t)
}

/// The model: `mlflow.llm.model`, else the request's `model` attribute, both JSON-decoded
/// (read before the generic `model` source, which would keep MLflow's quotes and miss every
/// price).
pub fn model_name(view: &SpanView) -> Option<Value> {
    if !is_mlflow(view) {
        return None;
    }
    ["mlflow.llm.model", "model"]
        .iter()
        .find_map(|k| decoded(view, k).filter(Value::is_string))
}

/// `mlflow.chat.tokenUsage` (`{input_tokens, output_tokens, total_tokens}`, JSON text) as
/// usage (`input` / `output` / `total`; other keys kept as sent). MLflow's autologging sets it
/// on chat spans; left alone it stays in metadata and the span has no usage or cost.
pub fn usage(view: &SpanView) -> Option<Map<String, Value>> {
    if !is_mlflow(view) {
        return None;
    }
    let Value::Object(raw) = decoded(view, "mlflow.chat.tokenUsage")? else {
        return None;
    };
    let bucket = |k: &str| match k {
        "input_tokens" => "input".to_owned(),
        "output_tokens" => "output".to_owned(),
        "total_tokens" => "total".to_owned(),
        other => other.to_owned(),
    };
    Some(raw.into_iter().map(|(k, v)| (bucket(&k), v)).collect())
}
