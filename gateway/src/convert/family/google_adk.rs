//! Google Agent Development Kit (scope `gcp.vertex.agent`): request/response and tool call
//! blobs in `gcp.vertex.agent.*`. Reference langfuse-otel.md §3.9, §3.11.

use serde_json::Value;

use crate::convert::vocab::content::Io;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

const SCOPE: &str = "gcp.vertex.agent";

/// §3.9 rule 8: Google ADK's request/response blobs, else its tool call blobs (`"{}"` counts
/// as empty).
pub fn io(view: &SpanView) -> Option<Io> {
    let get = |k: &str| view.attrs.present(k).filter(|v| v.as_str() != Some("{}"));
    let input =
        get("gcp.vertex.agent.llm_request").or_else(|| get("gcp.vertex.agent.tool_call_args"));
    let output =
        get("gcp.vertex.agent.llm_response").or_else(|| get("gcp.vertex.agent.tool_response"));
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}

/// Google ADK reports cached prompt tokens only inside its response blob.
pub fn cached_tokens(view: &SpanView) -> Option<Value> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let response = value::as_object(&view.attrs.present("gcp.vertex.agent.llm_response")?)?;
    response
        .get("usage_metadata")?
        .get("cached_content_token_count")
        .cloned()
}
