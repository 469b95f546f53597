//! Usage and provided cost (reference §3.11–3.12), in Langfuse's storage semantics:
//! exclusive buckets. OTel, OpenInference and OpenAI count input *including* cached and
//! cache-creation tokens and output *including* reasoning tokens; Langfuse stores
//! `input = input − cache_read − cache_creation`, `output = output − reasoning − audio`, plus
//! the buckets themselves, so nothing is priced twice.

use std::collections::BTreeMap;

use rustc_hash::FxHashSet;
use serde_json::{Map, Value};

use crate::convert::family::{genai, genkit, google_adk, logfire, mlflow, openinference, vercel};
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// Attribute prefixes the generic rule reads, in precedence order (a key found under an
/// earlier prefix shadows the same key under a later one).
const GENERIC_PREFIXES: &[&str] = &[
    "gen_ai.usage.",
    "llm.token_count.",
    "llm.usage.", // beyond Langfuse: OpenLLMetry's older keys (`llm.usage.total_tokens`)
];

/// Keys under the prefixes that are not token counts.
const NOT_USAGE: &[&str] = &["cost"];

/// One usage bucket and the source keys that fill it, first present wins (`??`: a present
/// zero shadows later keys).
struct Alias {
    bucket: &'static str,
    keys: &'static [&'static str],
}

const INPUT: Alias = Alias {
    bucket: "input",
    keys: &["prompt_tokens", "input_tokens", "prompt"],
};
const OUTPUT: Alias = Alias {
    bucket: "output",
    keys: &["completion_tokens", "output_tokens", "completion"],
};
const TOTAL: Alias = Alias {
    bucket: "total",
    keys: &["total_tokens", "total"],
};
const CACHE_READ: Alias = Alias {
    bucket: "input_cached_tokens",
    keys: &[
        "cache_read.input_tokens",
        "cache_read_input_tokens",
        "cache_read_tokens",
        "details.cache_read_tokens",
        "details.cache_read_input_tokens",
        "prompt_details.cache_read",
        "input_cached_tokens",
    ],
};
const CACHE_CREATION: Alias = Alias {
    bucket: "input_cache_creation",
    keys: &[
        "cache_write.input_tokens", // beyond Langfuse: the semconv rename of cache_creation
        "cache_creation.input_tokens",
        "cache_creation_input_tokens",
        "cache_write_tokens",
        "details.cache_write_tokens",
        "details.cache_creation_input_tokens",
        "prompt_details.cache_write",
        "input_cache_creation",
    ],
};
const REASONING: Alias = Alias {
    bucket: "output_reasoning_tokens",
    keys: &[
        "reasoning.output_tokens",
        "completion_details.reasoning",
        "reasoning_tokens", // beyond Langfuse: OpenLLMetry `gen_ai.usage.reasoning_tokens`
    ],
};
const AUDIO: Alias = Alias {
    bucket: "output_audio_tokens",
    keys: &["completion_details.audio"],
};

const ALIASES: &[&Alias] = &[
    &INPUT,
    &OUTPUT,
    &TOTAL,
    &CACHE_READ,
    &CACHE_CREATION,
    &REASONING,
    &AUDIO,
];

/// Raw counts by key (prefix stripped), numbers and numeric strings only, in key order. A
/// span has a handful, so a vector of borrowed keys beats a map.
type Counts<'a> = Vec<(&'a str, f64)>;

