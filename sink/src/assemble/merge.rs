//! The merge rules, pure (reference/langfuse-legacy.md §2.4, DESIGN.md "Assembly"): a later
//! piece's present fields replace earlier ones, metadata merges by key, tags union; for trace
//! fields the root's (or explicit trace attributes') values win over any other piece's.

use std::collections::HashSet;

use spanbridge_proto::{EventRow, PartialRow, TraceFields};

/// One merged trace-level value and where it came from.
#[derive(Debug, Clone, PartialEq)]
struct Sourced<T> {
    value: T,
    from_root: bool,
    event_time_us: i64,
}

/// A trace's fields merged from every piece seen so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedTrace {
    name: Option<Sourced<String>>,
    user_id: Option<Sourced<String>>,
    session_id: Option<Sourced<String>>,
    release: Option<Sourced<String>>,
    version: Option<Sourced<String>>,
    environment: Option<Sourced<String>>,
    input: Option<Sourced<String>>,
    output: Option<Sourced<String>>,
    public: Option<Sourced<bool>>,
    /// Union in first-seen order: tags are never removed.
    tags: Vec<String>,
}

/// Whether a piece's value replaces `current`: the root's values beat the others'; among
/// equals the later event wins (a tie goes to the piece that arrived later).
fn wins<T>(piece: &TraceFields, current: Option<&Sourced<T>>) -> bool {
    match current {
        None => true,
        Some(current) => match (piece.from_root, current.from_root) {
            (true, false) => true,
            (false, true) => false,
            _ => piece.event_time_us >= current.event_time_us,
        },
    }
}

/// Sets `slot` to the piece's value if it wins; true when the merged value changed (a newer
/// piece repeating the same value changes nothing).
fn merge_value<T: Clone + PartialEq>(
    slot: &mut Option<Sourced<T>>,
    value: &T,
    piece: &TraceFields,
) -> bool {
    if !wins(piece, slot.as_ref()) {
        return false;
    }
    let changed = slot.as_ref().is_none_or(|current| current.value != *value);
    *slot = Some(Sourced {
        value: value.clone(),
        from_root: piece.from_root,
        event_time_us: piece.event_time_us,
    });
    changed
}

fn merge_text(
    slot: &mut Option<Sourced<String>>,
    value: &Option<String>,
    piece: &TraceFields,
) -> bool {
    // An empty value counts as not sent: OTel attributes cannot clear a trace field.
    value
        .as_ref()
        .filter(|v| !v.is_empty())
        .is_some_and(|value| merge_value(slot, value, piece))
}

impl MergedTrace {
    /// Merges one piece's fields; true when any merged value changed (the trace's other rows
    /// must then be rewritten).
    pub fn apply(&mut self, piece: &TraceFields) -> bool {
        // Every field is merged: `|`, not `||`.
        let mut changed = merge_text(&mut self.name, &piece.name, piece)
            | merge_text(&mut self.user_id, &piece.user_id, piece)
            | merge_text(&mut self.session_id, &piece.session_id, piece)
            | merge_text(&mut self.release, &piece.release, piece)
            | merge_text(&mut self.version, &piece.version, piece)
            | merge_text(&mut self.environment, &piece.environment, piece)
            | merge_text(&mut self.input, &piece.input, piece)
            | merge_text(&mut self.output, &piece.output, piece);
        if let Some(public) = &piece.public {
            changed |= merge_value(&mut self.public, public, piece);
        }
        changed | union(&mut self.tags, &piece.tags)
    }

