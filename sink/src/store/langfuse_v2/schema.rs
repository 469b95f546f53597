//! The start-up check that the database is Langfuse v2's: every table and column the store
//! writes or reads exists. Spanbridge never creates or alters anything there (v2 migrates its
//! own schema with Prisma at container start), so a database that is not v2's is refused,
//! naming what is missing, before anything is written.

use sqlx::PgPool;

/// The tables and columns the store writes or reads (v2.95's names).
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "traces",
        &[
            "id",
            "timestamp",
            "name",
            "project_id",
            "metadata",
            "user_id",
            "release",
            "version",
            "public",
            "bookmarked",
            "input",
            "output",
            "session_id",
            "tags",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "observations",
        &[
            "id",
            "trace_id",
            "project_id",
            "type",
            "start_time",
            "end_time",
            "completion_start_time",
            "name",
            "metadata",
            "parent_observation_id",
            "level",
            "status_message",
            "version",
            "model",
            "internal_model",
            "internal_model_id",
            "modelParameters",
            "input",
            "output",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "unit",
            "prompt_id",
            "input_cost",
            "output_cost",
            "total_cost",
            "calculated_input_cost",
            "calculated_output_cost",
            "calculated_total_cost",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "scores",
        &[
            "id",
            "timestamp",
            "name",
            "value",
            "observation_id",
            "trace_id",
            "comment",
            "source",
            "project_id",
            "author_user_id",
            "config_id",
            "data_type",
            "string_value",
            "queue_id",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "trace_sessions",
        &[
            "id",
            "project_id",
            "created_at",
            "updated_at",
            "bookmarked",
            "public",
        ],
    ),
    (
        "models",
        &[
            "id",
            "project_id",
            "model_name",
            "match_pattern",
            "start_date",
            "input_price",
            "output_price",
            "total_price",
            "unit",
        ],
    ),
];

/// What of [`REQUIRED`] the database lacks, as one sentence; Ok when nothing.
pub async fn check_schema(pool: &PgPool) -> Result<(), String> {
    let present: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema()",
    )
    .fetch_all(pool)
    .await
    .map_err(|error| format!("cannot read its schema: {error}"))?;
    let has = |table: &str, column: Option<&str>| {
        present
            .iter()
            .any(|(t, c)| t == table && column.is_none_or(|column| c == column))
    };
    let mut missing_tables = Vec::new();
    let mut missing_columns = Vec::new();
    for (table, columns) in REQUIRED {
        if !has(table, None) {
            missing_tables.push(*table);
            continue;
        }
        for column in *columns {
            if !has(table, Some(column)) {
                missing_columns.push(format!("{table}.{column}"));
            }
        }
    }
    if missing_tables.is_empty() && missing_columns.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing_tables.is_empty() {
        parts.push(format!("missing tables: {}", missing_tables.join(", ")));
    }
    if !missing_columns.is_empty() {
        parts.push(format!("missing columns: {}", missing_columns.join(", ")));
    }
    Err(format!(
        "{} (Spanbridge never creates or alters v2's schema: point langfuse_v2.url at the database Langfuse v2 migrated)",
        parts.join("; ")
    ))
}