/// Provided usage of one span. Empty when the span reports none.
pub fn usage(view: &SpanView, warnings: &mut Vec<String>) -> BTreeMap<String, u64> {
    let raw = langfuse_usage_details(view, warnings)
        .or_else(|| genkit::usage(view).map(|pairs| pairs.into_iter().collect()))
        .or_else(|| mlflow::usage(view)) // beyond Langfuse
        .or_else(|| (view.scope_name() == vercel::SCOPE).then(|| vercel::usage(view)))
        .unwrap_or_else(|| generic_usage(view));
    let mut usage: BTreeMap<String, u64> = raw
        .into_iter()
        .filter_map(|(k, v)| value::as_token_count(&v).map(|n| (k, n)))
        .collect();
    if !usage.contains_key(TOTAL.bucket) {
        // Buckets are exclusive, so the total is their sum (keys named `input*` / `output*`,
        // the same split Langfuse uses for input and output cost).
        let buckets = usage
            .iter()
            .filter(|(k, _)| k.starts_with("input") || k.starts_with("output"));
        let total = buckets.fold(0u64, |sum, (_, n)| sum.saturating_add(*n));
        if total > 0 {
            usage.insert(TOTAL.bucket.into(), total);
        }
    }
    usage
}

/// Whether this span's usage is a roll-up of its children (agent / workflow aggregates):
/// counted once on the leaves, kept only as metadata here (genai-semconv §8.5).
pub fn is_rollup(view: &SpanView) -> bool {
    view.attrs
        .str("gen_ai.operation.name")
        .is_some_and(|op| genai::ROLLUP_OPERATIONS.contains(&op))
        || vercel::is_rollup(view)
        || logfire::is_rollup(view)
        || openinference::is_rollup(view)
}

/// §3.11 rule 1: `langfuse.observation.usage_details` (JSON object text). Invalid JSON falls
/// through to the other rules and is flagged.
fn langfuse_usage_details(
    view: &SpanView,
    warnings: &mut Vec<String>,
) -> Option<Map<String, Value>> {
    let raw = view.attrs.get("langfuse.observation.usage_details")?;
    let parsed = match &raw {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => {
                warnings.push("langfuse.observation.usage_details is not valid JSON".into());
                return None;
            }
        },
        Value::Object(_) => raw.clone(),
        _ => return Some(Map::new()),
    };
    match parsed {
        Value::Object(o) => Some(openai_shape(&o).unwrap_or(o)),
        _ => Some(Map::new()),
    }
}

/// Langfuse's `UsageDetails` union: the exact OpenAI Chat Completions usage object
/// (`prompt_tokens`, `completion_tokens`, `total_tokens`, `*_tokens_details`) or the Responses
/// one (`input_tokens`, `output_tokens`, …) becomes `input`/`output`/`total` with the details
/// as `input_<k>` / `output_<k>`, subtracted from input/output. Anything else stays raw.
/// Also the batch API's `usageDetails` rule (reference langfuse-legacy.md §1.4.1).
pub fn openai_shape(usage: &Map<String, Value>) -> Option<Map<String, Value>> {
    let shapes = [
        (
            "prompt_tokens",
            "completion_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
        ),
        (
            "input_tokens",
            "output_tokens",
            "input_tokens_details",
            "output_tokens_details",
        ),
    ];
    shapes
        .iter()
        .find_map(|(input, output, input_details, output_details)| {
            let allowed = [
                *input,
                *output,
                "total_tokens",
                *input_details,
                *output_details,
            ];
            if !usage.keys().all(|k| allowed.contains(&k.as_str())) {
                return None;
            }
            let number = |k: &str| usage.get(k).and_then(Value::as_f64);
            let (mut i, mut o, total) = (number(input)?, number(output)?, number("total_tokens")?);
            let mut out = Map::new();
            for (details, side, remaining) in [
                (input_details, "input", &mut i),
                (output_details, "output", &mut o),
            ] {
                if let Some(Value::Object(d)) = usage.get(*details) {
                    for (k, v) in d {
                        if let Some(n) = v.as_f64() {
                            out.insert(format!("{side}_{k}"), Value::from(n));
                            *remaining -= n;
                        }
                    }
                }
            }
            out.insert("input".into(), Value::from(i.max(0.0)));
            out.insert("output".into(), Value::from(o.max(0.0)));
            out.insert("total".into(), Value::from(total));
            Some(out)
        })
}