    /// Puts the merged trace fields on a row; true when the row changed. Release, version and
    /// environment are also the observation's own: they fill only empty ones.
    pub fn stamp(&self, row: &mut EventRow) -> bool {
        fn set(slot: &mut String, merged: &Option<Sourced<String>>) -> bool {
            match merged {
                Some(merged) if *slot != merged.value => {
                    slot.clone_from(&merged.value);
                    true
                }
                _ => false,
            }
        }
        fn fill(slot: &mut String, merged: &Option<Sourced<String>>) -> bool {
            slot.is_empty() && set(slot, merged)
        }
        let mut changed = set(&mut row.trace_name, &self.name)
            | set(&mut row.user_id, &self.user_id)
            | set(&mut row.session_id, &self.session_id)
            | set(&mut row.trace_input, &self.input)
            | set(&mut row.trace_output, &self.output)
            | fill(&mut row.release, &self.release)
            | fill(&mut row.version, &self.version)
            | fill(&mut row.environment, &self.environment);
        if let Some(public) = &self.public {
            changed |= row.public != public.value;
            row.public = public.value;
        }
        // The trace's tags first, then the row's own that are not among them.
        if !(self.tags.is_empty() && row.tags.is_empty()) {
            let mut tags = self.tags.clone();
            union(&mut tags, &row.tags);
            changed |= tags != row.tags;
            row.tags = tags;
        }
        changed
    }

    /// Rough heap size, for the cache's weigher.
    pub fn bytes(&self) -> usize {
        let text = |s: &Option<Sourced<String>>| s.as_ref().map_or(0, |s| s.value.len());
        text(&self.name)
            + text(&self.user_id)
            + text(&self.session_id)
            + text(&self.release)
            + text(&self.version)
            + text(&self.environment)
            + text(&self.input)
            + text(&self.output)
            + self.tags.iter().map(String::len).sum::<usize>()
    }
}

