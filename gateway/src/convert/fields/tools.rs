//! Tool definitions and tool calls (Langfuse `extractToolsBackend.ts`, reference §3.9): the
//! tools offered to the model are found in metadata or attributes, removed there and merged
//! into the input (`{messages, tools}`), so the prompt is readable in one place; then the
//! `tool_definitions`, `tool_calls` and `tool_call_names` columns are filled.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde_json::{Value, json};

use super::metadata::Metadata;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// Attributes that hold the offered tools, first present wins.
const DEFINITION_ATTRS: &[&str] = &[
    "ai.prompt.tools",         // Vercel AI SDK (array of JSON strings)
    "gen_ai.tool.definitions", // GenAI semconv ≥ 1.37
];

/// A list of tool definitions from a value: an array (items may be JSON text, as Vercel sends
/// them) or JSON text of one.
fn definitions_from(raw: &Value) -> Vec<Value> {
    match value::json_or_self(raw) {
        Value::Array(items) => items
            .iter()
            .map(value::json_or_self)
            .filter(Value::is_object)
            .collect(),
        _ => Vec::new(),
    }
}

/// OpenInference `llm.tools.N.tool.json_schema`.
fn openinference_definitions(view: &SpanView) -> Vec<Value> {
    view.attrs
        .with_prefix("llm.tools.")
        .filter(|(k, _)| k.ends_with(".tool.json_schema"))
        .map(|(_, v)| value::json_or_self(&value::to_json(v)))
        .filter(Value::is_object)
        .collect()
}

/// pydantic-ai `model_request_parameters.function_tools`.
fn pydantic_ai_definitions(view: &SpanView) -> Vec<Value> {
    view.attrs
        .get("model_request_parameters")
        .and_then(|v| value::as_object(&v))
        .and_then(|mut o| o.remove("function_tools"))
        .map(|tools| definitions_from(&tools))
        .unwrap_or_default()
}

/// Finds the offered tools and removes them from `metadata` (its user `tools` key and the raw
/// attributes), so they are stored once, in the input.
pub fn take_definitions(view: &SpanView, metadata: &mut Metadata) -> Vec<Value> {
    let from_metadata = metadata
        .remove("tools")
        .map(|t| definitions_from(&t))
        .unwrap_or_default();
    metadata.remove_attributes(DEFINITION_ATTRS);
    if !from_metadata.is_empty() {
        return from_metadata;
    }
    let from_attrs = DEFINITION_ATTRS.iter().find_map(|k| {
        let found = definitions_from(&view.attrs.present(k)?);
        (!found.is_empty()).then_some(found)
    });
    from_attrs
        .or_else(|| Some(openinference_definitions(view)).filter(|d| !d.is_empty()))
        .unwrap_or_else(|| pydantic_ai_definitions(view))
}

/// Merges the tools into the input: a message list becomes `{messages, tools}`, an object gains
/// `tools`, any other input becomes `{prompt, tools}`.
pub fn merge_into_input(input: Option<Value>, tools: Vec<Value>) -> Option<Value> {
    if tools.is_empty() {
        return input;
    }
    let tools = Value::Array(tools);
    Some(match input.as_ref().map(value::json_or_self) {
        None | Some(Value::Null) => json!({ "tools": tools }),
        Some(Value::Array(messages)) => json!({ "messages": messages, "tools": tools }),
        Some(Value::Object(mut object)) => {
            object.insert("tools".into(), tools);
            Value::Object(object)
        }
        Some(other) => json!({ "prompt": other, "tools": tools }),
    })
}

/// `tool_definitions`: name → JSON `{description, parameters}`. Accepts the flat shape
/// (`{name, description, parameters | inputSchema}`) and OpenAI's `{function: {…}}` wrapper.
pub fn definitions_by_name(tools: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for tool in tools {
        let tool = tool
            .get("function")
            .filter(|f| f.is_object())
            .unwrap_or(tool);
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            continue;
        };
        let parameters = [
            "parameters",
            "inputSchema",
            "input_schema",
            "parameters_json_schema",
        ]
        .iter()
        .find_map(|k| tool.get(*k))
        .cloned()
        .unwrap_or(Value::Null);
        let description = tool.get("description").cloned().unwrap_or(Value::Null);
        out.insert(
            name.to_owned(),
            json!({"description": description, "parameters": parameters}).to_string(),
        );
    }
    out
}

