-- Langfuse's `scores` table (reference langfuse-otel.md §4.1) for embedded mode: the same
-- columns, times as integer microseconds since the epoch (millisecond-aligned, as the
-- ClickHouse table's DateTime64(3)), `metadata` as a JSON object of its flat pairs. One row per
-- (project, id): a score written again replaces its earlier version, as ReplacingMergeTree
-- keeps the newest `event_ts`.
CREATE TABLE scores (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    environment TEXT NOT NULL DEFAULT 'default',
    trace_id TEXT,
    session_id TEXT,
    dataset_run_id TEXT,
    observation_id TEXT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    source TEXT NOT NULL,
    comment TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    author_user_id TEXT,
    config_id TEXT,
    data_type TEXT NOT NULL,
    string_value TEXT,
    queue_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    event_ts INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    execution_trace_id TEXT,
    long_string_value TEXT NOT NULL DEFAULT '',
    ingestion_api_key TEXT NOT NULL DEFAULT '',
    ingestion_sdk_name TEXT NOT NULL DEFAULT 'unknown',
    ingestion_sdk_version TEXT NOT NULL DEFAULT 'unknown',
    PRIMARY KEY (project_id, id)
);
CREATE INDEX scores_project_trace_idx ON scores(project_id, trace_id, observation_id);
CREATE INDEX scores_project_session_idx ON scores(project_id, session_id);
