//! Trace-level fields across one export request (beyond Langfuse, reference §3.3 and
//! genai-semconv §8.9). Langfuse's events path takes trace name, user, session, tags, release
//! and public from each span's *own* attributes, so a trace whose root span is exported later
//! or filtered out has none of them, and `gen_ai.conversation.id` on a child never reaches the
//! trace. Here a value found on any span of the trace is copied onto every row of that trace
//! in the request (so is an explicit `langfuse.trace.input` / `.output`): root spans first, then the others in request order.

use std::collections::HashSet;

use spanbridge_proto::{EventRow, TraceFields};

/// What the trace-level reconciliation needs from a span besides its row.
#[derive(Debug, Default, Clone)]
pub struct TraceHints {
    pub is_root: bool,
    /// `langfuse.trace.name` on this span.
    pub explicit_name: Option<String>,
    /// A workflow name (OpenLLMetry, semconv) on this span.
    pub workflow_name: Option<String>,
    /// A weak name (agent name, Vercel function id) for traces without a root.
    pub fallback_name: Option<String>,
}

/// Reconciles the rows of one trace in place (`rows` and `hints` are parallel) and returns the
/// trace-level fields this request knows, for the sink to spread over rows of other requests
/// (DESIGN.md "Assembly"). The rows keep their own copies so that sinks without assembly and
/// readers of single requests see the same values as before.
pub fn reconcile(rows: &mut [EventRow], hints: &[TraceHints]) -> TraceFields {
    // Root spans first, then the rest, each group in request order.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| !hints[i].is_root);

    let first = |pick: &dyn Fn(usize) -> Option<String>| {
        order
            .iter()
            .find_map(|&i| pick(i).filter(|s| !s.is_empty()))
    };
    let name = first(&|i| hints[i].explicit_name.clone())
        .or_else(|| first(&|i| hints[i].workflow_name.clone()))
        .or_else(|| first(&|i| hints[i].is_root.then(|| rows[i].name.clone())))
        .or_else(|| first(&|i| hints[i].fallback_name.clone()))
        .unwrap_or_default();
    let user_id = first(&|i| Some(rows[i].user_id.clone())).unwrap_or_default();
    let session_id = first(&|i| Some(rows[i].session_id.clone())).unwrap_or_default();
    let release = first(&|i| Some(rows[i].release.clone()));
    let trace_input = first(&|i| Some(rows[i].trace_input.clone())).unwrap_or_default();
    let trace_output = first(&|i| Some(rows[i].trace_output.clone())).unwrap_or_default();
    let public = rows.iter().any(|r| r.public);
    // Union in first-seen order; the set keeps it linear in the number of tags.
    let mut tags: Vec<String> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for &i in &order {
        for tag in &rows[i].tags {
            if seen.insert(tag) {
                tags.push(tag.clone());
            }
        }
    }

    let fields = trace_fields(rows, hints, &name, &tags);
    for row in rows.iter_mut() {
        row.trace_name.clone_from(&name);
        row.user_id.clone_from(&user_id);
        row.session_id.clone_from(&session_id);
        row.tags.clone_from(&tags);
        row.public = public;
        row.trace_input.clone_from(&trace_input);
        row.trace_output.clone_from(&trace_output);
        if let Some(release) = release.as_ref().filter(|_| row.release.is_empty()) {
            row.release.clone_from(release);
        }
    }
    fields
}

/// The request's trace-level values as a piece: only non-empty values are present. They count
/// as the root's (`from_root`) when the request holds the root span or an explicit
/// `langfuse.trace.name`, as Langfuse lets explicit trace attributes win; their event time is
/// the latest end of the spans that gave them.
fn trace_fields(
    rows: &[EventRow],
    hints: &[TraceHints],
    name: &str,
    tags: &[String],
) -> TraceFields {
    let present = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    let first = |pick: fn(&EventRow) -> &str| {
        rows.iter()
            .map(pick)
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let gives_fields = |row: &EventRow, hint: &TraceHints| {
        hint.is_root
            || hint.explicit_name.is_some()
            || !row.user_id.is_empty()
            || !row.session_id.is_empty()
            || !row.tags.is_empty()
            || !row.trace_input.is_empty()
            || !row.trace_output.is_empty()
            || row.public
    };
    let end = |row: &EventRow| row.end_time_us.unwrap_or(row.start_time_us);
    let event_time_us = rows
        .iter()
        .zip(hints)
        .filter(|(row, hint)| gives_fields(row, hint))
        .map(|(row, _)| end(row))
        .max()
        .or_else(|| rows.iter().map(end).max())
        .unwrap_or_default();
    TraceFields {
        name: present(name),
        user_id: first(|r| &r.user_id),
        session_id: first(|r| &r.session_id),
        tags: tags.to_vec(),
        release: first(|r| &r.release),
        public: rows.iter().any(|r| r.public).then_some(true),
        input: first(|r| &r.trace_input),
        output: first(|r| &r.trace_output),
        from_root: hints
            .iter()
            .any(|h| h.is_root || h.explicit_name.as_deref().is_some_and(|n| !n.is_empty())),
        event_time_us,
        ..Default::default()
    }
}
