//! Behaviour tests of `convert` on small OTLP/JSON requests. The golden files
//! (gateway/tests/golden.rs) cover whole instrumentations; these pin single rules.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Value, json};
use spanbridge_proto::EventRow;

use super::convert;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn span(span_id: &str, parent: &str, attributes: Value) -> Value {
    json!({
        "traceId": TRACE, "spanId": span_id, "parentSpanId": parent, "name": format!("span-{span_id}"),
        "startTimeUnixNano": "1786003200000000000", "endTimeUnixNano": "1786003201500000000",
        "attributes": attributes,
    })
}

fn attr(key: &str, value: Value) -> Value {
    let typed = match value {
        Value::String(s) => json!({"stringValue": s}),
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n}),
        other => panic!("unsupported test value {other}"),
    };
    json!({"key": key, "value": typed})
}

fn request(resource: Value, scope: Value, spans: Vec<Value>) -> ExportTraceServiceRequest {
    let body = json!({"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"scope": scope, "spans": spans}]}]});
    serde_json::from_value(body).expect("test request is valid OTLP/JSON")
}

fn rows(request: &ExportTraceServiceRequest) -> Vec<EventRow> {
    convert(request, 42)
        .traces
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .collect()
}

fn metadata(row: &EventRow, name: &str) -> Option<String> {
    row.metadata_names
        .iter()
        .position(|n| n == name)
        .map(|i| row.metadata_values[i].clone())
}

#[test]
fn ids_are_lowercase_hex_and_empty_parent_is_root() {
    let req = request(
        json!([]),
        json!({}),
        vec![span("00f067aa0ba902b7", "", json!([]))],
    );
    let converted = convert(&req, 0);
    assert_eq!(converted.traces.len(), 1);
    let (trace_id, rows) = &converted.traces[0];
    assert_eq!(trace_id, TRACE);
    assert_eq!(rows[0].span_id, "00f067aa0ba902b7");
    assert_eq!(rows[0].parent_span_id, "");
    assert_eq!(rows[0].source, "otel");
    assert_eq!(rows[0].r#type, "SPAN");
    assert_eq!(rows[0].level, "DEFAULT");
    assert_eq!(rows[0].environment, "default");
    assert_eq!(
        rows[0].trace_name, "span-00f067aa0ba902b7",
        "root span names the trace"
    );
}

#[test]
fn invalid_ids_reject_only_that_span() {
    let mut zero_trace = span("00f067aa0ba902b7", "", json!([]));
    zero_trace["traceId"] = json!("00000000000000000000000000000000");
    let short_span = span("00f067aa", "", json!([]));
    let good = span("1111111111111111", "", json!([]));
    let converted = convert(
        &request(json!([]), json!({}), vec![zero_trace, short_span, good]),
        0,
    );
    assert_eq!(converted.rejected_spans, 2);
    assert!(
        converted.rejection_message.contains("trace id"),
        "{}",
        converted.rejection_message
    );
    assert!(
        converted.rejection_message.contains("span id"),
        "{}",
        converted.rejection_message
    );
    assert_eq!(converted.traces[0].1.len(), 1);
}

#[test]
fn missing_times_fall_back() {
    let mut only_end = span("00f067aa0ba902b7", "", json!([]));
    only_end
        .as_object_mut()
        .map(|o| o.remove("startTimeUnixNano"));
    let mut none = span("1111111111111111", "", json!([]));
    none.as_object_mut().map(|o| {
        o.remove("startTimeUnixNano");
        o.remove("endTimeUnixNano")
    });
    let rows = rows(&request(json!([]), json!({}), vec![only_end, none]));
    assert_eq!(rows[0].start_time_us, 1_786_003_201_500_000);
    assert_eq!(rows[0].end_time_us, Some(1_786_003_201_500_000));
    assert_eq!(rows[1].start_time_us, 42);
    assert_eq!(rows[1].end_time_us, Some(42));
}

#[test]
fn type_priority_follows_langfuse() {
    let spans = vec![
        span(
            "0000000000000001",
            "",
            json!([
                attr("openinference.span.kind", json!("RETRIEVER")),
                attr("gen_ai.operation.name", json!("chat"))
            ]),
        ),
        span(
            "0000000000000002",
            "",
            json!([
                attr("gen_ai.operation.name", json!("embeddings")),
                attr("gen_ai.request.model", json!("m"))
            ]),
        ),
        span(
            "0000000000000003",
            "",
            json!([attr("gen_ai.request.model", json!("m"))]),
        ),
        span(
            "0000000000000004",
            "",
            json!([
                attr("langfuse.observation.type", json!("SPAN")),
                attr("gen_ai.tool.name", json!("t"))
            ]),
        ),
    ];
    let types: Vec<String> = rows(&request(json!([]), json!({}), spans))
        .into_iter()
        .map(|r| r.r#type)
        .collect();
    assert_eq!(types, ["RETRIEVER", "EMBEDDING", "GENERATION", "TOOL"]);
}

#[test]
fn cached_and_reasoning_tokens_are_exclusive_buckets() {
    let attrs = json!([
        attr("gen_ai.operation.name", json!("chat")),
        attr("gen_ai.usage.input_tokens", json!(1000)),
        attr("gen_ai.usage.output_tokens", json!(300)),
        attr("gen_ai.usage.cache_read.input_tokens", json!(600)),
        attr("gen_ai.usage.cache_write.input_tokens", json!(100)),
        attr("gen_ai.usage.reasoning.output_tokens", json!(200)),
    ]);
    let row = &rows(&request(
        json!([]),
        json!({}),
        vec![span("00f067aa0ba902b7", "", attrs)],
    ))[0];
    let usage = &row.provided_usage_details;
    assert_eq!(usage.get("input"), Some(&300));
    assert_eq!(usage.get("input_cached_tokens"), Some(&600));
    assert_eq!(usage.get("input_cache_creation"), Some(&100));
    assert_eq!(usage.get("output"), Some(&100));
    assert_eq!(usage.get("output_reasoning_tokens"), Some(&200));
}

#[test]
fn agent_rollup_usage_is_not_counted_again() {
    let attrs = json!([
        attr("gen_ai.operation.name", json!("invoke_agent")),
        attr("gen_ai.request.model", json!("gpt-4o")),
        attr("gen_ai.usage.input_tokens", json!(10)),
    ]);
    let row = &rows(&request(
        json!([]),
        json!({}),
        vec![span("00f067aa0ba902b7", "", attrs)],
    ))[0];
    assert_eq!(row.r#type, "AGENT");
    assert!(row.provided_usage_details.is_empty());
    assert_eq!(row.provided_model_name, "");
    assert_eq!(
        metadata(row, "spanbridge.rollup_usage.input").as_deref(),
        Some("10")
    );
}

/// Beyond Langfuse: trace fields on a child reach every row of the trace, and
/// `gen_ai.conversation.id` on a child sets the session.
#[test]
fn trace_fields_from_any_span_reach_every_row() {
    let spans = vec![
        span(
            "0000000000000002",
            "0000000000000001",
            json!([
                attr("gen_ai.conversation.id", json!("conv-1")),
                attr("langfuse.trace.tags", json!("a,b"))
            ]),
        ),
        span(
            "0000000000000003",
            "0000000000000001",
            json!([
                attr("user.id", json!("u-1")),
                attr("langfuse.trace.name", json!("checkout"))
            ]),
        ),
    ];
    let rows = rows(&request(json!([]), json!({}), spans));
    for row in &rows {
        assert_eq!(row.session_id, "conv-1");
        assert_eq!(row.user_id, "u-1");
        assert_eq!(row.trace_name, "checkout");
        assert_eq!(row.tags, ["a", "b"]);
    }
}

#[test]
fn openllmetry_association_properties_and_workflow_name() {
    let spans = vec![span(
        "0000000000000002",
        "0000000000000001",
        json!([
            attr("traceloop.association.properties.user_id", json!("u-7")),
            attr("traceloop.association.properties.session_id", json!("s-7")),
            attr("traceloop.association.properties.tenant", json!("acme")),
            attr("traceloop.workflow.name", json!("joke_workflow")),
            attr("llm.usage.total_tokens", json!(46)),
        ]),
    )];
    let row = &rows(&request(json!([]), json!({}), spans))[0];
    assert_eq!(
        (row.user_id.as_str(), row.session_id.as_str()),
        ("u-7", "s-7")
    );
    assert_eq!(row.trace_name, "joke_workflow");
    assert_eq!(metadata(row, "tenant").as_deref(), Some("acme"));
    assert_eq!(row.provided_usage_details.get("total"), Some(&46));
}

#[test]
fn unparseable_content_is_flagged_not_dropped() {
    let attrs = json!([
        attr("langfuse.observation.metadata", json!("{not json")),
        attr(
            "langfuse.observation.usage_details",
            json!("{also not json")
        ),
        attr("langfuse.observation.input", json!("{\"cut off")),
        attr("gen_ai.usage.input_tokens", json!(5)),
    ]);
    let row = &rows(&request(
        json!([]),
        json!({}),
        vec![span("00f067aa0ba902b7", "", attrs)],
    ))[0];
    assert_eq!(row.input, "{\"cut off", "raw text is kept");
    assert_eq!(
        row.provided_usage_details.get("input"),
        Some(&5),
        "falls through to gen_ai.usage"
    );
    let warnings = metadata(row, "spanbridge.conversion_warnings").unwrap_or_default();
    assert!(warnings.contains("usage_details"), "{warnings}");
    assert!(
        warnings.contains("langfuse.observation.metadata"),
        "{warnings}"
    );
}

#[test]
fn environment_and_service_fields() {
    let resource = json!([
        attr("service.name", json!("api")),
        attr("service.version", json!("1.4.2")),
        attr("deployment.environment.name", json!("Langfuse-Staging")),
        attr("telemetry.sdk.language", json!("python")),
    ]);
    let row = &rows(&request(
        resource,
        json!({"name": "my.scope", "version": "0.1"}),
        vec![span("00f067aa0ba902b7", "", json!([]))],
    ))[0];
    assert_eq!(row.environment, "staging");
    assert_eq!(row.version, "1.4.2");
    assert_eq!(
        (
            row.service_name.as_str(),
            row.scope_name.as_str(),
            row.telemetry_sdk_language.as_str()
        ),
        ("api", "my.scope", "python")
    );
    assert_eq!(
        metadata(row, "resourceAttributes.service.name").as_deref(),
        Some("api")
    );
}

#[test]
fn metadata_sections_keep_their_place_and_yield_to_user_keys() {
    let resource = json!([
        attr("service.name", json!("svc")),
        attr("langfuse.trace.metadata.team", json!("core"))
    ]);
    let scope = json!({"name": "app", "version": "1.2"});
    let attrs = json!([
        attr("gen_ai.request.model", json!("gpt-4o")),
        attr("gen_ai.tool.definitions", json!("[{\"name\":\"search\"}]")),
        attr("temperature", json!(0.5)),
        attr("langfuse.observation.metadata.scope", json!("mine")),
    ]);
    let req = request(resource, scope, vec![span("00f067aa0ba902b7", "", attrs)]);
    let row = &rows(&req)[0];
    let pairs: Vec<(&str, &str)> = row
        .metadata_names
        .iter()
        .map(String::as_str)
        .zip(row.metadata_values.iter().map(String::as_str))
        .collect();
    assert_eq!(
        pairs,
        [
            ("team", "core"),
            ("attributes.gen_ai.request.model", "gpt-4o"),
            ("attributes.temperature", "0.5"),
            ("resourceAttributes.langfuse.trace.metadata.team", "core"),
            ("resourceAttributes.service.name", "svc"),
            ("scope", "mine"),
        ],
        "the tool definitions moved to the input; the user's `scope` replaced the section in place"
    );
    assert!(row.input.contains("search"), "tools merged into the input");
}

#[test]
fn trace_fields_travel_apart_with_root_provenance_and_event_time() {
    // Children first: no root, no trace attributes → nothing present, not from the root.
    let children = request(
        json!([]),
        json!({}),
        vec![span("00f067aa0ba902b8", "00f067aa0ba902b7", json!([]))],
    );
    let converted = convert(&children, 0);
    let fields = &converted.trace_fields[0];
    assert!(!fields.from_root);
    assert_eq!(fields.name, None);
    assert_eq!(fields.user_id, None);
    assert_eq!(fields.event_time_us, 1_786_003_201_500_000);

    // The root later: its explicit trace attributes, from the root.
    let root = request(
        json!([]),
        json!({}),
        vec![span(
            "00f067aa0ba902b7",
            "",
            json!([
                attr("langfuse.trace.name", json!("chat")),
                attr("user.id", json!("u-1")),
                attr("session.id", json!("s-1")),
                attr("langfuse.trace.tags", json!("[\"a\",\"b\"]")),
            ]),
        )],
    );
    let converted = convert(&root, 0);
    let fields = &converted.trace_fields[0];
    assert!(fields.from_root);
    assert_eq!(fields.name.as_deref(), Some("chat"));
    assert_eq!(fields.user_id.as_deref(), Some("u-1"));
    assert_eq!(fields.session_id.as_deref(), Some("s-1"));
    assert_eq!(fields.tags, ["a", "b"]);
    // The rows keep their own copies, as before assembly.
    assert_eq!(converted.traces[0].1[0].user_id, "u-1");
}

/// A Langfuse SDK span: scope `langfuse-sdk` at `version`, resource language `language`.
fn langfuse_sdk_rows(language: &str, version: &str, attributes: Value) -> Vec<EventRow> {
    rows(&request(
        json!([attr("telemetry.sdk.language", json!(language))]),
        json!({"name": "langfuse-sdk", "version": version}),
        vec![span("00f067aa0ba902b7", "", attributes)],
    ))
}

fn encoded_metadata_attributes() -> Value {
    json!([
        attr("langfuse.observation.metadata.s", json!("\"abc\"")),
        attr("langfuse.observation.metadata.n", json!("1")),
        attr("langfuse.observation.metadata.b", json!("true")),
        attr("langfuse.observation.metadata.obj", json!("{\"k\":\"v\"}")),
        attr("langfuse.trace.metadata.team", json!("\"search\"")),
        attr("langfuse.trace.metadata.langfuse_user_id", json!("\"u-1\"")),
    ])
}

#[test]
fn python_sdk_5_metadata_values_are_json_decoded() {
    let row = &langfuse_sdk_rows("python", "5.2.0", encoded_metadata_attributes())[0];
    assert_eq!(metadata(row, "s").as_deref(), Some("abc"));
    assert_eq!(metadata(row, "n").as_deref(), Some("1"));
    assert_eq!(metadata(row, "b").as_deref(), Some("true"));
    assert_eq!(metadata(row, "obj.k").as_deref(), Some("v"));
    assert_eq!(metadata(row, "team").as_deref(), Some("search"));
    assert_eq!(
        row.user_id, "u-1",
        "langfuse_user_id metadata is decoded too"
    );
}

#[test]
fn older_and_other_sdks_metadata_strings_stay_as_sent() {
    for (language, version, scope) in [
        ("python", "4.0.1", "langfuse-sdk"),
        ("nodejs", "5.11.1", "langfuse-sdk"),
        ("python", "5.2.0", "my-app"),
        ("python", "", "langfuse-sdk"),
    ] {
        let rows = rows(&request(
            json!([attr("telemetry.sdk.language", json!(language))]),
            json!({"name": scope, "version": version}),
            vec![span("00f067aa0ba902b7", "", encoded_metadata_attributes())],
        ));
        let row = &rows[0];
        let case = format!("{language} {scope} {version}");
        assert_eq!(metadata(row, "s").as_deref(), Some("\"abc\""), "{case}");
        assert_eq!(
            metadata(row, "team").as_deref(),
            Some("\"search\""),
            "{case}"
        );
        assert_eq!(row.user_id, "\"u-1\"", "{case}");
    }
}

#[test]
fn python_sdk_5_text_that_is_not_json_stays_as_sent() {
    let row = &langfuse_sdk_rows(
        "python",
        "5.0.0",
        json!([attr("langfuse.observation.metadata.raw", json!("not json"))]),
    )[0];
    assert_eq!(metadata(row, "raw").as_deref(), Some("not json"));
}

fn event(name: &str, attributes: Value) -> Value {
    json!({"name": name, "timeUnixNano": "1786003200500000000", "attributes": attributes})
}

#[test]
fn operation_details_events_merge_in_order() {
    let details = "gen_ai.client.inference.operation.details";
    let mut chat = span(
        "00f067aa0ba902b7",
        "",
        json!([attr("gen_ai.operation.name", json!("chat"))]),
    );
    chat["events"] = json!([
        event(
            details,
            json!([attr(
                "gen_ai.system_instructions",
                json!(r#"[{"type":"text","content":"Be brief."}]"#)
            )])
        ),
        event(
            details,
            json!([attr(
                "gen_ai.input.messages",
                json!(r#"[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]"#)
            )])
        ),
        event(
            details,
            json!([attr(
                "gen_ai.output.messages",
                json!(
                    r#"[{"role":"assistant","parts":[{"type":"tool_call","name":"get_weather","id":"c1","arguments":{"city":"Paris"}}]}]"#
                )
            )])
        ),
    ]);
    let row = &rows(&request(json!([]), json!({}), vec![chat]))[0];
    let input: Value = serde_json::from_str(&row.input).unwrap();
    assert_eq!(input[0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(input[1]["role"], "user");
    let output: Value = serde_json::from_str(&row.output).unwrap();
    assert_eq!(output[0]["parts"][0]["name"], "get_weather");
    assert_eq!(row.tool_call_names, ["get_weather"]);
}

#[test]
fn a_tool_span_keeps_its_call_result_over_its_events() {
    let details = "gen_ai.client.inference.operation.details";
    let mut tool = span(
        "00f067aa0ba902b7",
        "",
        json!([
            attr("gen_ai.operation.name", json!("execute_tool")),
            attr("gen_ai.tool.name", json!("get_weather")),
            attr("gen_ai.tool.call.arguments", json!(r#"{"city":"Paris"}"#)),
            attr("gen_ai.tool.call.result", json!(r#"{"forecast":"sunny"}"#)),
        ]),
    );
    tool["events"] = json!([event(
        details,
        json!([attr(
            "gen_ai.output.messages",
            json!(r#"[{"role":"tool","parts":[]}]"#)
        )])
    )]);
    let row = &rows(&request(json!([]), json!({}), vec![tool]))[0];
    assert_eq!(row.r#type, "TOOL");
    assert_eq!(row.input, r#"{"city":"Paris"}"#);
    assert_eq!(row.output, r#"{"forecast":"sunny"}"#);
}

#[test]
fn mlflow_model_and_token_usage_are_decoded() {
    let row = &rows(&request(
        json!([]),
        json!({"name": "mlflow.tracing.provider"}),
        vec![span(
            "00f067aa0ba902b7",
            "",
            json!([
                attr("mlflow.spanType", json!("\"CHAT_MODEL\"")),
                attr("model", json!("\"gpt-4o-mini\"")),
                attr(
                    "mlflow.chat.tokenUsage",
                    json!(r#"{"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}"#)
                ),
            ]),
        )],
    ))[0];
    assert_eq!(row.r#type, "GENERATION");
    assert_eq!(row.provided_model_name, "gpt-4o-mini");
    assert_eq!(row.provided_usage_details.get("input"), Some(&40));
    assert_eq!(row.provided_usage_details.get("output"), Some(&12));
    assert_eq!(row.provided_usage_details.get("total"), Some(&52));
    assert_eq!(
        metadata(row, "attributes.mlflow.spanType").as_deref(),
        Some("CHAT_MODEL")
    );
}

#[test]
fn a_model_attribute_of_another_client_keeps_its_quotes() {
    let row = &rows(&request(
        json!([]),
        json!({"name": "my-app"}),
        vec![span(
            "00f067aa0ba902b7",
            "",
            json!([attr("model", json!("\"quoted\""))]),
        )],
    ))[0];
    assert_eq!(row.provided_model_name, "\"quoted\"");
}

#[test]
fn openinference_agent_token_counts_are_a_rollup_and_tool_name_names_tools() {
    let agent = span(
        "00f067aa0ba902b7",
        "",
        json!([
            attr("openinference.span.kind", json!("AGENT")),
            attr("llm.token_count.prompt", json!(80)),
            attr("llm.token_count.completion", json!(24)),
        ]),
    );
    let tool = span(
        "1111111111111111",
        "00f067aa0ba902b7",
        json!([
            attr("openinference.span.kind", json!("TOOL")),
            attr("tool.name", json!("get_weather")),
        ]),
    );
    let rows = rows(&request(json!([]), json!({}), vec![agent, tool]));
    assert!(
        rows[0].provided_usage_details.is_empty(),
        "{:?}",
        rows[0].provided_usage_details
    );
    assert_eq!(
        metadata(&rows[0], "spanbridge.rollup_usage.input").as_deref(),
        Some("80")
    );
    assert_eq!(rows[1].name, "get_weather");
}

#[test]
fn llama_index_llm_messages_beat_rendered_values() {
    let llm = span(
        "00f067aa0ba902b7",
        "",
        json!([
            attr("openinference.span.kind", json!("LLM")),
            attr(
                "input.value",
                json!("{\"messages\": [\"ChatMessage(role=...)\"]}")
            ),
            attr("output.value", json!("assistant: None")),
            attr("llm.input_messages.0.message.role", json!("user")),
            attr("llm.input_messages.0.message.content", json!("Hi")),
            attr("llm.output_messages.0.message.role", json!("assistant")),
            attr(
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
                json!("get_weather")
            ),
        ]),
    );
    let scope = json!({"name": "openinference.instrumentation.llama_index"});
    let row = &rows(&request(json!([]), scope, vec![llm.clone()]))[0];
    assert!(row.input.contains("\"Hi\""), "{}", row.input);
    assert!(row.output.contains("get_weather"), "{}", row.output);
    // Other OpenInference instrumentations keep Langfuse's order: the values first.
    let other = json!({"name": "openinference.instrumentation.openai"});
    let row = &rows(&request(json!([]), other, vec![llm]))[0];
    assert_eq!(row.output, "assistant: None");
}
