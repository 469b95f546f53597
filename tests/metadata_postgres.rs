//! Metadata in Postgres, as operators use it: `spanbridge migrate`, keys created by the CLI
//! authenticate OTLP clients, revoked keys stop within `auth.cache_ttl_secs`, costs come from
//! the Postgres price tables, and `meta.source = "langfuse"` authenticates against an existing
//! Langfuse database without ever writing to it. Needs the Postgres server of DESIGN.md
//! ("Test services"): 127.0.0.1:5432, trust auth, user postgres. Every test creates its own
//! database and drops it.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use support::*;

use support::postgres::TestDb;

impl TestDb {
    async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url()).await.expect("connect")
    }
}

async fn export(server: &Server, trace_id: &str, auth: &str) -> u16 {
    export_genai_trace(&server.http_url("/v1/traces"), trace_id, auth)
        .await
        .status()
        .as_u16()
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn generation_of(trace: &Value) -> &Value {
    trace["observations"]
        .as_array()
        .and_then(|list| list.iter().find(|o| o["id"] == "2222222222222222"))
        .unwrap_or_else(|| panic!("generation missing in {trace}"))
}

#[tokio::test]
async fn postgres_keys_from_the_cli_authenticate_and_revoked_keys_stop_within_the_ttl() {
    let db = TestDb::create("keys").await;
    let url = db.url();
    let env = [
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_AUTH__SALT", "pg-test-salt"),
        ("SPANBRIDGE_AUTH__CACHE_TTL_SECS", "2"),
        ("SPANBRIDGE_META__FLUSH_INTERVAL_SECS", "1"),
    ];
    let mut server = Server::start_with(&env);

    let migrated = stdout(&server.cli(&["migrate"]));
    assert!(migrated.contains("Postgres migrated"), "{migrated}");
    let created: Value = serde_json::from_str(&stdout(&server.cli(&[
        "keys",
        "create",
        "--project",
        "pg-app",
        "--json",
    ])))
    .expect("keys create --json");
    let public_key = created["publicKey"].as_str().expect("publicKey").to_owned();
    let secret_key = created["secretKey"].as_str().expect("secretKey").to_owned();
    let auth = basic_auth(&public_key, &secret_key);
    let listed = stdout(&server.cli(&["keys", "list"]));
    assert!(listed.contains(&public_key) && !listed.contains(&secret_key));

    // The CLI's key authenticates OTLP and reads back, priced from the Postgres tables:
    // gpt-4o, 120 input × $2.50/M + 30 output × $10/M = 0.0003 + 0.0003.
    let trace_id = "5b8efff798038103d269b633813fc60c";
    assert_eq!(export(&server, trace_id, &auth).await, 200);
    let (status, trace) = get_json(&server, &format!("/api/public/traces/{trace_id}"), &auth).await;
    assert_eq!(status, 200, "{trace}");
    let generation = generation_of(&trace);
    assert_eq!(generation["costDetails"]["input"], 0.0003);
    assert_eq!(generation["costDetails"]["output"], 0.0003);
    assert_eq!(generation["totalCost"], 0.0006);

    // last_used_at and the daily usage are written by the background flusher.
    let mut pg = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let used: Option<bool> = sqlx::query_scalar(
            "SELECT last_used_at IS NOT NULL FROM api_keys WHERE public_key = $1",
        )
        .bind(&public_key)
        .fetch_optional(&mut pg)
        .await
        .expect("query");
        let spans: Option<i64> = sqlx::query_scalar(
            "SELECT u.spans FROM project_ingestion_usage u JOIN projects p ON p.id = u.project_id
             WHERE p.name = 'pg-app' AND u.day = (now() AT TIME ZONE 'UTC')::date",
        )
        .fetch_optional(&mut pg)
        .await
        .expect("query");
        if used == Some(true) && spans == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "last_used_at {used:?} / usage {spans:?} not flushed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Revoked: refused within the cache TTL (2 s) plus a little scheduling slack.
    let revoked = stdout(&server.cli(&["keys", "revoke", &public_key]));
    assert!(revoked.contains("Revoked"), "{revoked}");
    let revoked_at = Instant::now();
    loop {
        let status = export(&server, "6b8efff798038103d269b633813fc60c", &auth).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_millis(3500),
            "a revoked key still worked after the 2 s cache TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The headless key (SPANBRIDGE_INIT_*) lives in Postgres too and still works.
    assert_eq!(
        export(&server, "7b8efff798038103d269b633813fc60c", &test_auth()).await,
        200
    );
    assert!(server.stop().success());
}

/// The Langfuse tables a gateway reads, with Langfuse's names and types (Prisma enums
/// included), as a Langfuse deployment has them; no Spanbridge migration touches this.
const LANGFUSE_SCHEMA: &str = r#"
CREATE TYPE "ApiKeyScope" AS ENUM ('ORGANIZATION', 'PROJECT');
CREATE TABLE organizations (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    cloud_config JSONB, cloud_free_tier_usage_threshold_state TEXT);
CREATE TABLE projects (id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES organizations(id),
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP(3), name TEXT NOT NULL, retention_days INTEGER,
    has_traces BOOLEAN NOT NULL DEFAULT false, metadata JSONB);
CREATE TABLE api_keys (id TEXT PRIMARY KEY, created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    note TEXT, public_key TEXT NOT NULL UNIQUE, hashed_secret_key TEXT NOT NULL UNIQUE,
    fast_hashed_secret_key TEXT UNIQUE, display_secret_key TEXT NOT NULL,
    last_used_at TIMESTAMP(3), expires_at TIMESTAMP(3),
    is_in_app_agent_key BOOLEAN NOT NULL DEFAULT false,
    project_id TEXT REFERENCES projects(id), organization_id TEXT REFERENCES organizations(id),
    scope "ApiKeyScope" NOT NULL DEFAULT 'PROJECT', created_by_user_id TEXT, created_by_api_key_id TEXT);
CREATE TABLE models (id TEXT PRIMARY KEY, created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, project_id TEXT,
    model_name TEXT NOT NULL, match_pattern TEXT NOT NULL, start_date TIMESTAMP(3),
    input_price DECIMAL(65,30), output_price DECIMAL(65,30), total_price DECIMAL(65,30),
    unit TEXT, tokenizer_id TEXT, tokenizer_config JSONB);
CREATE TABLE pricing_tiers (id TEXT PRIMARY KEY, model_id TEXT NOT NULL REFERENCES models(id),
    name TEXT NOT NULL, is_default BOOLEAN NOT NULL DEFAULT false, priority INTEGER NOT NULL,
    conditions JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE prices (id TEXT PRIMARY KEY, created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    model_id TEXT NOT NULL REFERENCES models(id), project_id TEXT,
    pricing_tier_id TEXT NOT NULL REFERENCES pricing_tiers(id), usage_type TEXT NOT NULL,
    price DECIMAL(65,30) NOT NULL);
"#;

const LANGFUSE_SALT: &str = "langfuse-deployment-salt";

/// The hashes a Langfuse deployment stores for the test's keys, computed outside this code
/// base: `fast_hashed_secret_key` with Python's hashlib (Langfuse's `createShaHash`:
/// `sha256((sk + sha256(SALT).hexdigest()).encode()).hexdigest()`) and `hashed_secret_key`
/// with libxcrypt's bcrypt (`$2a$`, cost 10, as bcryptjs writes them).
struct LangfuseKey {
    secret_key: &'static str,
    fast_hash: &'static str,
    bcrypt: &'static str,
}

const FAST_KEY: LangfuseKey = LangfuseKey {
    secret_key: "sk-lf-fast-0000",
    fast_hash: "7bbeab497c01c0e54bcdfa8435f6436b23a841e2d949ce53c52c7882fa6d8cd9",
    bcrypt: "$2a$10$FastKeyFixedSaltFastKeMonJHlaHhCZNJUlJ4ZciYXDLBRpugaG",
};
const LEGACY_KEY: LangfuseKey = LangfuseKey {
    secret_key: "sk-lf-legacy-0000",
    fast_hash: "",
    bcrypt: "$2a$10$LegacyKeyFixedSaltLegOgmtbzmiFvxr4v4QE0O8Kuo2fpgmYzK2",
};
const ORG_KEY: LangfuseKey = LangfuseKey {
    secret_key: "sk-lf-org-0000",
    fast_hash: "321482e7ed3c2cd7180b2d788aec671d13319eae566aa262e6a3da6c1a3d3740",
    bcrypt: "$2a$10$OrgKeyFixedSaltOrgKeyOI/9coOdoWX1n/A/4ouqTf74iN2J3xYO",
};
const BLOCKED_KEY: LangfuseKey = LangfuseKey {
    secret_key: "sk-lf-blocked-0000",
    fast_hash: "22ab41bea85249317e2f06f9f269298bafa323754fb49d66c5747c4a981ae581",
    bcrypt: "$2a$10$BlockedKeyFixedSaltBleqT6Xaoa6dkaPhRFLyoksdJ4ky7yq9xW",
};

#[tokio::test]
async fn langfuse_source_authenticates_read_only_and_uses_its_prices() {
    let db = TestDb::create("langfuse").await;
    let mut pg = db.connect().await;
    sqlx::raw_sql(LANGFUSE_SCHEMA)
        .execute(&mut pg)
        .await
        .expect("Langfuse schema");
    let fast_sk = FAST_KEY.secret_key;
    let legacy_sk = LEGACY_KEY.secret_key;
    let org_sk = ORG_KEY.secret_key;
    let blocked_sk = BLOCKED_KEY.secret_key;
    let setup = format!(
        r#"
        INSERT INTO organizations (id, name) VALUES ('org-a', 'A');
        INSERT INTO organizations (id, name, cloud_free_tier_usage_threshold_state)
            VALUES ('org-b', 'B', 'BLOCKED');
        INSERT INTO projects (id, org_id, name) VALUES ('proj-a', 'org-a', 'a'), ('proj-b', 'org-b', 'b');
        INSERT INTO api_keys (id, public_key, hashed_secret_key, fast_hashed_secret_key, display_secret_key, project_id, scope)
            VALUES ('k-fast', 'pk-lf-fast', '{}', '{}', 'sk-lf-...0000', 'proj-a', 'PROJECT'),
                   ('k-legacy', 'pk-lf-legacy', '{}', NULL, 'sk-lf-...0000', 'proj-a', 'PROJECT'),
                   ('k-blocked', 'pk-lf-blocked', '{}', '{}', 'sk-lf-...0000', 'proj-b', 'PROJECT');
        INSERT INTO api_keys (id, public_key, hashed_secret_key, fast_hashed_secret_key, display_secret_key, organization_id, scope)
            VALUES ('k-org', 'pk-lf-org', '{}', '{}', 'sk-lf-...0000', 'org-a', 'ORGANIZATION');
        -- gpt-4o: a global price, and a project price that wins for proj-a
        INSERT INTO models (id, project_id, model_name, match_pattern, start_date) VALUES
            ('m-global', NULL, 'gpt-4o', '(?i)^(openai/)?(gpt-4o)$', NULL),
            ('m-project', 'proj-a', 'gpt-4o', '(?i)^(gpt-4o)$', '2024-01-01'),
            ('m-project-old', 'proj-a', 'gpt-4o', '(?i)^(gpt-4o)$', '2023-01-01');
        INSERT INTO pricing_tiers (id, model_id, name, is_default, priority) VALUES
            ('t-global', 'm-global', 'Standard', true, 0),
            ('t-project', 'm-project', 'Standard', true, 0),
            ('t-project-old', 'm-project-old', 'Standard', true, 0);
        INSERT INTO prices (id, model_id, pricing_tier_id, usage_type, price) VALUES
            ('p1', 'm-global', 't-global', 'input', 0.0000025),
            ('p2', 'm-project', 't-project', 'input', 0.00001),
            ('p3', 'm-project', 't-project', 'output', 0.00002),
            ('p4', 'm-project-old', 't-project-old', 'input', 1);
        "#,
        FAST_KEY.bcrypt,
        FAST_KEY.fast_hash,
        LEGACY_KEY.bcrypt,
        BLOCKED_KEY.bcrypt,
        BLOCKED_KEY.fast_hash,
        ORG_KEY.bcrypt,
        ORG_KEY.fast_hash,
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut pg)
        .await
        .expect("Langfuse rows");

    let url = db.url();
    let server = Server::start_with(&[
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_META__SOURCE", "langfuse"),
        ("SPANBRIDGE_AUTH__SALT", LANGFUSE_SALT),
        ("SPANBRIDGE_META__FLUSH_INTERVAL_SECS", "1"),
    ]);

    // A project key found by its fast hash, priced with the project's newest gpt-4o model:
    // 120 × 1e-5 + 30 × 2e-5 = 0.0012 + 0.0006.
    let fast = basic_auth("pk-lf-fast", fast_sk);
    let trace_id = "8b8efff798038103d269b633813fc60c";
    assert_eq!(export(&server, trace_id, &fast).await, 200);
    let (status, trace) = get_json(&server, &format!("/api/public/traces/{trace_id}"), &fast).await;
    assert_eq!(status, 200, "{trace}");
    let generation = generation_of(&trace);
    assert_eq!(generation["modelId"], "m-project");
    assert_eq!(generation["totalCost"], 0.0018);

    // A key without a fast hash: bcrypt fallback (by public key, so Basic credentials only);
    // once verified, the secret's hash is cached like Langfuse's backfilled fast hash.
    let legacy = basic_auth("pk-lf-legacy", legacy_sk);
    assert_eq!(
        export(&server, "9b8efff798038103d269b633813fc60c", &legacy).await,
        200
    );
    assert_eq!(
        export(
            &server,
            "9b8efff798038103d269b633813fc60e",
            &basic_auth("pk-lf-legacy", "sk-lf-wrong")
        )
        .await,
        401
    );
    // Organisation-scoped keys never ingest; a suspended organisation gets 403.
    assert_eq!(
        export(
            &server,
            "ab8efff798038103d269b633813fc60c",
            &basic_auth("pk-lf-org", org_sk)
        )
        .await,
        401
    );
    assert_eq!(
        export(
            &server,
            "bb8efff798038103d269b633813fc60c",
            &basic_auth("pk-lf-blocked", blocked_sk)
        )
        .await,
        403
    );

    // Read-only: no migration, no write, even after the flush interval.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let migrate = stdout(&server.cli(&["migrate"]));
    assert!(migrate.contains("left untouched"), "{migrate}");
    let refused = server.cli(&["keys", "create", "--project", "x"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("never writes"));
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut pg)
    .await
    .expect("tables");
    assert_eq!(
        tables,
        [
            "api_keys",
            "models",
            "organizations",
            "prices",
            "pricing_tiers",
            "projects"
        ]
    );
    let (keys, used, models): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM api_keys), (SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL),
                (SELECT count(*) FROM models)",
    )
    .fetch_one(&mut pg)
    .await
    .expect("counts");
    assert_eq!((keys, used, models), (4, 0, 3));
}

/// Concurrent `keys create --project X` processes, and rounds of them (one project name each).
/// Released together (below), one round made duplicates in 5 of 6 runs before the fix: a fast
/// creator sometimes commits before a slow one has looked; three rounds leave a miss at ~0.5 %.
const CREATORS: usize = 8;
const ROUNDS: usize = 3;

/// Holds `projects` locked until `creators` sessions wait for it, then lets them all go at
/// once, so the creators reach the table before any has created the project (left to chance,
/// eight processes raced only ~1 run in 6: each first queues on the migration lock, which
/// spaces them out). Returns how many were waiting.
fn release_creators_together(
    url: &str,
    creators: usize,
    locked: std::sync::mpsc::Sender<()>,
) -> i64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut holder = PgConnection::connect(url).await.expect("connect");
        let mut watcher = PgConnection::connect(url).await.expect("connect");
        sqlx::raw_sql("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
            .execute(&mut holder)
            .await
            .expect("lock projects");
        locked.send(()).expect("creators start");
        let deadline = Instant::now() + Duration::from_secs(60);
        let waiting = loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE relation = 'projects'::regclass AND NOT granted",
            )
            .fetch_one(&mut watcher)
            .await
            .expect("pg_locks");
            if waiting >= creators as i64 || Instant::now() > deadline {
                break waiting;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        sqlx::raw_sql("COMMIT")
            .execute(&mut holder)
            .await
            .expect("unlock projects");
        waiting
    })
}