/// The trace fields that rows carry themselves: for batches of gateways that predate
/// assembly (no `TraceFields`) and for rows read back from the store, which were written with
/// the merged values of their time. A root row's values count as the root's.
pub fn fields_of_rows<'a>(rows: impl IntoIterator<Item = &'a EventRow>) -> Option<TraceFields> {
    let rows: Vec<&EventRow> = rows.into_iter().collect();
    let first = |pick: fn(&EventRow) -> &str| {
        rows.iter()
            .map(|r| pick(r))
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut tags = Vec::new();
    for row in &rows {
        union(&mut tags, &row.tags);
    }
    let fields = TraceFields {
        name: first(|r| &r.trace_name),
        user_id: first(|r| &r.user_id),
        session_id: first(|r| &r.session_id),
        input: first(|r| &r.trace_input),
        output: first(|r| &r.trace_output),
        public: rows.iter().any(|r| r.public).then_some(true),
        tags,
        from_root: rows.iter().any(|r| r.parent_span_id.is_empty()),
        event_time_us: rows
            .iter()
            .map(|r| r.end_time_us.unwrap_or(r.start_time_us))
            .max()?,
        ..Default::default()
    };
    Some(fields)
}

/// Appends the tags of `more` that `tags` lacks, keeping first-seen order; true when any was
/// appended.
fn union(tags: &mut Vec<String>, more: &[String]) -> bool {
    let before = tags.len();
    let mut seen: HashSet<&str> = tags.iter().map(String::as_str).collect();
    let mut added = Vec::new();
    for tag in more {
        if seen.insert(tag) {
            added.push(tag.clone());
        }
    }
    tags.extend(added);
    tags.len() != before
}

/// Merges flattened metadata by key: `later`'s values replace, other keys of `earlier` stay.
fn merge_metadata(
    names: &mut Vec<String>,
    values: &mut Vec<String>,
    later_names: &[String],
    later_values: &[String],
) {
    for (name, value) in later_names.iter().zip(later_values) {
        match names.iter().position(|n| n == name) {
            Some(i) => {
                if let Some(slot) = values.get_mut(i) {
                    slot.clone_from(value);
                }
            }
            None => {
                names.push(name.clone());
                values.push(value.clone());
            }
        }
    }
}

/// Every replaceable `EventRow` field by its proto name, as one list so the partial-row
/// rule and the fill-in rule cannot disagree. `$copy` is called with the field's name, and
/// the rule decides (by emptiness) whether to copy.
macro_rules! for_each_field {
    ($copy:ident) => {
        $copy!(
            parent_span_id,
            name,
            environment,
            version,
            release,
            level,
            status_message,
            trace_name,
            user_id,
            session_id,
            prompt_name,
            provided_model_name,
            model_parameters,
            input,
            output,
            experiment_id,
            experiment_name,
            experiment_description,
            experiment_dataset_id,
            experiment_item_id,
            experiment_item_expected_output,
            experiment_item_root_span_id,
            service_name,
            service_version,
            scope_name,
            scope_version,
            telemetry_sdk_language,
            telemetry_sdk_name,
            telemetry_sdk_version,
            source,
            trace_input,
            trace_output,
            provided_usage_details,
            provided_cost_details,
            tool_definitions,
            tool_calls,
            tool_call_names,
            experiment_metadata_names,
            experiment_metadata_values,
            experiment_item_metadata_names,
            experiment_item_metadata_values
        );
    };
}

/// Applies a partial row to the observation's newest version: each named field replaces the
/// stored one; `metadata_names` merges by key and `tags` unions. Unknown names are ignored
/// (a newer gateway may name fields this sink does not know). Returns the names applied.
pub fn apply_partial(row: &mut EventRow, piece: &PartialRow) -> Vec<String> {
    let Some(part) = piece.row.as_ref() else {
        return Vec::new();
    };
    let mut applied = Vec::new();
    for field in &piece.fields {
        let known = match field.as_str() {
            "metadata_names" | "metadata_values" => {
                merge_metadata(
                    &mut row.metadata_names,
                    &mut row.metadata_values,
                    &part.metadata_names,
                    &part.metadata_values,
                );
                true
            }
            "tags" => {
                union(&mut row.tags, &part.tags);
                true
            }
            "type" => {
                row.r#type.clone_from(&part.r#type);
                true
            }
            "start_time_us" => {
                row.start_time_us = part.start_time_us;
                true
            }
            "end_time_us" => {
                row.end_time_us = part.end_time_us;
                true
            }
            "completion_start_time_us" => {
                row.completion_start_time_us = part.completion_start_time_us;
                true
            }
            "prompt_version" => {
                row.prompt_version = part.prompt_version;
                true
            }
            "experiment_item_version_us" => {
                row.experiment_item_version_us = part.experiment_item_version_us;
                true
            }
            "public" => {
                row.public = part.public;
                true
            }
            "is_app_root" => {
                row.is_app_root = part.is_app_root;
                true
            }
            other => {
                let mut found = false;
                macro_rules! replace {
                    ($($f:ident),*) => { $( if other == stringify!($f) {
                        row.$f.clone_from(&part.$f);
                        found = true;
                    } )* };
                }
                for_each_field!(replace);
                found
            }
        };
        if known {
            applied.push(field.clone());
        }
    }
    applied
}

/// A whole row arriving over a version the sink already holds (a span after its log content,
/// a re-sent span): the new row's values win, and what it lacks (empty fields: not sent) is
/// kept from the held version, as Langfuse keeps absent fields; metadata merges by key, tags
/// union. Ids and times are the new row's.
pub fn fill_missing(row: &mut EventRow, held: &EventRow) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if row.$f.is_empty() && !held.$f.is_empty() {
            row.$f.clone_from(&held.$f);
        } )* };
    }
    for_each_field!(fill);
    // A batch-API `*-create` has no end until its `*-update`; a create re-sent or replayed after
    // the update must not take the end away.
    if row.end_time_us.is_none() {
        row.end_time_us = held.end_time_us;
    }
    if row.completion_start_time_us.is_none() {
        row.completion_start_time_us = held.completion_start_time_us;
    }
    if row.prompt_version.is_none() {
        row.prompt_version = held.prompt_version;
    }
    let (mut names, mut values) = (held.metadata_names.clone(), held.metadata_values.clone());
    merge_metadata(
        &mut names,
        &mut values,
        &row.metadata_names,
        &row.metadata_values,
    );
    (row.metadata_names, row.metadata_values) = (names, values);
    union(&mut row.tags, &held.tags);
}

