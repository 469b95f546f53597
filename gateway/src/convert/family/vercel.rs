//! Vercel AI SDK legacy `ai.*` spans (v3–v6, and `LegacyOpenTelemetry` in v7); v7's default
//! integration emits plain GenAI semconv, handled by `genai`. genai-semconv §4.

use serde_json::{Map, Value, json};

use crate::convert::vocab::content::Io;
use crate::convert::vocab::messages;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// The scope name the AI SDK uses; Langfuse gates Vercel parsing on it.
pub const SCOPE: &str = "ai";

const GENERATION_OPERATIONS: &[&str] = &[
    "ai.generateText.doGenerate",
    "ai.streamText.doStream",
    "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
];
const EMBEDDING_OPERATIONS: &[&str] = &["ai.embedMany.doEmbed", "ai.embed.doEmbed"];

/// Top-level calls whose usage sums their `do*` steps: a roll-up, not counted again.
const ROLLUP_OPERATIONS: &[&str] = &[
    "ai.generateText",
    "ai.streamText",
    "ai.generateObject",
    "ai.streamObject",
    "ai.embed",
    "ai.embedMany",
];

/// `ai.operationId`, or the first word of `operation.name` (`"ai.embed.doEmbed my-fn"`).
fn operation_id<'a>(view: &SpanView<'a>) -> Option<&'a str> {
    view.attrs.str("ai.operationId").or_else(|| {
        view.attrs
            .str("operation.name")
            .and_then(|n| n.split(' ').next())
    })
}

/// Whether this span's operation (by `ai.operationId` equality or `operation.name` prefix, as
/// Langfuse matches) is one of `ids`.
fn operation_in(view: &SpanView, ids: &[&str]) -> bool {
    let by_id = view
        .attrs
        .str("ai.operationId")
        .is_some_and(|op| ids.contains(&op));
    let by_name = view
        .attrs
        .str("operation.name")
        .is_some_and(|n| ids.iter().any(|id| n.starts_with(id)));
    by_id || by_name
}

/// §3.4 prio 5: `do*` model calls are generations / embeddings, but only when a model is
/// named (the SDK also emits them for mock providers without one).
pub fn generation_type(view: &SpanView) -> Option<&'static str> {
    let has_model = [
        "langfuse.observation.model.name",
        "ai.model.id",
        "gen_ai.request.model",
        "gen_ai.response.model",
    ]
    .iter()
    .any(|k| view.attrs.present(k).is_some());
    if !has_model {
        return None;
    }
    if operation_in(view, GENERATION_OPERATIONS) {
        Some("GENERATION")
    } else if operation_in(view, EMBEDDING_OPERATIONS) {
        Some("EMBEDDING")
    } else {
        None
    }
}

/// §3.4 prio 6: `ai.toolCall` spans are tools.
pub fn tool_call_type(view: &SpanView) -> Option<&'static str> {
    operation_in(view, &["ai.toolCall"]).then_some("TOOL")
}

/// Top-level `ai.generateText` & co. carry the sum of their steps' usage.
pub fn is_rollup(view: &SpanView) -> bool {
    operation_id(view).is_some_and(|op| ROLLUP_OPERATIONS.contains(&op))
}

/// `[functionId:]operationId` as the observation name (§3.5).
pub fn operation_name(view: &SpanView) -> Option<Value> {
    let operation = view.attrs.get("ai.operationId")?;
    let operation = value::into_text(operation);
    let name = match view.attrs.present("ai.telemetry.functionId") {
        Some(function) => format!("{}:{operation}", value::into_text(function)),
        None => operation,
    };
    Some(Value::String(name))
}

/// §3.9 rule 3 (scope `ai`, always returns): prompt / tool args in; text, object or tool calls
/// out; text plus tool calls become one assistant message. Missing sides come from GenAI
/// semconv messages (rule 20).
pub fn io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let attrs = &view.attrs;
    let input = ["ai.prompt.messages", "ai.prompt", "ai.toolCall.args"]
        .iter()
        .find_map(|k| attrs.present(k));
    let text = attrs.get("ai.response.text").filter(value::is_truthy);
    let tool_calls = attrs.present("ai.response.toolCalls");
    let output = match (&text, &tool_calls) {
        (Some(text), Some(calls)) => Some(Value::String(
            json!({"role": "assistant", "content": text, "tool_calls": value::json_or_self(calls)})
                .to_string(),
        )),
        _ => text.or_else(|| {
            [
                "ai.result.text",
                "ai.toolCall.result",
                "ai.response.object",
                "ai.result.object",
                "ai.response.toolCalls",
                "ai.result.toolCalls",
            ]
            .iter()
            .find_map(|k| attrs.present(k))
        }),
    };
    let semconv = messages::messages_io_from(&view.attrs).unwrap_or_default();
    Some(Io {
        input: input.or(semconv.input),
        output: output.or(semconv.output),
    })
}