#[tokio::test]
async fn concurrent_keys_create_for_one_name_make_one_project_with_every_key() {
    let db = TestDb::create("race").await;
    let url = db.url();
    // The server migrates once; the creators then only check the migrations.
    let mut server = Server::start_with(&[
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_AUTH__SALT", "race-salt"),
    ]);
    let mut pg = db.connect().await;
    for round in 0..ROUNDS {
        let project = format!("race-app-{round}");
        let (waiting, outputs) = std::thread::scope(|scope| {
            let (locked_tx, locked) = std::sync::mpsc::channel();
            let gate = scope.spawn(|| release_creators_together(&url, CREATORS, locked_tx));
            locked.recv().expect("projects locked");
            let creators: Vec<_> = (0..CREATORS)
                .map(|_| {
                    scope.spawn(|| server.cli(&["keys", "create", "--project", &project, "--json"]))
                })
                .collect();
            let waiting = gate.join().expect("gate thread");
            let outputs: Vec<std::process::Output> = creators
                .into_iter()
                .map(|creator| creator.join().expect("creator thread"))
                .collect();
            (waiting, outputs)
        });
        let project_ids: Vec<String> = outputs
            .iter()
            .map(|output| {
                let created: Value = serde_json::from_str(&stdout(output)).expect("--json");
                created["projectId"].as_str().expect("projectId").to_owned()
            })
            .collect();
        assert_eq!(
            waiting, CREATORS as i64,
            "round {round}: creators waiting for projects"
        );

        let projects: Vec<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE name = $1 AND deleted_at IS NULL")
                .bind(&project)
                .fetch_all(&mut pg)
                .await
                .expect("projects");
        assert_eq!(
            projects.len(),
            1,
            "round {round}: projects named {project}: {projects:?}"
        );
        assert!(
            project_ids.iter().all(|id| *id == projects[0]),
            "round {round}: keys created for {project_ids:?}, stored project {projects:?}"
        );
        let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE project_id = $1")
            .bind(&projects[0])
            .fetch_one(&mut pg)
            .await
            .expect("keys");
        assert_eq!(keys, CREATORS as i64, "round {round}");
        // The losers' organisations were rolled back with their transactions.
        let organizations: i64 =
            sqlx::query_scalar("SELECT count(*) FROM organizations WHERE name = $1")
                .bind(&project)
                .fetch_one(&mut pg)
                .await
                .expect("organizations");
        assert_eq!(organizations, 1, "round {round}");
    }
    assert!(server.stop().success());
}

