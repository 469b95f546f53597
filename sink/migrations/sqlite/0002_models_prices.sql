-- Model prices (Langfuse's `models`, `pricing_tiers`, `prices`; reference §4.2), ingestion
-- suspension on organisations, and per-project daily ingestion usage. Times are ISO-8601 text,
-- JSON as text, prices as REAL per unit.

ALTER TABLE organizations ADD COLUMN cloud_free_tier_usage_threshold_state TEXT;

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    model_name TEXT NOT NULL,
    match_pattern TEXT NOT NULL,
    start_date TEXT,
    input_price REAL,
    output_price REAL,
    total_price REAL,
    unit TEXT,
    tokenizer_id TEXT,
    tokenizer_config TEXT
);
CREATE UNIQUE INDEX models_project_id_model_name_start_date_unit_key
    ON models(ifnull(project_id, ''), model_name, ifnull(start_date, ''), ifnull(unit, ''));
CREATE INDEX models_model_name_idx ON models(model_name);

CREATE TABLE pricing_tiers (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL,
    conditions TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (model_id, priority),
    UNIQUE (model_id, name)
);

CREATE TABLE prices (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    project_id TEXT,
    pricing_tier_id TEXT REFERENCES pricing_tiers(id) ON DELETE CASCADE,
    usage_type TEXT NOT NULL,
    price REAL NOT NULL,
    UNIQUE (model_id, usage_type, pricing_tier_id)
);
CREATE INDEX prices_model_id_idx ON prices(model_id);

-- Spanbridge's own: what the sink wrote per project and UTC day (updated in batches).
CREATE TABLE project_ingestion_usage (
    project_id TEXT NOT NULL,
    day TEXT NOT NULL,
    spans INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (project_id, day)
);
