//! Assembly user stories (DESIGN.md "Assembly"), embedded mode: the spans of one
//! trace sent in separate requests — children first, root first, and with a restart of the
//! binary between them — end up with the trace's fields on every row, in the read API and in
//! the SQLite `events` table.

use crate::support;

use serde_json::Value;
use sqlx::{Connection, Row};
use support::pieces::*;
use support::*;

/// Each `events` row of the trace: span id → (trace_name, user_id, session_id, tags, model,
/// usage_details).
async fn stored_rows(server: &Server, trace_id: &str) -> Vec<[String; 6]> {
    let mut db = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        server.db_path().display()
    ))
    .await
    .expect("open the SQLite file");
    sqlx::query(
        "SELECT span_id, trace_name, user_id, session_id, tags, provided_model_name, \
         usage_details FROM events WHERE trace_id = ? ORDER BY span_id",
    )
    .bind(trace_id)
    .fetch_all(&mut db)
    .await
    .expect("read events")
    .iter()
    .map(|row| {
        let text = |i: usize| row.get::<String, _>(i);
        [
            text(0),
            text(1),
            text(2),
            text(3),
            text(4),
            text(5) + " " + &text(6),
        ]
    })
    .collect()
}

/// Both rows carry the root's trace fields; the generation keeps its model and usage.
async fn assert_assembled(server: &Server, trace_id: &str) {
    let rows = stored_rows(server, trace_id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row[1], "support-chat", "trace_name of {}", row[0]);
        assert_eq!(row[2], "user-42", "user_id of {}", row[0]);
        assert_eq!(row[3], "session-7", "session_id of {}", row[0]);
        assert_eq!(row[4], r#"["beta","support"]"#, "tags of {}", row[0]);
    }
    let generation = rows
        .iter()
        .find(|row| row[0] == GENERATION)
        .expect("generation row");
    assert!(generation[5].starts_with("gpt-4o "), "{generation:?}");
    assert!(generation[5].contains(r#""total":150"#), "{generation:?}");

    let trace = trace(server, trace_id).await;
    assert_eq!(trace["name"], "support-chat");
    assert_eq!(trace["userId"], "user-42");
    assert_eq!(trace["sessionId"], "session-7");
    assert_eq!(trace["observations"].as_array().map(Vec::len), Some(2));
    let model = trace["observations"]
        .as_array()
        .and_then(|all| all.iter().find(|o| o["id"] == GENERATION))
        .map(|o| o["model"].clone());
    assert_eq!(model, Some(Value::from("gpt-4o")));
}

#[tokio::test]
async fn children_first_then_the_root_a_second_later() {
    let server = Server::start();
    let trace_id = "5b8efff798038103d269b633813fc701";
    export(
        &server.http_url("/v1/traces"),
        request(vec![generation(trace_id)]),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    export(
        &server.http_url("/v1/traces"),
        request(vec![root(trace_id)]),
    )
    .await;
    assert_assembled(&server, trace_id).await;
    let scrape = scrape_metrics(&server.admin_url("")).await;
    assert!(
        scrape.contains("spanbridge_assembly_rows_rewritten_total 1"),
        "the generation was rewritten once:\n{scrape}"
    );
}

#[tokio::test]
async fn root_first_then_the_children() {
    let server = Server::start();
    let trace_id = "5b8efff798038103d269b633813fc702";
    export(
        &server.http_url("/v1/traces"),
        request(vec![root(trace_id)]),
    )
    .await;
    export(
        &server.http_url("/v1/traces"),
        request(vec![generation(trace_id)]),
    )
    .await;
    assert_assembled(&server, trace_id).await;
}

/// The cache is lost with the process: the second request's trace is read back from SQLite.
#[tokio::test]
async fn a_restart_between_the_pieces_reads_the_trace_back() {
    for (trace_id, root_first) in [
        ("5b8efff798038103d269b633813fc703", false),
        ("5b8efff798038103d269b633813fc704", true),
    ] {
        let mut server = Server::start();
        let (first, second) = if root_first {
            (root(trace_id), generation(trace_id))
        } else {
            (generation(trace_id), root(trace_id))
        };
        export(&server.http_url("/v1/traces"), request(vec![first])).await;
        server.restart();
        export(&server.http_url("/v1/traces"), request(vec![second])).await;
        assert_assembled(&server, trace_id).await;
        let scrape = scrape_metrics(&server.admin_url("")).await;
        assert!(
            scrape.contains("spanbridge_assembly_readbacks_total 1"),
            "read back after the restart:\n{scrape}"
        );
    }
}

/// An exporter's retry (the same request again, e.g. after a timeout) is recognised as a copy
/// of what is stored: no read-back, no second write. An edited re-send of the same spans is
/// merged and replaces the stored rows.
#[tokio::test]
async fn an_exporter_retry_is_a_copy_an_edited_resend_is_written() {
    let server = Server::start();
    let trace_id = "5b8efff798038103d269b633813fc705";
    let whole = || request(vec![root(trace_id), generation(trace_id)]);
    export(&server.http_url("/v1/traces"), whole()).await;
    assert_assembled(&server, trace_id).await;
    let before = scrape_metrics(&server.admin_url("")).await;

    export(&server.http_url("/v1/traces"), whole()).await;
    assert_assembled(&server, trace_id).await;
    let after = scrape_metrics(&server.admin_url("")).await;
    assert!(
        after.contains(r#"spanbridge_assembly_cache_total{result="resent"} 1"#),
        "the retry was recognised:\n{after}"
    );
    let counter = |scrape: &str, name: &str| {
        scrape
            .lines()
            .find(|line| line.starts_with(name))
            .map(str::to_owned)
    };
    for name in [
        "spanbridge_assembly_readbacks_total",
        "spanbridge_sink_rows_written_total",
    ] {
        assert_eq!(counter(&before, name), counter(&after, name), "{name}");
    }

    let mut edited = generation(trace_id);
    edited.name = "chat gpt-4o (retried)".into();
    export(
        &server.http_url("/v1/traces"),
        request(vec![root(trace_id), edited]),
    )
    .await;
    assert_assembled(&server, trace_id).await;
    let (status, trace) = get_json(
        &server,
        &format!("/api/public/traces/{trace_id}"),
        &test_auth(),
    )
    .await;
    assert_eq!(status, 200, "{trace}");
    let name = trace["observations"]
        .as_array()
        .and_then(|all| all.iter().find(|o| o["id"] == GENERATION))
        .map(|o| o["name"].clone());
    assert_eq!(name, Some(Value::from("chat gpt-4o (retried)")));
}