/// Langfuse's `prompts` table (Prisma `Prompt`: unique by project, name and version).
const LANGFUSE_PROMPTS: &str = r#"
CREATE TABLE prompts (id TEXT PRIMARY KEY,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    project_id TEXT NOT NULL REFERENCES projects(id), created_by TEXT NOT NULL,
    prompt JSONB NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    type TEXT NOT NULL DEFAULT 'text', config JSONB NOT NULL DEFAULT '{}',
    tags TEXT[] DEFAULT ARRAY[]::TEXT[], labels TEXT[] DEFAULT ARRAY[]::TEXT[],
    commit_message TEXT);
CREATE UNIQUE INDEX prompts_project_id_name_version_key ON prompts(project_id, name, version);
"#;

#[tokio::test]
async fn langfuse_source_links_generations_to_their_prompt_versions() {
    use opentelemetry_proto::tonic::common::v1::KeyValue;

    let db = TestDb::create("prompts").await;
    let mut pg = db.connect().await;
    sqlx::raw_sql(LANGFUSE_SCHEMA)
        .execute(&mut pg)
        .await
        .expect("Langfuse schema");
    sqlx::raw_sql(LANGFUSE_PROMPTS)
        .execute(&mut pg)
        .await
        .expect("Langfuse prompts");
    let setup = format!(
        r#"
        INSERT INTO organizations (id, name) VALUES ('org-a', 'A');
        INSERT INTO projects (id, org_id, name) VALUES ('proj-a', 'org-a', 'a'), ('proj-b', 'org-a', 'b');
        INSERT INTO api_keys (id, public_key, hashed_secret_key, fast_hashed_secret_key, display_secret_key, project_id, scope)
            VALUES ('k-fast', 'pk-lf-fast', '{}', '{}', 'sk-lf-...0000', 'proj-a', 'PROJECT');
        INSERT INTO prompts (id, project_id, created_by, prompt, name, version) VALUES
            ('prompt-greeting-1', 'proj-a', 'API', '"Hi"', 'greeting', 1),
            ('prompt-greeting-2', 'proj-a', 'API', '"Hello"', 'greeting', 2),
            ('prompt-other-project', 'proj-b', 'API', '"Hey"', 'farewell', 1);
        "#,
        FAST_KEY.bcrypt, FAST_KEY.fast_hash,
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&mut pg)
        .await
        .expect("Langfuse rows");

    let url = db.url();
    let server = Server::start_with(&[
        ("SPANBRIDGE_META__URL", url.as_str()),
        ("SPANBRIDGE_META__SOURCE", "langfuse"),
        ("SPANBRIDGE_AUTH__SALT", LANGFUSE_SALT),
    ]);
    let trace_id = "cb8efff798038103d269b633813fc60c";
    let generation = |span_id: &str,
                      prompt: &str,
                      version: i64|
     -> opentelemetry_proto::tonic::trace::v1::Span {
        let attributes: Vec<KeyValue> = vec![
            string_attr("gen_ai.operation.name", "chat"),
            string_attr("gen_ai.request.model", "gpt-4o"),
            string_attr("langfuse.observation.prompt.name", prompt),
            int_attr("langfuse.observation.prompt.version", version),
        ];
        span(trace_id, span_id, "", "chat gpt-4o", attributes)
    };
    let spans = vec![
        // The project's prompt at that version: linked.
        generation("3000000000000001", "greeting", 2),
        generation("3000000000000002", "greeting", 1),
        // No such version, and another project's prompt: not linked.
        generation("3000000000000003", "greeting", 9),
        generation("3000000000000004", "farewell", 1),
    ];
    let response = client()
        .post(server.http_url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .header(
            "authorization",
            basic_auth("pk-lf-fast", FAST_KEY.secret_key),
        )
        .body(prost::Message::encode_to_vec(&request(spans)))
        .send()
        .await
        .expect("POST /v1/traces");
    assert_eq!(response.status(), 200);

    // The read API does not return promptId: read the embedded events table.
    let mut events =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
            .await
            .expect("events database");
    let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT span_id, prompt_id, prompt_name, prompt_version FROM events ORDER BY span_id",
    )
    .fetch_all(&mut events)
    .await
    .expect("events");
    let expected = [
        ("3000000000000001", "prompt-greeting-2", "greeting", 2),
        ("3000000000000002", "prompt-greeting-1", "greeting", 1),
        ("3000000000000003", "", "greeting", 9),
        ("3000000000000004", "", "farewell", 1),
    ];
    assert_eq!(
        rows,
        expected
            .iter()
            .map(|(span, id, name, version)| (
                span.to_string(),
                id.to_string(),
                name.to_string(),
                Some(*version)
            ))
            .collect::<Vec<_>>()
    );
}
