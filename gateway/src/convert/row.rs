//! Assembles one `EventRow` from one span view by running every field's rule list. Trace-level
//! fields are reconciled across the request afterwards (`trace`).

use serde_json::Value;
use spanbridge_proto::EventRow;

use super::family::langfuse;
use super::fields::{io, metadata, model_parameters, observation_type, scalar, tools, usage};
use super::trace::TraceHints;
use super::vocab::section;
use super::vocab::source::{first, first_text};
use super::vocab::value;
use super::vocab::view::SpanView;

/// A span's ids, validated and hex-encoded by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanIds {
    pub trace_id: String,
    pub span_id: String,
    /// Empty when the span has no (valid) parent.
    pub parent_span_id: String,
}

/// Converts one span.
pub fn build(view: &SpanView, ids: SpanIds, received_at_us: i64) -> (EventRow, TraceHints) {
    let SpanIds {
        trace_id,
        span_id,
        parent_span_id,
    } = ids;
    let mut warnings = Vec::new();
    let mut row = EventRow {
        trace_id,
        span_id,
        parent_span_id,
        source: "otel".into(),
        ..Default::default()
    };

    let (start, end) = times(view, received_at_us);
    row.start_time_us = start;
    row.end_time_us = Some(end);

    row.name = first_text(view, scalar::NAME).unwrap_or_default();
    row.r#type = observation_type::observation_type(view).to_owned();
    row.environment = first_text(view, scalar::ENVIRONMENT)
        .map(|e| langfuse::normalize_environment(&e))
        .unwrap_or_else(|| "default".into());
    row.version = first_text(view, scalar::VERSION).unwrap_or_default();
    row.release = first_text(view, scalar::RELEASE).unwrap_or_default();
    row.level = first_text(view, scalar::LEVEL).unwrap_or_else(|| "DEFAULT".into());
    row.status_message = first_text(view, scalar::STATUS_MESSAGE).unwrap_or_default();

    row.user_id = first_text(view, scalar::USER_ID).unwrap_or_default();
    row.session_id = first_text(view, scalar::SESSION_ID).unwrap_or_default();
    row.tags = first(view, scalar::TAGS)
        .map(|t| langfuse::parse_tags(&t))
        .unwrap_or_default();
    row.public = first(view, scalar::PUBLIC).is_some_and(|v| value::is_true(&v));
    row.is_app_root = first(view, scalar::IS_APP_ROOT).is_some_and(|v| value::is_true(&v));
    row.trace_input = first(view, scalar::TRACE_INPUT)
        .map(value::into_text)
        .unwrap_or_default();
    row.trace_output = first(view, scalar::TRACE_OUTPUT)
        .map(value::into_text)
        .unwrap_or_default();
    let is_root = scalar::is_root(view);
    let hints = TraceHints {
        is_root,
        explicit_name: first_text(view, scalar::TRACE_NAME),
        workflow_name: first_text(view, scalar::TRACE_NAME_HINT),
        fallback_name: first_text(view, scalar::TRACE_NAME_LAST_RESORT),
    };

    row.completion_start_time_us = first(view, scalar::COMPLETION_START).and_then(|v| v.as_i64());
    if row.completion_start_time_us.is_none()
        && view
            .attrs
            .contains("langfuse.observation.completion_start_time")
    {
        warnings.push("langfuse.observation.completion_start_time is not an ISO-8601 time".into());
    }
    if observation_type::links_prompt(&row.r#type) {
        prompt(view, &mut row, &mut warnings);
    }

    let rollup = usage::is_rollup(view);
    let usage_details = usage::usage(view, &mut warnings);
    let cost_details = usage::cost(view, &mut warnings);
    let mut rollup_usage = None;
    if rollup {
        if !usage_details.is_empty() {
            rollup_usage = Some(usage_details);
        }
    } else {
        row.provided_model_name = first_text(view, scalar::MODEL).unwrap_or_default();
        row.provided_usage_details = usage_details;
        row.provided_cost_details = cost_details;
    }
    row.model_parameters = model_parameters::model_parameters(view);

    let mut meta = metadata::metadata(view, &mut warnings);
    let content = io::extract(view);
    let offered = tools::take_definitions(view, &mut meta);
    row.tool_definitions = tools::definitions_by_name(&offered);
    let input = tools::merge_into_input(content.input, offered);
    (row.tool_calls, row.tool_call_names) =
        tools::calls(content.output.as_ref()).into_iter().unzip();
    row.input = input.map(value::into_text).unwrap_or_default();
    row.output = content.output.map(value::into_text).unwrap_or_default();

    experiment(view, &mut row);
    instrumentation(view, &mut row);

    if let Some(rollup_usage) = rollup_usage {
        let object = rollup_usage
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        meta.insert(metadata::ROLLUP_USAGE_KEY.into(), Value::Object(object));
    }
    if !warnings.is_empty() {
        meta.insert(metadata::WARNINGS_KEY.into(), Value::from(warnings));
    }
    (row.metadata_names, row.metadata_values) = meta.flatten();
    (row, hints)
}