/// Start + `ai.response.msToFirstChunk` (or `ai.stream.msToFirstChunk`), rounded up to the ms.
pub fn completion_start_time(view: &SpanView) -> Option<Value> {
    let ms = ["ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"]
        .iter()
        .find_map(|k| view.attrs.get(k).and_then(|v| value::as_f64(&v)))?;
    let start_us = (view.span.start_time_unix_nano / 1000) as i64;
    // Saturating: a hostile `1e300` ms must not overflow (`as` saturates the cast).
    let offset_us = (ms.ceil() as i64).saturating_mul(1000);
    (start_us > 0 && ms >= 0.0).then(|| Value::from(start_us.saturating_add(offset_us)))
}

/// `ai.telemetry.metadata.langfusePrompt` is JSON `{name, version}` (Langfuse's AI SDK docs).
fn langfuse_prompt(view: &SpanView) -> Option<Map<String, Value>> {
    view.attrs
        .get("ai.telemetry.metadata.langfusePrompt")
        .and_then(|v| value::as_object(&v))
}

pub fn prompt_name(view: &SpanView) -> Option<Value> {
    langfuse_prompt(view)?.remove("name")
}

pub fn prompt_version(view: &SpanView) -> Option<Value> {
    langfuse_prompt(view)?.remove("version")
}

/// Scope `ai`: a synthesised parameter set, overlaid with `langfuse.observation.model.parameters`.
pub fn model_parameters(view: &SpanView) -> Option<Map<String, Value>> {
    if view.scope_name() != SCOPE {
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
    if let Some(overlay) = view
        .attrs
        .get("langfuse.observation.model.parameters")
        .and_then(|v| value::as_object(&v))
    {
        out.extend(overlay);
    }
    Some(out)
}

/// §3.11 rule 3 (applied on scope `ai` only): the step's `gen_ai.usage.*` plus `ai.usage.*` details and the
/// provider metadata blob (OpenAI, Anthropic, Bedrock cache and reasoning counts).
pub fn usage(view: &SpanView) -> Map<String, Value> {
    let a = &view.attrs;
    let num = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| a.get(k).and_then(|v| value::as_f64(&v)))
    };
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<f64>| {
        if let Some(v) = v {
            out.insert(k.to_owned(), Value::from(v));
        }
    };
    let input = num(&["gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"]);
    let output = num(&[
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.output_tokens",
    ]);
    put("input", input);
    put("output", output);
    put("total", num(&["ai.usage.tokens"]));
    put("input_cached_tokens", num(&["ai.usage.cachedInputTokens"]));
    put(
        "output_reasoning_tokens",
        num(&["ai.usage.reasoningTokens"]),
    );

    let metadata = a
        .get("ai.response.providerMetadata")
        .and_then(|v| value::as_object(&v))
        .unwrap_or_default();
    let at = |path: &[&str]| -> Option<f64> {
        let mut node = metadata.get(*path.first()?)?;
        for key in &path[1..] {
            node = node.get(key)?;
        }
        value::as_f64(node)
    };
    let provider_keys: &[(&[&str], &str)] = &[
        (&["openai", "cachedPromptTokens"], "input_cached_tokens"),
        (
            &["openai", "acceptedPredictionTokens"],
            "accepted_prediction_tokens",
        ),
        (
            &["openai", "rejectedPredictionTokens"],
            "rejected_prediction_tokens",
        ),
        (&["openai", "reasoningTokens"], "output_reasoning_tokens"),
        (
            &["anthropic", "usage", "cache_creation_input_tokens"],
            "input_cache_creation",
        ),
        (
            &["anthropic", "usage", "cache_read_input_tokens"],
            "input_cached_tokens",
        ),
        (
            &[
                "anthropic",
                "usage",
                "cache_creation",
                "ephemeral_5m_input_tokens",
            ],
            "input_cache_creation_5m",
        ),
        (
            &[
                "anthropic",
                "usage",
                "cache_creation",
                "ephemeral_1h_input_tokens",
            ],
            "input_cache_creation_1h",
        ),
        (
            &["bedrock", "usage", "cacheReadInputTokens"],
            "input_cache_read",
        ),
        (
            &["bedrock", "usage", "cacheWriteInputTokens"],
            "input_cache_write",
        ),
        (
            &["bedrock", "usage", "cacheCreationInputTokens"],
            "input_cache_creation",
        ),
    ];
    for (path, key) in provider_keys {
        put(key, at(path));
    }
    let get = |out: &Map<String, Value>, k: &str| out.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let (five, hour) = (
        get(&out, "input_cache_creation_5m"),
        get(&out, "input_cache_creation_1h"),
    );
    if let Some(creation) = out.get("input_cache_creation").and_then(Value::as_f64) {
        out.insert(
            "input_cache_creation".into(),
            Value::from((creation - five - hour).max(0.0)),
        );
    }
    let cached: f64 = [
        "input_cached_tokens",
        "input_cache_creation",
        "input_cache_creation_5m",
        "input_cache_creation_1h",
        "input_cache_read",
    ]
    .iter()
    .map(|k| get(&out, k))
    .sum();
    if let Some(input) = input {
        out.insert("input".into(), Value::from((input - cached).max(0.0)));
    }
    if let Some(output) = output {
        out.insert(
            "output".into(),
            Value::from((output - get(&out, "output_reasoning_tokens")).max(0.0)),
        );
    }
    out
}