/// A partial row whose span is unknown, stored as a row of its own so its content is never
/// lost: the piece's ids and named fields, its event time as the start, neutral defaults for
/// the rest. When the span arrives its row takes these fields in ([`fill_missing`]).
pub fn orphan_row(piece: &PartialRow) -> EventRow {
    let part = piece.row.clone().unwrap_or_default();
    // The piece's type and source, when it says (a batch-API `generation-update`), else a span
    // from OTLP.
    let or = |value: &str, default: &str| if value.is_empty() { default } else { value }.to_owned();
    let mut row = EventRow {
        trace_id: part.trace_id.clone(),
        span_id: part.span_id.clone(),
        parent_span_id: part.parent_span_id.clone(),
        start_time_us: piece.event_time_us,
        r#type: or(&part.r#type, "SPAN"),
        environment: "default".into(),
        level: "DEFAULT".into(),
        source: or(&part.source, "otel"),
        ..Default::default()
    };
    apply_partial(&mut row, piece);
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(from_root: bool, time: i64, name: &str, user: &str, tags: &[&str]) -> TraceFields {
        let present = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        TraceFields {
            name: present(name),
            user_id: present(user),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            from_root,
            event_time_us: time,
            ..Default::default()
        }
    }

    #[test]
    fn the_root_wins_over_later_pieces_and_the_latest_wins_among_others() {
        let mut trace = MergedTrace::default();
        assert!(trace.apply(&piece(false, 10, "child-guess", "u-old", &["a"])));
        assert!(trace.apply(&piece(false, 20, "", "u-new", &[])));
        let mut row = EventRow::default();
        trace.stamp(&mut row);
        assert_eq!(
            (row.trace_name.as_str(), row.user_id.as_str()),
            ("child-guess", "u-new")
        );
        // The root arrives with an earlier event time: it still wins.
        assert!(trace.apply(&piece(true, 5, "chat", "u-root", &["b"])));
        // A later non-root piece does not override the root's values.
        assert!(!trace.apply(&piece(false, 30, "other", "u-late", &[])));
        assert!(trace.stamp(&mut row));
        assert_eq!(row.trace_name, "chat");
        assert_eq!(row.user_id, "u-root");
        assert_eq!(row.tags, ["a", "b"], "tags union");
        // The same values again change nothing.
        assert!(!trace.apply(&piece(true, 40, "chat", "u-root", &["a"])));
        assert!(!trace.stamp(&mut row));
    }

    #[test]
    fn stamped_release_and_environment_fill_only_empty_ones() {
        let mut trace = MergedTrace::default();
        trace.apply(&TraceFields {
            release: Some("r2".into()),
            environment: Some("prod".into()),
            ..Default::default()
        });
        let mut own = EventRow {
            release: "r1".into(),
            environment: "staging".into(),
            ..Default::default()
        };
        trace.stamp(&mut own);
        assert_eq!(
            (own.release.as_str(), own.environment.as_str()),
            ("r1", "staging")
        );
        let mut bare = EventRow::default();
        trace.stamp(&mut bare);
        assert_eq!(
            (bare.release.as_str(), bare.environment.as_str()),
            ("r2", "prod")
        );
    }

    fn partial(fields: &[&str], row: EventRow) -> PartialRow {
        PartialRow {
            row: Some(row),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            event_time_us: 7_000,
        }
    }

    #[test]
    fn a_partial_row_replaces_named_fields_merges_metadata_by_key_and_unions_tags() {
        let mut row = EventRow {
            input: "old in".into(),
            output: "old out".into(),
            metadata_names: vec!["a".into(), "b".into()],
            metadata_values: vec!["1".into(), "2".into()],
            tags: vec!["x".into()],
            ..Default::default()
        };
        let applied = apply_partial(
            &mut row,
            &partial(
                &["output", "metadata_names", "tags", "no_such_field"],
                EventRow {
                    input: "ignored: not named".into(),
                    output: "new out".into(),
                    metadata_names: vec!["b".into(), "c".into()],
                    metadata_values: vec!["20".into(), "30".into()],
                    tags: vec!["y".into()],
                    ..Default::default()
                },
            ),
        );
        assert_eq!(applied, ["output", "metadata_names", "tags"]);
        assert_eq!(row.input, "old in");
        assert_eq!(row.output, "new out");
        assert_eq!(row.metadata_names, ["a", "b", "c"]);
        assert_eq!(row.metadata_values, ["1", "20", "30"]);
        assert_eq!(row.tags, ["x", "y"]);
    }

    #[test]
    fn a_span_after_its_orphan_content_keeps_the_content_it_lacks() {
        let orphan = orphan_row(&partial(
            &["input", "output"],
            EventRow {
                trace_id: "t".into(),
                span_id: "s".into(),
                input: "[{\"role\":\"user\"}]".into(),
                output: "hi".into(),
                ..Default::default()
            },
        ));
        assert_eq!(orphan.start_time_us, 7_000);
        assert_eq!(orphan.r#type, "SPAN");
        let mut span = EventRow {
            trace_id: "t".into(),
            span_id: "s".into(),
            start_time_us: 5_000,
            r#type: "GENERATION".into(),
            output: "span's own output".into(),
            provided_model_name: "gpt-4o".into(),
            ..Default::default()
        };
        fill_missing(&mut span, &orphan);
        assert_eq!(span.input, "[{\"role\":\"user\"}]", "kept from the content");
        assert_eq!(span.output, "span's own output", "the span's value wins");
        assert_eq!(span.r#type, "GENERATION");
        assert_eq!(span.start_time_us, 5_000);
    }

    #[test]
    fn rows_without_trace_fields_give_none_and_a_root_row_counts_as_the_root() {
        assert_eq!(fields_of_rows(&[]), None);
        let root = EventRow {
            trace_name: "chat".into(),
            start_time_us: 1,
            end_time_us: Some(9),
            ..Default::default()
        };
        let fields = fields_of_rows([&root]).unwrap_or_default();
        assert!(fields.from_root);
        assert_eq!(fields.name.as_deref(), Some("chat"));
        assert_eq!(fields.event_time_us, 9);
    }

    #[test]
    fn a_create_replayed_after_its_update_keeps_the_end_and_output() {
        let held = EventRow {
            span_id: "g".into(),
            end_time_us: Some(5),
            output: "answer".into(),
            input: "question".into(),
            ..Default::default()
        };
        let mut create = EventRow {
            span_id: "g".into(),
            input: "question".into(),
            ..Default::default()
        };
        fill_missing(&mut create, &held);
        assert_eq!(create.end_time_us, Some(5));
        assert_eq!(create.output, "answer");
    }

    #[test]
    fn an_orphan_takes_the_pieces_type_and_source() {
        let piece = PartialRow {
            row: Some(EventRow {
                trace_id: "t".into(),
                span_id: "g".into(),
                r#type: "GENERATION".into(),
                source: "ingestion-api".into(),
                output: "late".into(),
                ..Default::default()
            }),
            fields: vec!["output".into()],
            event_time_us: 7,
        };
        let row = orphan_row(&piece);
        assert_eq!(
            (row.r#type.as_str(), row.source.as_str()),
            ("GENERATION", "ingestion-api")
        );
        assert_eq!((row.output.as_str(), row.start_time_us), ("late", 7));
        let otlp = orphan_row(&PartialRow {
            row: Some(EventRow::default()),
            ..Default::default()
        });
        assert_eq!(
            (otlp.r#type.as_str(), otlp.source.as_str()),
            ("SPAN", "otel")
        );
    }
}
