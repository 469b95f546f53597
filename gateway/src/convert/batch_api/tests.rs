//! The SDK 2.60.10 fixture batches in, the pieces out.

use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/../tests/fixtures/ingestion/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let body: Value = serde_json::from_str(&text).unwrap();
    body["batch"].as_array().unwrap().clone()
}

fn convert(batch: &[Value]) -> BatchConverted {
    convert_batch(batch)
}

#[test]
fn low_level_client_batch_becomes_rows_updates_and_two_trace_pieces() {
    let batch = fixture("python-sdk-2.60.10-low-level.json");
    let out = convert(&batch);
    assert!(out.outcomes.iter().all(|(_, o)| *o == Outcome::Accepted));
    assert_eq!(
        out.groups.len(),
        2,
        "the second trace-create starts a group"
    );
    let trace = "8e82a255-473f-418d-a9ab-a13582b10680";
    let first = &out.groups[0];
    assert_eq!(first.trace_id, trace);
    let fields = first.trace.as_ref().unwrap();
    assert_eq!(fields.name.as_deref(), Some("v2-trace"));
    assert_eq!(fields.user_id.as_deref(), Some("u1"));
    assert_eq!(fields.session_id.as_deref(), Some("s1"));
    assert_eq!(fields.tags, ["a"]);
    assert_eq!(fields.input.as_deref(), Some(r#"{"q":"hi"}"#));
    assert_eq!(fields.output, None);
    assert!(fields.from_root);
    let root = first.partial_rows[0].row.as_ref().unwrap();
    assert_eq!(root.span_id, format!("t-{trace}"));
    assert_eq!(root.metadata_names, ["k"]);
    assert_eq!(root.metadata_values, ["v"]);

    let kinds: Vec<(&str, &str, &str)> = first
        .rows
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.r#type.as_str(),
                r.parent_span_id.as_str(),
            )
        })
        .collect();
    let root_id = format!("t-{trace}");
    assert_eq!(
        kinds,
        [
            ("retrieve", "SPAN", root_id.as_str()),
            (
                "cache-miss",
                "EVENT",
                "7123efc1-972d-42e6-960d-5007e7dd71d4"
            ),
            ("chat", "GENERATION", root_id.as_str()),
        ]
    );
    let event = &first.rows[1];
    assert_eq!(event.level, "WARNING");
    let generation = &first.rows[2];
    assert_eq!(generation.span_id, "66e2b34b-22fa-48a7-aa23-d6865f9ac94c");
    assert_eq!(generation.provided_model_name, "gpt-4o");
    assert_eq!(generation.model_parameters, r#"{"temperature":"0.2"}"#);
    assert_eq!(generation.provided_usage_details["input"], 10);
    assert_eq!(generation.provided_usage_details["total"], 15);
    assert_eq!(generation.input, r#"[{"role":"user","content":"hi"}]"#);
    assert_eq!(generation.end_time_us, None);

    // The updates name only what they sent.
    let update = first
        .partial_rows
        .iter()
        .find(|p| p.row.as_ref().unwrap().span_id == generation.span_id)
        .unwrap();
    assert_eq!(
        update.fields,
        ["end_time_us", "output", "provided_usage_details"]
    );
    let part = update.row.as_ref().unwrap();
    assert_eq!(part.output, "hello");
    assert_eq!(part.provided_usage_details["input"], 1000);
    assert_eq!(part.provided_usage_details["total"], 1500);

    // The last trace-create carries only the output.
    let last = out.groups[1].trace.as_ref().unwrap();
    assert_eq!(last.output.as_deref(), Some(r#"{"a":"hello"}"#));
    assert_eq!((last.name.as_ref(), last.user_id.as_ref()), (None, None));
    assert_eq!(
        out.groups[1].partial_rows[0].fields,
        ["type", "source", "parent_span_id", "output"]
    );
}

#[test]
fn decorator_and_langchain_batches_convert_whole() {
    for name in [
        "python-sdk-2.60.10-observe-decorators.json",
        "python-sdk-2.60.10-langchain-callback.json",
    ] {
        let batch = fixture(name);
        let out = convert(&batch);
        assert!(
            out.outcomes.iter().all(|(_, o)| *o == Outcome::Accepted),
            "{name}: {:?}",
            out.outcomes
        );
        let traces: Vec<usize> = out.groups.iter().map(|g| g.trace.iter().count()).collect();
        assert!(traces.iter().all(|n| *n <= 1));
    }
}

#[test]
fn one_bad_event_never_sinks_the_batch() {
    let good = json!({"id": "e1", "type": "span-create", "timestamp": "2026-01-01T00:00:00Z",
                      "body": {"id": "s1", "traceId": "t1", "name": "ok"}});
    let cases = [
        (
            json!({"id": "e2", "type": "span-create", "timestamp": "2026-01-01T00:00:00", "body": {}}),
            "timestamp",
        ),
        (
            json!({"id": "e3", "type": "nope-create", "timestamp": "2026-01-01T00:00:00Z", "body": {}}),
            "unknown event type",
        ),
        (
            json!({"id": "e4", "type": "span-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"name": 3}}),
            "body.name",
        ),
        (
            json!({"id": "e5", "type": "generation-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"id": "g", "level": "LOUD"}}),
            "body.level",
        ),
        (
            json!({"id": "e6", "type": "generation-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"id": "g", "promptName": "p"}}),
            "promptVersion",
        ),
        (
            json!({"id": "e7", "type": "generation-update", "timestamp": "2026-01-01T00:00:00Z", "body": {"traceId": "t"}}),
            "body.id",
        ),
        (
            json!({"id": "e8", "type": "event-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"traceId": "t"}}),
            "body.id",
        ),
        (
            json!({"id": "e9", "type": "trace-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"tags": "a"}}),
            "body.tags",
        ),
        (
            json!({"type": "trace-create", "timestamp": "2026-01-01T00:00:00Z", "body": {}}),
            "id",
        ),
        (
            json!({"id": "e10", "type": "generation-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"usage": {"input": 1.5}}}),
            "body.usage.input",
        ),
        (
            json!({"id": "e11", "type": "observation-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"type": "AGENT"}}),
            "body.type",
        ),
        (
            json!({"id": "e12", "type": "span-create", "timestamp": "2026-01-01T00:00:00Z", "body": "text"}),
            "body",
        ),
    ];
    for (bad, needle) in cases {
        let out = convert(&[good.clone(), bad.clone()]);
        assert_eq!(out.outcomes[0], ("e1".into(), Outcome::Accepted));
        match &out.outcomes[1].1 {
            Outcome::Invalid(message) => assert!(message.contains(needle), "{bad}: {message}"),
            other => panic!("{bad}: {other:?}"),
        }
        let expected_id = bad.get("id").and_then(Value::as_str).unwrap_or("unknown");
        assert_eq!(out.outcomes[1].0, expected_id);
        assert_eq!(out.groups.len(), 1);
        assert_eq!(out.groups[0].rows.len(), 1);
    }
}

#[test]
fn missing_ids_are_filled_not_dropped_and_sdk_logs_are_in_neither_list() {
    let batch = [
        json!({"id": "env-1", "type": "trace-create", "timestamp": "2026-01-01T00:00:00Z", "body": {"name": "n"}}),
        json!({"id": "env-2", "type": "span-create", "timestamp": "2026-01-01T00:00:01Z", "body": {"name": "s"}}),
        json!({"id": "env-3", "type": "sdk-log", "timestamp": "2026-01-01T00:00:01Z", "body": {"log": "hello"}}),
    ];
    let out = convert(&batch);
    assert_eq!(out.outcomes[2].1, Outcome::SdkLog);
    assert_eq!(out.groups[0].trace_id, "env-1");
    // A span without ids starts its own trace, named by its envelope id.
    assert_eq!(out.groups[1].trace_id, "env-2");
    assert_eq!(out.groups[1].rows[0].span_id, "env-2");
}

#[test]
fn legacy_observation_and_typed_creates() {
    let batch = [
        json!({"id": "1", "type": "observation-create", "timestamp": "2026-01-01T00:00:00Z",
               "body": {"id": "o", "traceId": "t", "type": "GENERATION", "model": "m", "environment": "prod",
                        "usage": {"promptTokens": 2, "completionTokens": 3}}}),
        json!({"id": "2", "type": "agent-create", "timestamp": "2026-01-01T00:00:01Z",
               "body": {"id": "a", "traceId": "t", "environment": "Langfuse-Prod", "endTime": "2025-12-31T00:00:00Z"}}),
    ];
    let out = convert(&batch);
    let rows = &out.groups[0].rows;
    assert_eq!(rows[0].r#type, "GENERATION");
    assert_eq!(
        rows[0].environment, "default",
        "observation-* bodies have no environment"
    );
    assert_eq!(rows[0].provided_usage_details["total"], 5);
    assert_eq!(rows[1].r#type, "AGENT");
    assert_eq!(rows[1].environment, "prod");
    assert_eq!(
        rows[1].end_time_us,
        Some(rows[1].start_time_us),
        "end clamped to start"
    );
}

/// Scores join their own trace's group (its sampling decision and Kafka key), wherever they
/// sit in the batch; session and dataset-run scores stay outside the groups.
#[test]
fn scores_travel_with_their_own_trace() {
    let event = |id: &str, kind: &str, body: Value| json!({"id": id, "type": kind, "timestamp": "2026-11-27T12:00:00Z", "body": body});
    let batch = vec![
        event("a", "trace-create", json!({"id": "trace-a", "name": "a"})),
        event(
            "sb",
            "score-create",
            json!({"id": "score-b", "traceId": "trace-b", "name": "q", "value": 1}),
        ),
        event(
            "sa",
            "score-create",
            json!({"id": "score-a", "traceId": "trace-a", "name": "q", "value": 1}),
        ),
        event(
            "ss",
            "score-create",
            json!({"id": "score-s", "sessionId": "session-1", "name": "q", "value": 1}),
        ),
    ];
    let out = convert(&batch);
    assert!(out.outcomes.iter().all(|(_, o)| *o == Outcome::Accepted));
    let scores_of = |trace: &str| -> Vec<&str> {
        out.groups
            .iter()
            .filter(|g| g.trace_id == trace)
            .flat_map(|g| g.scores.iter().map(|s| s.id.as_str()))
            .collect()
    };
    assert_eq!(scores_of("trace-a"), ["score-a"]);
    assert_eq!(scores_of("trace-b"), ["score-b"]);
    assert_eq!(out.scores.len(), 1);
    assert_eq!(out.scores[0].id, "score-s");
}
