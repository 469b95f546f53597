-- Embedded-mode schema. Metadata tables use Langfuse's Postgres names and columns (reference
-- §4.2); `events` has the columns of Langfuse v4's ClickHouse `events_full`, with maps and arrays
-- stored as JSON text and times as integer microseconds since the epoch.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at TEXT,
    name TEXT NOT NULL,
    retention_days INTEGER,
    has_traces INTEGER NOT NULL DEFAULT 0,
    metadata TEXT
);
CREATE INDEX projects_org_id_idx ON projects(org_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    note TEXT,
    public_key TEXT NOT NULL UNIQUE,
    hashed_secret_key TEXT NOT NULL UNIQUE,
    fast_hashed_secret_key TEXT UNIQUE,
    display_secret_key TEXT NOT NULL,
    last_used_at TEXT,
    expires_at TEXT,
    is_in_app_agent_key INTEGER NOT NULL DEFAULT 0,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    scope TEXT NOT NULL DEFAULT 'PROJECT',
    created_by_user_id TEXT,
    created_by_api_key_id TEXT
);
CREATE INDEX api_keys_project_id_idx ON api_keys(project_id);

CREATE TABLE events (
    project_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL DEFAULT '',
    start_time INTEGER NOT NULL,
    end_time INTEGER,
    name TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'SPAN',
    environment TEXT NOT NULL DEFAULT 'default',
    version TEXT NOT NULL DEFAULT '',
    release TEXT NOT NULL DEFAULT '',
    trace_name TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    level TEXT NOT NULL DEFAULT 'DEFAULT',
    status_message TEXT NOT NULL DEFAULT '',
    completion_start_time INTEGER,
    is_app_root INTEGER NOT NULL DEFAULT 0,
    bookmarked INTEGER NOT NULL DEFAULT 0,
    public INTEGER NOT NULL DEFAULT 0,
    prompt_id TEXT NOT NULL DEFAULT '',
    prompt_name TEXT NOT NULL DEFAULT '',
    prompt_version INTEGER,
    model_id TEXT NOT NULL DEFAULT '',
    provided_model_name TEXT NOT NULL DEFAULT '',
    model_parameters TEXT NOT NULL DEFAULT '',
    provided_usage_details TEXT NOT NULL DEFAULT '{}',
    usage_details TEXT NOT NULL DEFAULT '{}',
    provided_cost_details TEXT NOT NULL DEFAULT '{}',
    cost_details TEXT NOT NULL DEFAULT '{}',
    usage_pricing_tier_id TEXT,
    usage_pricing_tier_name TEXT,
    tool_definitions TEXT NOT NULL DEFAULT '{}',
    tool_calls TEXT NOT NULL DEFAULT '[]',
    tool_call_names TEXT NOT NULL DEFAULT '[]',
    input TEXT NOT NULL DEFAULT '',
    output TEXT NOT NULL DEFAULT '',
    metadata_names TEXT NOT NULL DEFAULT '[]',
    metadata_values TEXT NOT NULL DEFAULT '[]',
    experiment_id TEXT NOT NULL DEFAULT '',
    experiment_name TEXT NOT NULL DEFAULT '',
    experiment_metadata_names TEXT NOT NULL DEFAULT '[]',
    experiment_metadata_values TEXT NOT NULL DEFAULT '[]',
    experiment_description TEXT NOT NULL DEFAULT '',
    experiment_dataset_id TEXT NOT NULL DEFAULT '',
    experiment_item_id TEXT NOT NULL DEFAULT '',
    experiment_item_version INTEGER,
    experiment_item_expected_output TEXT NOT NULL DEFAULT '',
    experiment_item_metadata_names TEXT NOT NULL DEFAULT '[]',
    experiment_item_metadata_values TEXT NOT NULL DEFAULT '[]',
    experiment_item_root_span_id TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'otel',
    service_name TEXT NOT NULL DEFAULT '',
    service_version TEXT NOT NULL DEFAULT '',
    scope_name TEXT NOT NULL DEFAULT '',
    scope_version TEXT NOT NULL DEFAULT '',
    telemetry_sdk_language TEXT NOT NULL DEFAULT '',
    telemetry_sdk_name TEXT NOT NULL DEFAULT '',
    telemetry_sdk_version TEXT NOT NULL DEFAULT '',
    event_bytes INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    event_ts INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    ingestion_api_key TEXT NOT NULL DEFAULT '',
    ingestion_sdk_name TEXT NOT NULL DEFAULT 'unknown',
    ingestion_sdk_version TEXT NOT NULL DEFAULT 'unknown',
    trace_input TEXT NOT NULL DEFAULT '',
    trace_output TEXT NOT NULL DEFAULT '',
    -- A re-sent span replaces its earlier row, like ReplacingMergeTree does in ClickHouse.
    PRIMARY KEY (project_id, trace_id, span_id)
);
CREATE INDEX events_session_idx ON events(project_id, session_id);
CREATE INDEX events_user_idx ON events(project_id, user_id);