fn collect_generic<'a>(view: &SpanView<'a>) -> Counts<'a> {
    let mut counts = Counts::new();
    // Keys already taken from an earlier prefix (a set: a hostile span may send thousands).
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    for prefix in GENERIC_PREFIXES {
        for (key, raw) in view.attrs.with_prefix(prefix) {
            if NOT_USAGE.contains(&key) || seen.contains(key) {
                continue;
            }
            if let Some(n) = value::as_f64(&value::to_json(raw)) {
                seen.insert(key);
                counts.push((key, n));
            }
        }
    }
    counts.sort_by_key(|(k, _)| *k);
    counts
}

fn pick(counts: &Counts, alias: &Alias) -> Option<f64> {
    alias
        .keys
        .iter()
        .find_map(|key| counts.iter().find(|(k, _)| k == key).map(|(_, n)| *n))
}

/// §3.11 rule 6 (and rules 4–5): every `gen_ai.usage.*` / `llm.token_count.*` key, aliases
/// folded into Langfuse's buckets, other keys passed through (`details.` stripped).
fn generic_usage(view: &SpanView) -> Map<String, Value> {
    let counts = collect_generic(view);
    let mut out = Map::new();
    for (key, n) in &counts {
        if ALIASES.iter().any(|a| a.keys.contains(key)) {
            continue;
        }
        let key = key.strip_prefix("details.").unwrap_or(key);
        out.insert(key.to_owned(), Value::from(*n));
    }
    let cache_read = pick(&counts, &CACHE_READ)
        .or_else(|| google_adk::cached_tokens(view).and_then(|v| value::as_f64(&v)));
    let cache_creation = pick(&counts, &CACHE_CREATION);
    let reasoning = pick(&counts, &REASONING);
    let audio = pick(&counts, &AUDIO);
    if let Some(input) = pick(&counts, &INPUT) {
        let exclusive = input - cache_read.unwrap_or(0.0) - cache_creation.unwrap_or(0.0);
        out.insert(INPUT.bucket.into(), Value::from(exclusive.max(0.0)));
    }
    if let Some(output) = pick(&counts, &OUTPUT) {
        let exclusive = output - reasoning.unwrap_or(0.0) - audio.unwrap_or(0.0);
        out.insert(OUTPUT.bucket.into(), Value::from(exclusive.max(0.0)));
    }
    for (alias, n) in [
        (&TOTAL, pick(&counts, &TOTAL)),
        (&CACHE_READ, cache_read),
        (&CACHE_CREATION, cache_creation),
        (&REASONING, reasoning),
        (&AUDIO, audio),
    ] {
        if let Some(n) = n {
            out.insert(alias.bucket.into(), Value::from(n));
        }
    }
    out
}

/// Provided cost (§3.12): Langfuse's cost details object, else a single total. Non-negative
/// numbers only.
pub fn cost(view: &SpanView, warnings: &mut Vec<String>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(raw) = view.attrs.get("langfuse.observation.cost_details") {
        match value::as_object(&raw) {
            Some(details) => {
                for (k, v) in details {
                    if let Some(n) = v.as_f64().filter(|n| *n >= 0.0) {
                        out.insert(k, n);
                    }
                }
                return out;
            }
            None => warnings.push("langfuse.observation.cost_details is not a JSON object".into()),
        }
    }
    let number = |k: &str| {
        view.attrs
            .get(k)
            .and_then(|v| value::as_f64(&v))
            .filter(|n| *n >= 0.0)
    };
    if let Some(total) = number("gen_ai.usage.cost").or_else(|| number("llm.cost.total")) {
        out.insert("total".into(), total);
    } else if let Some(total) = number("operation.cost") {
        // beyond Langfuse: pydantic-ai's USD total
        out.insert("total".into(), total);
    }
    // beyond Langfuse: OpenInference splits cost into prompt and completion
    if let Some(input) = number("llm.cost.prompt") {
        out.insert("input".into(), input);
    }
    if let Some(output) = number("llm.cost.completion") {
        out.insert("output".into(), output);
    }
    out
}