/// What JSON text holding a tool call must contain (an escape may hide the others). Searched
/// with finders built once: completions are kilobytes of text.
static CALL_MARKERS: LazyLock<[Finder<'static>; 5]> =
    LazyLock::new(|| ["tool_call", "tool-call", "function", "toolUse", "\\u"].map(Finder::new));

/// Tool calls the model made, from the output: OpenAI `tool_calls`, GenAI `tool_call` parts,
/// Vercel `tool-call` items, OpenInference's rebuilt `tool_calls[].tool_call` (LlamaIndex),
/// Bedrock Converse `toolUse` blocks (Strands' default mode, whose message content is a JSON
/// string inside the event: such a string is parsed too). Returns (JSON `{id, arguments, type, index}`, name) pairs.
pub fn calls(output: Option<&Value>) -> Vec<(String, String)> {
    if let Some(Value::String(text)) = output
        && !CALL_MARKERS
            .iter()
            .any(|marker| marker.find(text.as_bytes()).is_some())
    {
        // No call can be in JSON text without one of these markers: skip parsing it.
        return Vec::new();
    }
    let mut found = Vec::new();
    if let Some(output) = output {
        collect_calls(&value::json_or_self(output), &mut found, 0);
    }
    found
        .into_iter()
        .enumerate()
        .map(|(index, (id, name, arguments, kind))| {
            let call = json!({"id": id, "arguments": value::to_text(&arguments), "type": kind, "index": index});
            (call.to_string(), name)
        })
        .collect()
}

type Call = (Value, String, Value, String);

fn collect_calls(node: &Value, out: &mut Vec<Call>, depth: usize) {
    if depth > 6 {
        return;
    }
    match node {
        Value::Array(items) => items.iter().for_each(|i| collect_calls(i, out, depth + 1)),
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            if kind == "tool_call" || kind == "tool-call" {
                let name = o
                    .get("name")
                    .or_else(|| o.get("toolName"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let id = o
                    .get("id")
                    .or_else(|| o.get("toolCallId"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let args = o
                    .get("arguments")
                    .or_else(|| o.get("input"))
                    .or_else(|| o.get("args"))
                    .cloned()
                    .unwrap_or(Value::Null);
                out.push((id, name.to_owned(), args, "function".into()));
            } else if let Some(function) = o.get("function").filter(|_| o.contains_key("id")) {
                let name = function.get("name").and_then(Value::as_str).unwrap_or("");
                let args = function.get("arguments").cloned().unwrap_or(Value::Null);
                let id = o.get("id").cloned().unwrap_or(Value::Null);
                out.push((
                    id,
                    name.to_owned(),
                    args,
                    if kind.is_empty() {
                        "function".into()
                    } else {
                        kind.to_owned()
                    },
                ));
            } else if let Some(Value::Object(block)) = o.get("toolUse") {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let id = block.get("toolUseId").cloned().unwrap_or(Value::Null);
                let args = block.get("input").cloned().unwrap_or(Value::Null);
                out.push((id, name.to_owned(), args, "function".into()));
            } else {
                for key in [
                    "tool_calls",
                    "tool_call",
                    "parts",
                    "content",
                    "message",
                    "messages",
                    "choices",
                ] {
                    if let Some(child) = o.get(key) {
                        collect_calls(child, out, depth + 1);
                    }
                }
            }
        }
        // Content that is itself JSON text (Strands: `message` holds the content blocks).
        Value::String(text) if text.starts_with('[') || text.starts_with('{') => {
            if let Some(parsed) = value::parse_json(text) {
                collect_calls(&parsed, out, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_with_escaped_keys_and_skipped_without_markers() {
        let plain = Value::String(
            r#"[{"role":"assistant","parts":[{"type":"text","content":"hi"}]}]"#.into(),
        );
        assert!(calls(Some(&plain)).is_empty());
        let part = r#"[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"search","arguments":{"q":"x"}}]}]"#;
        let found = calls(Some(&Value::String(part.into())));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "search");
        // A JSON escape can spell a marker differently: such text is still parsed.
        let escaped = part.replace("tool_call", r"tool\u005fcall");
        assert_eq!(calls(Some(&Value::String(escaped))).len(), 1);
    }

    #[test]
    fn openinference_and_bedrock_tool_calls_are_found() {
        let openinference = r#"[{"message":{"role":"assistant","tool_calls":[{"tool_call":{"id":"c1","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}}]}}]"#;
        let found = calls(Some(&Value::String(openinference.into())));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, "get_weather");
        let strands = r#"{"finish_reason":"tool_use","message":"[{\"toolUse\": {\"toolUseId\": \"c1\", \"name\": \"get_weather\", \"input\": {\"city\": \"Paris\"}}}]"}"#;
        let found = calls(Some(&Value::String(strands.into())));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "get_weather");
        assert!(found[0].0.contains("Paris"), "{}", found[0].0);
    }
}
