//! The spans of one trace as an OTel SDK exports them in separate requests (the assembly
//! stories): a root with explicit trace attributes and a generation without.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::{agent_run, chat_generation, client, string_attr, test_auth};

pub const ROOT: &str = "1111111111111111";
pub const GENERATION: &str = "2222222222222222";

/// The root span of an agent run with its explicit trace attributes, ending 1 s after the
/// generation.
pub fn root(trace_id: &str) -> Span {
    let mut root = agent_run(trace_id);
    root.attributes
        .push(string_attr("langfuse.trace.tags", r#"["beta","support"]"#));
    root.end_time_unix_nano += 1_000_000_000;
    root
}

/// A chat generation with model and usage and no trace attributes (as OTel GenAI
/// instrumentations export it, before the root ends).
pub fn generation(trace_id: &str) -> Span {
    chat_generation(trace_id)
}

/// Posts one OTLP/HTTP protobuf request to `traces_url`; it must be accepted (200).
pub async fn export(
    traces_url: &str,
    request: impl std::borrow::Borrow<ExportTraceServiceRequest>,
) {
    let response = client()
        .post(traces_url)
        .header("content-type", "application/x-protobuf")
        .header("authorization", test_auth())
        .body(prost::Message::encode_to_vec(request.borrow()))
        .send()
        .await
        .expect("POST /v1/traces");
    let status = response.status();
    assert_eq!(status, 200, "export: {:?}", response.text().await);
}
