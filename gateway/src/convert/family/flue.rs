//! Flue (scope `@flue/opentelemetry`): `flue.*` attributes for turns, tools, tasks and
//! workflows. Reference langfuse-otel.md §3.4, §3.9.

use crate::convert::vocab::content::Io;
use crate::convert::vocab::value;
use crate::convert::vocab::view::SpanView;

const SCOPE: &str = "@flue/opentelemetry";

/// Flue tool calls are tools, tasks are agents (§3.4 prio 8).
pub fn span_type(view: &SpanView) -> Option<&'static str> {
    let a = &view.attrs;
    if a.present("flue.tool.name").is_some() || a.present("flue.tool.call_id").is_some() {
        Some("TOOL")
    } else if a.present("flue.task.id").is_some() || a.present("flue.task.agent").is_some() {
        Some("AGENT")
    } else {
        None
    }
}

/// §3.9 rule 4 (scope `@flue/opentelemetry`), values JSON-parsed when possible.
pub fn io(view: &SpanView) -> Option<Io> {
    if view.scope_name() != SCOPE {
        return None;
    }
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| view.attrs.present(k))
            .map(|v| value::json_or_self(&v))
    };
    let input = first(&[
        "flue.turn.input",
        "flue.tool.arguments",
        "flue.task.prompt",
        "flue.workflow.payload",
    ]);
    let output = first(&[
        "flue.turn.output",
        "flue.tool.result",
        "flue.task.result",
        "flue.operation.result",
        "flue.workflow.result",
    ]);
    (input.is_some() || output.is_some()).then_some(Io { input, output })
}
