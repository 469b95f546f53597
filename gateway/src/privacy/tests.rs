//! Rules on batches and attribute lists, per action, per piece of a batch, per project scope;
//! and the configuration errors, which must name the key.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use spanbridge_proto::{EventBatch, EventRow, PartialRow, Score, TraceFields};

use super::*;

fn rule(fields: &[&str], action: &str) -> RuleSettings {
    RuleSettings {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        action: action.into(),
        ..Default::default()
    }
}

fn redact_rule(fields: &[&str], patterns: &[&str]) -> RuleSettings {
    RuleSettings {
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        ..rule(fields, "redact")
    }
}

fn compile(rules: Vec<RuleSettings>) -> Privacy {
    Privacy::compile(
        &PrivacySettings {
            hash_key: "spanbridge-test-key".into(),
            rules,
        },
        &SamplingSettings::default(),
    )
    .unwrap()
}

fn row(trace_id: &str) -> EventRow {
    EventRow {
        trace_id: trace_id.into(),
        span_id: "1111111111111111".into(),
        name: "chat".into(),
        input: r#"[{"role":"user","content":"I am jane@example.com, card 4111 1111 1111 1111"}]"#
            .into(),
        output: "Thanks jane@example.com!".into(),
        trace_input: "from jane@example.com".into(),
        user_id: "user-42".into(),
        metadata_names: vec![
            "customer.email".into(),
            "customer.email.verified".into(),
            "customer_email".into(),
            "plan".into(),
        ],
        metadata_values: vec![
            "jane@example.com".into(),
            "true".into(),
            "other".into(),
            "pro".into(),
        ],
        ..Default::default()
    }
}

fn batch(trace_id: &str) -> EventBatch {
    EventBatch {
        project_id: "project-1".into(),
        rows: vec![row(trace_id)],
        ..Default::default()
    }
}

fn apply(privacy: &Privacy, batches: &mut Vec<EventBatch>) -> u64 {
    privacy.scope("project-1", "my-app").apply(batches)
}

#[test]
fn redact_replaces_matches_and_keeps_the_rest() {
    let privacy = compile(vec![redact_rule(
        &["input", "output", "metadata.customer"],
        &["email", "card_number"],
    )]);
    let mut batches = vec![batch("t1")];
    apply(&privacy, &mut batches);
    let row = &batches[0].rows[0];
    assert_eq!(
        row.input,
        r#"[{"role":"user","content":"I am [REDACTED:email], card [REDACTED:card_number]"}]"#
    );
    assert_eq!(row.output, "Thanks [REDACTED:email]!");
    assert_eq!(row.trace_input, "from [REDACTED:email]");
    assert_eq!(row.metadata_values[0], "[REDACTED:email]");
    assert_eq!(row.user_id, "user-42", "not named");
}

/// The converter copies a trace's input and output onto every row; each copy is masked (the
/// rule works the text out once per batch) and every copy's matches count.
#[test]
fn trace_texts_copied_onto_every_row_are_masked_on_every_copy() {
    let privacy = compile(vec![redact_rule(&["input", "output"], &["email"])]);
    let context = "context ".repeat(10);
    let trace_input = format!("{context}from jane@example.com");
    let mut batches = vec![batch("t1")];
    batches[0].rows = (0..3)
        .map(|_| EventRow {
            trace_input: trace_input.clone(),
            trace_output: "short, to jane@example.com".into(),
            ..row("t1")
        })
        .collect();
    batches[0].trace = Some(TraceFields {
        input: Some(trace_input.clone()),
        ..Default::default()
    });
    apply(&privacy, &mut batches);
    let expected = format!("{context}from [REDACTED:email]");
    for row in &batches[0].rows {
        assert_eq!(row.trace_input, expected);
        assert_eq!(row.trace_output, "short, to [REDACTED:email]");
        assert_eq!(row.output, "Thanks [REDACTED:email]!");
    }
    assert_eq!(
        batches[0].trace.as_ref().and_then(|t| t.input.as_deref()),
        Some(expected.as_str())
    );

    let mut done = CopiesDone::default();
    let mut counts = vec![0, 0];
    for _ in 0..3 {
        let mut value = trace_input.clone();
        let outcome = done.apply(&mut value, &mut counts, |value, counts| {
            *value = "masked".into();
            counts[1] += 2;
            Outcome::Kept
        });
        assert_eq!((value.as_str(), outcome), ("masked", Outcome::Kept));
    }
    assert_eq!(counts, [0, 6], "every copy counted");
}