/// Start/end in µs: a missing start takes the end, a missing end the start, and a span with
/// neither the receive time (reference §3.2). An end before the start is clamped to it.
fn times(view: &SpanView, received_at_us: i64) -> (i64, i64) {
    let us = |ns: u64| (ns > 0).then_some((ns / 1000) as i64);
    let (start, end) = (
        us(view.span.start_time_unix_nano),
        us(view.span.end_time_unix_nano),
    );
    let start = start.or(end).unwrap_or(received_at_us);
    let end = end.unwrap_or(start).max(start);
    (start, end)
}

/// Prompt name and version are linked together; a version that is not an integer is dropped
/// with a warning (Langfuse drops the whole observation instead: langfuse/langfuse#9893).
fn prompt(view: &SpanView, row: &mut EventRow, warnings: &mut Vec<String>) {
    row.prompt_name = first_text(view, scalar::PROMPT_NAME).unwrap_or_default();
    let version = first(view, scalar::PROMPT_VERSION);
    row.prompt_version = version
        .as_ref()
        .and_then(value::as_token_count)
        .and_then(|v| u32::try_from(v).ok());
    if version.is_some() && row.prompt_version.is_none() {
        warnings.push("prompt version is not a non-negative integer".into());
    }
}

/// `langfuse.experiment.*` (events path only, reference §3.13).
fn experiment(view: &SpanView, row: &mut EventRow) {
    let text = |k: &str| {
        view.attrs
            .present(k)
            .map(value::into_text)
            .unwrap_or_default()
    };
    row.experiment_id = text("langfuse.experiment.id");
    row.experiment_name = text("langfuse.experiment.name");
    row.experiment_description = text("langfuse.experiment.description");
    row.experiment_dataset_id = text("langfuse.experiment.dataset.id");
    row.experiment_item_id = text("langfuse.experiment.item.id");
    row.experiment_item_root_span_id = text("langfuse.experiment.item.root_observation_id");
    row.experiment_item_expected_output = text("langfuse.experiment.item.expected_output");
    row.experiment_item_version_us = view
        .attrs
        .str("langfuse.experiment.item.version")
        .and_then(value::parse_timestamp_us);
    let nested = |blob: &str, prefix: &str| {
        let mut object = view
            .attrs
            .get(blob)
            .and_then(|v| value::as_object(&v))
            .unwrap_or_default();
        for (k, v) in view.attrs.with_prefix(prefix) {
            object.insert(k.to_owned(), value::to_json(v));
        }
        section::flatten(object)
    };
    (
        row.experiment_metadata_names,
        row.experiment_metadata_values,
    ) = nested(
        "langfuse.experiment.metadata",
        "langfuse.experiment.metadata.",
    );
    (
        row.experiment_item_metadata_names,
        row.experiment_item_metadata_values,
    ) = nested(
        "langfuse.experiment.item.metadata",
        "langfuse.experiment.item.metadata.",
    );
}

/// Service, scope and SDK columns from the resource and the instrumentation scope.
fn instrumentation(view: &SpanView, row: &mut EventRow) {
    let resource = |k: &str| {
        view.resource
            .present(k)
            .map(value::into_text)
            .unwrap_or_default()
    };
    row.service_name = resource("service.name");
    row.service_version = resource("service.version");
    row.telemetry_sdk_language = resource("telemetry.sdk.language");
    row.telemetry_sdk_name = resource("telemetry.sdk.name");
    row.telemetry_sdk_version = resource("telemetry.sdk.version");
    row.scope_name = view.scope_name().to_owned();
    row.scope_version = view.scope_version().to_owned();
}
