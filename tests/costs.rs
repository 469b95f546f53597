//! Costs as users see them: generations of well-known models sent over OTLP to the embedded
//! server come back from the read API with the costs their public price sheets imply (default
//! prices seeded from sink/data/model-prices.json). Every expected number is computed by hand
//! in the comment next to it.

mod support;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};
use sqlx::Connection;
use support::*;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

/// A root chat span of `model` with the given usage / cost attributes.
fn generation(span_id: &str, model: &str, mut attributes: Vec<KeyValue>) -> Span {
    attributes.insert(0, string_attr("gen_ai.operation.name", "chat"));
    attributes.insert(1, string_attr("gen_ai.request.model", model));
    span(TRACE, span_id, "", &format!("chat {model}"), attributes)
}

async fn export(server: &Server, spans: Vec<Span>) {
    support::pieces::export(&server.http_url("/v1/traces"), request(spans)).await;
}

fn assert_costs(observation: &Value, expected: Value) {
    let actual = &observation["costDetails"];
    let expected = expected.as_object().expect("object");
    assert_eq!(
        actual.as_object().map(|o| o.len()),
        Some(expected.len()),
        "cost keys of {}: {actual}",
        observation["name"]
    );
    for (key, value) in expected {
        let got = actual[key].as_f64().unwrap_or(f64::NAN);
        let want = value.as_f64().expect("number");
        assert!(
            (got - want).abs() < 1e-12,
            "{} cost {key}: got {got}, want {want}",
            observation["name"]
        );
    }
    assert_eq!(observation["totalCost"], actual["total"]);
}