#[test]
fn hash_is_keyed_stable_and_leaves_empty_values() {
    let privacy = compile(vec![rule(&["user_id", "session_id"], "hash")]);
    let mut batches = vec![batch("t1"), batch("t2")];
    apply(&privacy, &mut batches);
    // `hmac.new(b"spanbridge-test-key", b"user-42", hashlib.sha256).hexdigest()`
    let expected = "4fa45e0886f3822e0517bec18787a5ea582285aad92b6dc2a885840631d27363";
    assert_eq!(batches[0].rows[0].user_id, expected);
    assert_eq!(batches[1].rows[0].user_id, expected);
    assert_eq!(batches[0].rows[0].session_id, "", "empty stays empty");
}

#[test]
fn drop_removes_fields_and_metadata_keys_with_their_children() {
    let privacy = compile(vec![rule(&["output", "metadata.customer.email"], "drop")]);
    let mut batches = vec![batch("t1")];
    batches[0].trace = Some(TraceFields {
        output: Some("secret".into()),
        input: Some("kept".into()),
        metadata_names: vec!["customer.email".into(), "plan".into()],
        metadata_values: vec!["jane@example.com".into(), "pro".into()],
        ..Default::default()
    });
    apply(&privacy, &mut batches);
    let row = &batches[0].rows[0];
    assert_eq!(row.output, "");
    assert_eq!(row.metadata_names, ["customer_email", "plan"]);
    assert_eq!(row.metadata_values, ["other", "pro"]);
    let trace = batches[0].trace.as_ref().unwrap();
    assert_eq!(trace.output, None, "dropped = not sent");
    assert_eq!(trace.input.as_deref(), Some("kept"));
    assert_eq!(trace.metadata_names, ["plan"]);
    assert_eq!(trace.metadata_values, ["pro"]);
}

#[test]
fn truncate_keeps_max_chars() {
    let privacy = compile(vec![RuleSettings {
        max_chars: Some(6),
        ..rule(&["output"], "truncate")
    }]);
    let mut batches = vec![batch("t1")];
    apply(&privacy, &mut batches);
    assert_eq!(batches[0].rows[0].output, "Thanks…[TRUNCATED]");
}

#[test]
fn partial_rows_trace_fields_and_scores_are_covered() {
    let privacy = compile(vec![
        redact_rule(&["input", "output", "comment", "metadata"], &["email"]),
        rule(&["user_id"], "hash"),
    ]);
    let mut partial = row("t1");
    partial.output = "mail jane@example.com".into();
    let mut batches = vec![EventBatch {
        partial_rows: vec![PartialRow {
            row: Some(partial),
            // Only input is carried: the other fields do not count and are left alone.
            fields: vec!["input".into()],
            event_time_us: 1,
        }],
        trace: Some(TraceFields {
            input: Some("hi jane@example.com".into()),
            user_id: Some("user-42".into()),
            ..Default::default()
        }),
        scores: vec![Score {
            trace_id: "t1".into(),
            comment: "ask jane@example.com".into(),
            metadata_names: vec!["by".into()],
            metadata_values: vec!["bob@example.com".into()],
            ..Default::default()
        }],
        ..Default::default()
    }];
    apply(&privacy, &mut batches);
    let partial = batches[0].partial_rows[0].row.as_ref().unwrap();
    assert!(partial.input.contains("[REDACTED:email]"));
    assert_eq!(partial.output, "mail jane@example.com", "not carried");
    assert_eq!(partial.user_id, "user-42", "not carried");
    let trace = batches[0].trace.as_ref().unwrap();
    assert_eq!(trace.input.as_deref(), Some("hi [REDACTED:email]"));
    assert_eq!(trace.user_id.as_deref().map(str::len), Some(64));
    let score = &batches[0].scores[0];
    assert_eq!(score.comment, "ask [REDACTED:email]");
    assert_eq!(score.metadata_values, ["[REDACTED:email]"]);
}

