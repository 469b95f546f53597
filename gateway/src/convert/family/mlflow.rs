//! MLflow tracing: every attribute value is JSON-encoded (strings arrive double-quoted), span
//! types in `mlflow.spanType`. Langfuse reads only `mlflow.spanInputs` / `mlflow.spanOutputs`;
//! the rest here is beyond Langfuse. genai-semconv §5.

use serde_json::Value;

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

/// A JSON-encoded MLflow string attribute, decoded once.
fn decoded(view: &SpanView, key: &str) -> Option<Value> {
    view.attrs.present(key).map(|v| value::json_or_self(&v))
}

pub fn span_type(view: &SpanView) -> Option<&'static str> {
    let kind = decoded(view, "mlflow.spanType")?;
    let kind = kind.as_str()?;
    SPAN_TYPES.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t)
}

pub fn model_name(view: &SpanView) -> Option<Value> {
    decoded(view, "mlflow.llm.model").filter(Value::is_string)
}