#[tokio::test]
async fn well_known_models_get_the_costs_of_their_price_sheets() {
    let server = Server::start();
    let spans = vec![
        // gpt-4o: $2.50 / 1M input, $10 / 1M output.
        generation(
            "1000000000000001",
            "gpt-4o",
            vec![
                int_attr("gen_ai.usage.input_tokens", 1000),
                int_attr("gen_ai.usage.output_tokens", 200),
            ],
        ),
        // gpt-4o with 400 of the 1000 input tokens read from the cache ($1.25 / 1M).
        generation(
            "1000000000000002",
            "gpt-4o-2024-08-06",
            vec![
                int_attr("gen_ai.usage.input_tokens", 1000),
                int_attr("gen_ai.usage.cache_read.input_tokens", 400),
                int_attr("gen_ai.usage.output_tokens", 200),
            ],
        ),
        // Claude Sonnet 4.5: $3 / 1M input, $15 / 1M output, cache read $0.30 / 1M, cache
        // write (5 min) $3.75 / 1M; OTel input tokens include both cache buckets.
        generation(
            "1000000000000003",
            "claude-sonnet-4-5-20250929",
            vec![
                int_attr("gen_ai.usage.input_tokens", 2000),
                int_attr("gen_ai.usage.cache_read.input_tokens", 1000),
                int_attr("gen_ai.usage.cache_creation.input_tokens", 500),
                int_attr("gen_ai.usage.output_tokens", 300),
            ],
        ),
        // Gemini 2.5 Pro above 200k prompt tokens: the "Large Context" tier ($2.50 / $15).
        generation(
            "1000000000000004",
            "gemini-2.5-pro",
            vec![
                int_attr("gen_ai.usage.input_tokens", 250_000),
                int_attr("gen_ai.usage.output_tokens", 1000),
            ],
        ),
        // gpt-4o-mini on the priority service tier: the "Fast mode" tier ($0.25 / $1 per 1M).
        generation(
            "1000000000000005",
            "gpt-4o-mini",
            vec![
                string_attr("gen_ai.request.service_tier", "priority"),
                int_attr("gen_ai.usage.input_tokens", 10_000),
                int_attr("gen_ai.usage.output_tokens", 1000),
            ],
        ),
        // A provided cost wins over the price sheet.
        generation(
            "1000000000000006",
            "gpt-4o",
            vec![
                int_attr("gen_ai.usage.input_tokens", 1000),
                string_attr("langfuse.observation.cost_details", r#"{"total": 0.42}"#),
            ],
        ),
        // No price for an unknown model.
        generation(
            "1000000000000007",
            "my-own-model",
            vec![int_attr("gen_ai.usage.input_tokens", 1000)],
        ),
    ];
    export(&server, spans).await;

    let (status, trace) = get_json(
        &server,
        &format!("/api/public/traces/{TRACE}"),
        &test_auth(),
    )
    .await;
    assert_eq!(status, 200, "{trace}");
    let observation = |id: &str| {
        trace["observations"]
            .as_array()
            .and_then(|list| list.iter().find(|o| o["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("observation {id} missing in {trace}"))
    };

    // 1000 × 2.5e-6 = 0.0025; 200 × 10e-6 = 0.002
    let gpt = observation("1000000000000001");
    assert_costs(
        &gpt,
        json!({"input": 0.0025, "output": 0.002, "total": 0.0045}),
    );
    assert_eq!(
        gpt["usageDetails"],
        json!({"input": 1000, "output": 200, "total": 1200})
    );
    assert_eq!(gpt["modelId"], "b9854a5c92dc496b997d99d20");

    // input 1000 − 400 cached = 600 × 2.5e-6 = 0.0015; 400 × 1.25e-6 = 0.0005; 200 × 10e-6
    let cached = observation("1000000000000002");
    assert_eq!(cached["usageDetails"]["input_cached_tokens"], 400);
    assert_costs(
        &cached,
        json!({"input": 0.0015, "input_cached_tokens": 0.0005, "output": 0.002, "total": 0.004}),
    );

    // input 2000 − 1000 − 500 = 500 × 3e-6 = 0.0015; 1000 × 0.3e-6 = 0.0003;
    // 500 × 3.75e-6 = 0.001875; 300 × 15e-6 = 0.0045; total 0.008175
    assert_costs(
        &observation("1000000000000003"),
        json!({"input": 0.0015, "input_cached_tokens": 0.0003,
               "input_cache_creation": 0.001875, "output": 0.0045, "total": 0.008175}),
    );

    // 250000 × 2.5e-6 = 0.625; 1000 × 15e-6 = 0.015
    assert_costs(
        &observation("1000000000000004"),
        json!({"input": 0.625, "output": 0.015, "total": 0.64}),
    );

    // 10000 × 0.25e-6 = 0.0025; 1000 × 1e-6 = 0.001
    assert_costs(
        &observation("1000000000000005"),
        json!({"input": 0.0025, "output": 0.001, "total": 0.0035}),
    );

    assert_costs(&observation("1000000000000006"), json!({"total": 0.42}));

    let unknown = observation("1000000000000007");
    assert_eq!(unknown["costDetails"], json!({}));
    assert_eq!(unknown["totalCost"], Value::Null);
    assert_eq!(unknown["modelId"], Value::Null);

    // The trace's cost is the sum of its observations'.
    let total = 0.0045 + 0.004 + 0.008175 + 0.64 + 0.0035 + 0.42;
    assert!((trace["totalCost"].as_f64().unwrap_or_default() - total).abs() < 1e-9);

    // The pricing tier is stored with the row (Langfuse's usage_pricing_tier_* columns).
    let mut db =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
            .await
            .expect("open SQLite");
    let tiers: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT span_id, usage_pricing_tier_name FROM events ORDER BY span_id")
            .fetch_all(&mut db)
            .await
            .expect("tiers");
    let tier_of = |id: &str| {
        tiers
            .iter()
            .find(|(span, _)| span == id)
            .and_then(|(_, tier)| tier.clone())
    };
    assert_eq!(tier_of("1000000000000001").as_deref(), Some("Standard"));
    assert_eq!(
        tier_of("1000000000000004").as_deref(),
        Some("Large Context")
    );
    assert_eq!(tier_of("1000000000000005").as_deref(), Some("Fast mode"));
    assert_eq!(tier_of("1000000000000007"), None);
}

#[tokio::test]
async fn prices_import_replaces_a_models_prices() {
    let server = Server::start_with(&[("SPANBRIDGE_META__MODEL_CACHE_TTL_SECS", "1")]);
    let file = server.dir.path().join("prices.json");
    // gpt-4o at $1 / 1M input and $2 / 1M output, same id as the shipped definition.
    std::fs::write(
        &file,
        serde_json::to_string(&json!([{
            "id": "b9854a5c92dc496b997d99d20",
            "modelName": "gpt-4o",
            "matchPattern": "(?i)^(openai/)?(gpt-4o)$",
            "createdAt": "2024-05-13T23:15:07.670Z",
            "updatedAt": "2099-01-01T00:00:00.000Z",
            "pricingTiers": [{"id": "t1", "name": "Standard", "isDefault": true, "priority": 0,
                              "conditions": [], "prices": {"input": 1e-6, "output": 2e-6}}]
        }]))
        .unwrap(),
    )
    .unwrap();
    let output = server.cli(&["prices", "import", file.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Imported 1 models"));
    // The running server loaded the shipped prices at startup and reloads them every
    // meta.model_cache_ttl_secs (1 s here): within that, the new price applies.
    // 1000 × 1e-6 = 0.001; 100 × 2e-6 = 0.0002
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    export(
        &server,
        vec![generation(
            "2000000000000001",
            "gpt-4o",
            vec![
                int_attr("gen_ai.usage.input_tokens", 1000),
                int_attr("gen_ai.usage.output_tokens", 100),
            ],
        )],
    )
    .await;
    let (_, observations) = get_json(
        &server,
        &format!("/api/public/observations?traceId={TRACE}"),
        &test_auth(),
    )
    .await;
    let list = observations["data"]
        .as_array()
        .or(observations.as_array())
        .cloned()
        .unwrap_or_default();
    let observation = list
        .iter()
        .find(|o| o["id"] == "2000000000000001")
        .expect("observation");
    assert_costs(
        observation,
        json!({"input": 0.001, "output": 0.0002, "total": 0.0012}),
    );
    let bad = server.dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"id\": 1}]").unwrap();
    assert!(
        !server
            .cli(&["prices", "import", bad.to_str().unwrap()])
            .status
            .success()
    );
}
