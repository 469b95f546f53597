//! The scalar fields of a row, each an ordered list of sources (first present wins). Read next
//! to docs/conversion.md and reference langfuse-otel.md §3; `// beyond Langfuse` marks a
//! source Langfuse does not read (genai-semconv §7 "(add)").

use serde_json::Value;

use crate::convert::family::{
    genai, genkit, langfuse, livekit, logfire, mlflow, openinference, vercel,
};
use crate::convert::vocab::source::{Attr, AttrOrResource, Derived, Resource, Source};
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

/// Observation name (§3.5): tool name, Genkit, Logfire message, Vercel tool/operation, span name.
pub const NAME: &[Source] = &[
    Derived(genai::tool_name),
    Derived(openinference::tool_name), // beyond Langfuse
    Derived(genkit::name),
    Attr("logfire.msg"),
    Attr("ai.toolCall.name"),
    Derived(vercel::operation_name),
    Derived(span_name),
];

/// Model name (§3.10; response model beats request model). Not read on roll-up spans.
pub const MODEL: &[Source] = &[
    Attr("langfuse.observation.model.name"),
    Attr("gen_ai.response.model"),
    Attr("ai.model.id"),
    Attr("gen_ai.request.model"),
    Attr("llm.response.model"),
    Attr("llm.model_name"),
    Derived(mlflow::model_name), // beyond Langfuse: MLflow's JSON-encoded model, unquoted
    Attr("model"),
    Derived(genkit::model_name),
    Attr("llm.response.model_name"), // beyond Langfuse
    Attr("llm.request.model_name"),  // beyond Langfuse
    Attr("embedding.model_name"),    // beyond Langfuse: OpenInference embeddings
    Attr("reranker.model_name"),     // beyond Langfuse
];

/// Environment (§3.7): span attribute, then resource, per key; normalised afterwards by
/// [`langfuse::normalize_environment`].
pub const ENVIRONMENT: &[Source] = &[
    AttrOrResource("langfuse.environment"),
    AttrOrResource("deployment.environment.name"),
    AttrOrResource("deployment.environment"),
];

/// Version (§3.7).
pub const VERSION: &[Source] = &[
    Attr("langfuse.version"),
    Resource("service.version"),
    Attr("traceloop.entity.version"), // beyond Langfuse
    Attr("gen_ai.agent.version"),     // beyond Langfuse
];

/// Release (§3.7).
pub const RELEASE: &[Source] = &[Attr("langfuse.release"), Resource("langfuse.release")];

/// User id (§3.8). Non-string values are JSON text; metadata keys JSON-decoded where the
/// Langfuse SDK encoded them ([`langfuse::encodes_metadata_values`]).
pub const USER_ID: &[Source] = &[
    Attr("langfuse.user.id"),
    Attr("user.id"),
    Derived(langfuse::observation_metadata_user_id),
    Derived(langfuse::trace_metadata_user_id),
    Attr("ai.telemetry.metadata.userId"),
    Attr("traceloop.association.properties.user_id"), // beyond Langfuse: OpenLLMetry
    Attr("enduser.id"),                               // beyond Langfuse: older general OTel
];

/// Session id (§3.8). `gen_ai.conversation.id` is trace-level on any span here (see
/// [`crate::convert::trace`]); pydantic-ai's empty conversation id counts as absent.
pub const SESSION_ID: &[Source] = &[
    Attr("langfuse.session.id"),
    Attr("session.id"),
    Attr("gen_ai.conversation.id"),
    Derived(langfuse::observation_metadata_session_id),
    Derived(langfuse::trace_metadata_session_id),
    Attr("ai.telemetry.metadata.sessionId"),
    Attr("traceloop.association.properties.session_id"), // beyond Langfuse: OpenLLMetry
];

/// Tags (§3.8), parsed by [`langfuse::parse_tags`].
pub const TAGS: &[Source] = &[
    Attr("langfuse.trace.tags"),
    Attr("langfuse.tags"),
    Derived(langfuse::observation_metadata_tags),
    Derived(langfuse::trace_metadata_tags),
    Attr("ai.telemetry.metadata.tags"),
    Attr("tag.tags"),
];

