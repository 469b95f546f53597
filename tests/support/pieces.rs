//! The spans of one trace as an OTel SDK exports them in separate requests (the assembly
//! stories): a root with explicit trace attributes and a generation without.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::{client, int_attr, span, string_attr, test_auth};

pub const ROOT: &str = "1111111111111111";
pub const GENERATION: &str = "2222222222222222";

/// The root span of an agent run with its explicit trace attributes, ending 1 s after the
/// generation.
pub fn root(trace_id: &str) -> Span {
    let mut root = span(
        trace_id,
        ROOT,
        "",
        "agent-run",
        vec![
            string_attr("langfuse.trace.name", "support-chat"),
            string_attr("user.id", "user-42"),
            string_attr("session.id", "session-7"),
            string_attr("langfuse.trace.tags", r#"["beta","support"]"#),
        ],
    );
    root.end_time_unix_nano += 1_000_000_000;
    root
}

/// A chat generation with model and usage and no trace attributes (as OTel GenAI
/// instrumentations export it, before the root ends).
pub fn generation(trace_id: &str) -> Span {
    span(
        trace_id,
        GENERATION,
        ROOT,
        "chat gpt-4o",
        vec![
            string_attr("gen_ai.operation.name", "chat"),
            string_attr("gen_ai.request.model", "gpt-4o"),
            int_attr("gen_ai.usage.input_tokens", 120),
            int_attr("gen_ai.usage.output_tokens", 30),
        ],
    )
}

/// Posts one OTLP/HTTP protobuf request to `traces_url`; it must be accepted.
pub async fn export(traces_url: &str, request: ExportTraceServiceRequest) {
    let response = client()
        .post(traces_url)
        .header("content-type", "application/x-protobuf")
        .header("authorization", test_auth())
        .body(prost::Message::encode_to_vec(&request))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status(), 200, "export");
}
