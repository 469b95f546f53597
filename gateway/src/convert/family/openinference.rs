//! OpenInference (Arize Phoenix and the LlamaIndex / LangChain / DSPy / smolagents / Agno
//! instrumentations): `openinference.span.kind`, `input.value` / `output.value`,
//! indexed `llm.input_messages.*`, `llm.token_count.*`, `retrieval.documents.*`. genai-semconv §3.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::unflatten;
use crate::convert::vocab::view::SpanView;

/// `openinference.span.kind` → type (§3.4 prio 2). RERANKER, PROMPT and unknown kinds fall
/// through.
pub const SPAN_KINDS: &[(&str, &str)] = &[
    ("CHAIN", "CHAIN"),
    ("RETRIEVER", "RETRIEVER"),
    ("LLM", "GENERATION"),
    ("EMBEDDING", "EMBEDDING"),
    ("AGENT", "AGENT"),
    ("TOOL", "TOOL"),
    ("GUARDRAIL", "GUARDRAIL"),
    ("EVALUATOR", "EVALUATOR"),
];

/// Span kinds whose token counts are their children's, summed (smolagents puts the run's
/// `llm.token_count.*` on its AGENT span): counting them again double-counts tokens
/// (semconv §8.5), so they are kept as roll-up usage in metadata.
const ROLLUP_KINDS: &[&str] = &["AGENT", "CHAIN"];

/// Whether an OpenInference span's usage is a roll-up of its children's.
pub fn is_rollup(view: &SpanView) -> bool {
    view.attrs
        .str("openinference.span.kind")
        .is_some_and(|kind| ROLLUP_KINDS.contains(&kind))
}

/// A TOOL span's `tool.name` names the observation (beyond Langfuse): smolagents names the
/// span after the tool's class (`SimpleTool`, `FinalAnswerTool`), LlamaIndex after the call.
pub fn tool_name(view: &SpanView) -> Option<Value> {
    (view.attrs.str("openinference.span.kind") == Some("TOOL"))
        .then(|| view.attrs.present("tool.name"))
        .flatten()
}

/// The LlamaIndex instrumentation's scope: its LLM spans render the call into `input.value`
/// / `output.value` (a list of Python reprs in, `"assistant: None"` out for a tool call).
const LLAMA_INDEX_SCOPE: &str = "openinference.instrumentation.llama_index";

/// LlamaIndex LLM spans: the indexed `llm.input_messages.*` / `llm.output_messages.*` (the
/// messages and the tool calls) before `input.value` / `output.value` (beyond Langfuse, whose
/// rule 14 reads the values first). Only that scope: the other OpenInference instrumentations
/// (OpenAI, LangChain) put the real request and response JSON in the values. A side without
/// indexed messages keeps its value.
pub fn llama_index_messages_io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != LLAMA_INDEX_SCOPE
        || view.attrs.str("openinference.span.kind") != Some("LLM")
    {
        return None;
    }
    let indexed = indexed_messages_io(view)?;
    Some(Io {
        input: indexed.input.or_else(|| view.attrs.present("input.value")),
        output: indexed
            .output
            .or_else(|| view.attrs.present("output.value")),
    })
}

/// Rule 19: `llm.input_messages.N.message.*` / `llm.output_messages.N.message.*` rebuilt into
/// arrays (the `message` wrapper level is kept, as Langfuse keeps it).
pub fn indexed_messages_io(view: &SpanView) -> Option<Io> {
    let input = unflatten::rebuild(view.attrs.with_prefix("llm.input_messages."));
    let output = unflatten::rebuild(view.attrs.with_prefix("llm.output_messages."));
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// A retriever's output: `retrieval.documents.N.document.{id,content,score,metadata}` rebuilt
/// into an array (beyond Langfuse, which leaves retriever output empty).
pub fn retrieval_documents(view: &SpanView) -> Option<Value> {
    let documents = unflatten::rebuild(view.attrs.with_prefix("retrieval.documents."))?;
    match documents {
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut o) => o.remove("document").unwrap_or(Value::Object(o)),
                    other => other,
                })
                .collect(),
        )),
        other => Some(other),
    }
}