/// Public flag (§3.8): only `true` / `"true"` count.
pub const PUBLIC: &[Source] = &[Attr("langfuse.trace.public"), Attr("langfuse.public")];

/// Explicit trace name, valid on any span (§3.3).
pub const TRACE_NAME: &[Source] = &[Attr("langfuse.trace.name")];

/// Explicit trace input / output, valid on any span (§3.3: a non-root trace update carries
/// I/O only from these keys). Otherwise the read API shows the root observation's I/O.
pub const TRACE_INPUT: &[Source] = &[Attr("langfuse.trace.input")];
pub const TRACE_OUTPUT: &[Source] = &[Attr("langfuse.trace.output")];

/// Trace name hints that name the workflow itself, used before the root span's name
/// (genai-semconv §7 "(add)"): OpenLLMetry names its root span `<workflow>.workflow`.
pub const TRACE_NAME_HINT: &[Source] = &[
    Attr("traceloop.workflow.name"), // beyond Langfuse
    Attr("gen_ai.workflow.name"),    // beyond Langfuse
];

/// Last-resort trace name when the request has no root span (beyond Langfuse).
pub const TRACE_NAME_LAST_RESORT: &[Source] = &[
    Derived(genai::root_agent_name),
    Attr("ai.telemetry.functionId"),
];

/// Level (§3.6): explicit level (aliases), span status, LiveKit's noisy spans; default DEFAULT.
pub const LEVEL: &[Source] = &[
    Derived(langfuse::level),
    Derived(status_error),
    Derived(logfire::level), // beyond Langfuse
    Derived(livekit::level), // LiveKit's internal spans are DEBUG
];

/// Status message (§3.6).
pub const STATUS_MESSAGE: &[Source] = &[
    Attr("langfuse.observation.status_message"),
    Derived(status_message),
    Derived(genai::exception_message), // beyond Langfuse
    Attr("error.type"),                // beyond Langfuse
];

/// Completion start time in µs (§3.13).
pub const COMPLETION_START: &[Source] = &[
    Derived(langfuse::completion_start_time),
    Derived(vercel::completion_start_time),
    Derived(genai::completion_start_time), // beyond Langfuse
];

/// Prompt name (§3.13), linked only on GENERATION rows.
pub const PROMPT_NAME: &[Source] = &[
    Attr("langfuse.observation.prompt.name"),
    Attr("langfuse.prompt.name"),
    Derived(vercel::prompt_name),
    Attr("traceloop.prompt.key"), // beyond Langfuse
];

/// Prompt version (§3.13): must be an integer.
pub const PROMPT_VERSION: &[Source] = &[
    Attr("langfuse.observation.prompt.version"),
    Attr("langfuse.prompt.version"),
    Derived(vercel::prompt_version),
    Attr("traceloop.prompt.version"), // beyond Langfuse
];

/// `is_app_root` (events path only).
pub const IS_APP_ROOT: &[Source] = &[Attr("langfuse.internal.is_app_root")];

/// Roots of a trace: no parent, or the Langfuse SDK's `as_root` override (§3.3).
pub fn is_root(view: &SpanView) -> bool {
    view.span.parent_span_id.is_empty()
        || view.span.parent_span_id.iter().all(|b| *b == 0)
        || view
            .attrs
            .get("langfuse.internal.as_root")
            .is_some_and(|v| value::is_true(&v))
}

fn span_name(view: &SpanView) -> Option<Value> {
    Some(Value::String(view.span.name.clone()))
}

/// OTLP status ERROR (code 2) → ERROR. UNSET and OK carry no level: most SDKs never set OK.
fn status_error(view: &SpanView) -> Option<Value> {
    let code = view.span.status.as_ref().map(|s| s.code).unwrap_or(0);
    (code == 2).then(|| Value::String("ERROR".into()))
}

fn status_message(view: &SpanView) -> Option<Value> {
    let message = view
        .span
        .status
        .as_ref()
        .map(|s| s.message.as_str())
        .unwrap_or("");
    (!message.is_empty()).then(|| Value::String(message.to_owned()))
}