#[test]
fn rules_apply_only_to_the_projects_they_name() {
    let scoped = |projects: &[&str]| {
        compile(vec![RuleSettings {
            projects: projects.iter().map(|p| p.to_string()).collect(),
            ..rule(&["user_id"], "drop")
        }])
    };
    for (projects, applied) in [
        (&["my-app"][..], true),
        (&["project-1"][..], true),
        (&["other-app", "my-app"][..], true),
        (&["other-app"][..], false),
        (&["project-2"][..], false),
    ] {
        let mut batches = vec![batch("t1")];
        apply(&scoped(projects), &mut batches);
        assert_eq!(
            batches[0].rows[0].user_id.is_empty(),
            applied,
            "{projects:?}"
        );
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn string_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
        .map(|v| match v {
            any_value::Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
}

#[test]
fn attribute_rules_mask_every_attribute_list_before_conversion() {
    let privacy = compile(vec![
        RuleSettings {
            attributes: vec!["http.request.header.*".into(), "db.statement".into()],
            ..rule(&[], "drop")
        },
        RuleSettings {
            attributes: vec!["user.id".into(), "enduser.id".into()],
            ..rule(&[], "hash")
        },
        RuleSettings {
            attributes: vec!["gen_ai.*.messages".into()],
            patterns: vec!["email".into()],
            ..rule(&[], "redact")
        },
    ]);
    let secret = || {
        vec![
            text("http.request.header.authorization", "Bearer x"),
            text("db.statement", "SELECT 1"),
            text("http.request.method", "GET"),
        ]
    };
    let mut request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: secret(),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    attributes: [
                        secret(),
                        vec![
                            text("user.id", "user-42"),
                            KeyValue {
                                key: "enduser.id".into(),
                                value: Some(AnyValue {
                                    value: Some(any_value::Value::IntValue(42)),
                                }),
                                ..Default::default()
                            },
                            text("gen_ai.input.messages", r#"[{"content":"me: a@b.io"}]"#),
                        ],
                    ]
                    .concat(),
                    events: vec![span::Event {
                        attributes: secret(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    privacy
        .scope("project-1", "my-app")
        .mask_spans(&mut request);
    let resource_spans = &request.resource_spans[0];
    let span = &resource_spans.scope_spans[0].spans[0];
    for list in [
        &resource_spans.resource.as_ref().unwrap().attributes,
        &span.attributes,
        &span.events[0].attributes,
    ] {
        assert_eq!(string_of(list, "http.request.header.authorization"), None);
        assert_eq!(string_of(list, "db.statement"), None);
        assert_eq!(
            string_of(list, "http.request.method").as_deref(),
            Some("GET")
        );
    }
    assert_eq!(
        string_of(&span.attributes, "user.id").as_deref(),
        Some("4fa45e0886f3822e0517bec18787a5ea582285aad92b6dc2a885840631d27363")
    );
    assert_eq!(
        string_of(&span.attributes, "enduser.id").map(|s| s.len()),
        Some(64),
        "a numeric id is hashed too"
    );
    assert_eq!(
        string_of(&span.attributes, "gen_ai.input.messages").as_deref(),
        Some(r#"[{"content":"me: [REDACTED:email]"}]"#)
    );
}

#[test]
fn sampling_keeps_or_drops_whole_batches_per_project() {
    let privacy = Privacy::compile(
        &PrivacySettings::default(),
        &SamplingSettings {
            rate: 1.0,
            projects: vec![ProjectRate {
                project: "noisy-app".into(),
                rate: 0.0,
            }],
        },
    )
    .unwrap();
    let mut batches = vec![batch("t1"), batch("t2")];
    assert!(privacy.scope("project-1", "my-app").is_noop());
    let noisy = privacy.scope("project-9", "noisy-app");
    assert_eq!(noisy.apply(&mut batches), 2);
    assert!(batches.is_empty());
    // Session scores belong to no trace: never sampled out.
    let mut batches = vec![EventBatch {
        scores: vec![Score {
            session_id: "s1".into(),
            ..Default::default()
        }],
        ..Default::default()
    }];
    assert_eq!(noisy.apply(&mut batches), 0);
    assert_eq!(batches.len(), 1);
}

#[test]
fn bad_settings_name_the_key() {
    let cases: Vec<(Vec<RuleSettings>, &str, &str)> = vec![
        (
            vec![rule(&["input"], "hash"), rule(&["input"], "mask")],
            "privacy.rules[1].action: unknown action \"mask\"",
            "",
        ),
        (
            vec![redact_rule(&["input"], &["email", "emial"])],
            "privacy.rules[0].patterns[1]: unknown pattern \"emial\"",
            "",
        ),
        (
            vec![redact_rule(&["input"], &["regex:ACME-(["])],
            "privacy.rules[0].patterns[0]: invalid regex",
            "",
        ),
        (
            vec![redact_rule(&[], &["email"])],
            "privacy.rules[0]: names neither fields nor attributes",
            "",
        ),
        (
            vec![rule(&["input"], "truncate")],
            "privacy.rules[0].max_chars: truncate needs max_chars",
            "",
        ),
        (
            vec![rule(&["inptu"], "drop")],
            "privacy.rules[0].fields[0]: unknown field \"inptu\"",
            "",
        ),
        (
            vec![rule(&["input"], "redact")],
            "privacy.rules[0].patterns: redact needs at least one pattern",
            "",
        ),
        (
            vec![rule(&["user_id"], "hash")],
            "privacy.rules[0].action: hash needs privacy.hash_key",
            "no key",
        ),
    ];
    for (rules, expected, no_key) in cases {
        let settings = PrivacySettings {
            hash_key: if no_key.is_empty() {
                "k".into()
            } else {
                Default::default()
            },
            rules,
        };
        let error = Privacy::compile(&settings, &SamplingSettings::default()).unwrap_err();
        assert!(error.starts_with(expected), "{error}");
    }
    for (rate, key) in [
        (1.5, "sampling.rate"),
        (-0.1, "sampling.rate"),
        (f64::NAN, "sampling.rate"),
    ] {
        let sampling = SamplingSettings {
            rate,
            projects: Vec::new(),
        };
        let error = Privacy::compile(&PrivacySettings::default(), &sampling).unwrap_err();
        assert!(
            error.starts_with(&format!("{key} must be between 0 and 1")),
            "{error}"
        );
    }
    let sampling = SamplingSettings {
        rate: 1.0,
        projects: vec![ProjectRate {
            project: "a".into(),
            rate: 2.0,
        }],
    };
    let error = Privacy::compile(&PrivacySettings::default(), &sampling).unwrap_err();
    assert!(error.starts_with("sampling.projects[0].rate"), "{error}");
}

#[test]
fn the_hash_key_is_not_in_debug_output() {
    let settings = PrivacySettings {
        hash_key: "very-secret".into(),
        rules: Vec::new(),
    };
    assert!(!format!("{settings:?}").contains("very-secret"));
    let privacy = Privacy::compile(&settings, &SamplingSettings::default()).unwrap();
    assert!(!format!("{privacy:?}").contains("very-secret"));
}

#[test]
fn a_user_id_rule_also_covers_its_copies_in_metadata() {
    let privacy = compile(vec![rule(&["user_id"], "hash")]);
    let mut batches = vec![batch("t1")];
    let row = &mut batches[0].rows[0];
    row.metadata_names.push("attributes.user.id".into());
    row.metadata_values.push("user-42".into());
    apply(&privacy, &mut batches);
    let row = &batches[0].rows[0];
    assert_eq!(row.metadata_values.last(), Some(&row.user_id));
    assert_eq!(row.metadata_values[3], "pro", "other metadata untouched");
}

/// The cost of the built-in patterns on input and output of the bench workload
/// (`spanbridge_workload::genai_request`), against conversion of the same spans;
/// docs/performance.md, "Relative costs of optional work".
/// `cargo test --release -p spanbridge-gateway privacy_cost -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run in release"]
fn privacy_cost_on_the_bench_workload() {
    use std::time::Instant;
    let privacy = compile(vec![redact_rule(
        &["input", "output"],
        &["email", "card_number", "ipv4", "phone", "api_key", "jwt"],
    )]);
    let scope = privacy.scope("project-1", "bench");
    let batches_of = |request: &ExportTraceServiceRequest| -> Vec<EventBatch> {
        crate::convert::convert(request, 0)
            .traces
            .into_iter()
            .map(|(_, rows)| EventBatch {
                rows,
                ..Default::default()
            })
            .collect()
    };
    let request = spanbridge_workload::genai_request(1, 100);
    let rounds = 300;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(crate::convert::convert(std::hint::black_box(&request), 0));
    }
    let convert_us = started.elapsed().as_secs_f64() * 1e6 / (rounds * 100) as f64;
    let with_pii = {
        let mut batches = batches_of(&request);
        for row in batches
            .iter_mut()
            .flat_map(|b| b.rows.iter_mut())
            .step_by(4)
        {
            row.input = row.input.replacen(
                "Summarise",
                "I am jane@example.com, card 4111 1111 1111 1111. Summarise",
                1,
            );
        }
        batches
    };
    for (case, template) in [
        ("no PII", batches_of(&request)),
        ("PII in 1 of 4", with_pii),
    ] {
        let mut copies: Vec<Vec<EventBatch>> = (0..rounds).map(|_| template.clone()).collect();
        let started = Instant::now();
        for batches in &mut copies {
            scope.apply(batches);
        }
        let apply_us = started.elapsed().as_secs_f64() * 1e6 / (rounds * 100) as f64;
        println!(
            "{case}: redact 6 patterns on input+output {apply_us:.2} µs/span; convert {convert_us:.2} µs/span"
        );
    }
}
