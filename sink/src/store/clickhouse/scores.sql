-- Langfuse's `scores` table (reference langfuse-otel.md §4.1), created when absent; an existing
-- table (a Langfuse deployment's own) is used as it is.
CREATE TABLE IF NOT EXISTS scores (
    id String,
    timestamp DateTime64(3),
    project_id String,
    environment LowCardinality(String) DEFAULT 'default',
    trace_id Nullable(String),
    session_id Nullable(String),
    dataset_run_id Nullable(String),
    observation_id Nullable(String),
    name String,
    value Float64,
    source String,
    comment Nullable(String) CODEC(ZSTD(1)),
    metadata Map(LowCardinality(String), String),
    author_user_id Nullable(String),
    config_id Nullable(String),
    data_type String,
    string_value Nullable(String),
    queue_id Nullable(String),
    created_at DateTime64(3) DEFAULT now(),
    updated_at DateTime64(3) DEFAULT now(),
    event_ts DateTime64(3),
    is_deleted UInt8,
    execution_trace_id Nullable(String),
    long_string_value String CODEC(ZSTD(3)),
    ingestion_api_key String DEFAULT '',
    ingestion_sdk_name LowCardinality(String) DEFAULT 'unknown',
    ingestion_sdk_version LowCardinality(String) DEFAULT 'unknown',
    INDEX idx_id id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_project_trace_observation (project_id, trace_id, observation_id) TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_project_session (project_id, session_id) TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_project_dataset_run (project_id, dataset_run_id) TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_created_at created_at TYPE minmax GRANULARITY 1
) ENGINE = ReplacingMergeTree(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
PRIMARY KEY (project_id, toDate(timestamp), name)
ORDER BY (project_id, toDate(timestamp), name, id);
