-- Spanbridge's own Postgres metadata database. Tables and columns are Langfuse's (reference
-- §4.2; Prisma `schema.prisma`), so Langfuse tooling can read them and the same queries serve
-- `meta.source = "langfuse"`. Times are TIMESTAMP(3) (UTC), as Prisma creates them.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    cloud_config JSONB,
    metadata JSONB,
    -- 'BLOCKED' suspends ingestion of every project of the organisation (403).
    cloud_free_tier_usage_threshold_state TEXT
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP(3),
    name TEXT NOT NULL,
    retention_days INTEGER,
    has_traces BOOLEAN NOT NULL DEFAULT false,
    metadata JSONB
);
CREATE INDEX projects_org_id_idx ON projects(org_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    note TEXT,
    public_key TEXT NOT NULL UNIQUE,
    hashed_secret_key TEXT NOT NULL UNIQUE,
    fast_hashed_secret_key TEXT UNIQUE,
    display_secret_key TEXT NOT NULL,
    last_used_at TIMESTAMP(3),
    expires_at TIMESTAMP(3),
    is_in_app_agent_key BOOLEAN NOT NULL DEFAULT false,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    scope TEXT NOT NULL DEFAULT 'PROJECT',
    created_by_user_id TEXT,
    created_by_api_key_id TEXT
);
CREATE INDEX api_keys_project_id_idx ON api_keys(project_id);
CREATE INDEX api_keys_organization_id_idx ON api_keys(organization_id);

CREATE TABLE models (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    model_name TEXT NOT NULL,
    match_pattern TEXT NOT NULL,
    start_date TIMESTAMP(3),
    input_price DECIMAL(65, 30),
    output_price DECIMAL(65, 30),
    total_price DECIMAL(65, 30),
    unit TEXT,
    tokenizer_id TEXT,
    tokenizer_config JSONB
);
CREATE UNIQUE INDEX models_project_id_model_name_start_date_unit_key
    ON models(project_id, model_name, start_date, unit) NULLS NOT DISTINCT;
CREATE INDEX models_model_name_idx ON models(model_name);

CREATE TABLE pricing_tiers (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT false,
    priority INTEGER NOT NULL,
    conditions JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (model_id, priority),
    UNIQUE (model_id, name)
);

CREATE TABLE prices (
    id TEXT PRIMARY KEY,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    project_id TEXT,
    pricing_tier_id TEXT REFERENCES pricing_tiers(id) ON DELETE CASCADE,
    usage_type TEXT NOT NULL,
    price DECIMAL(65, 30) NOT NULL,
    UNIQUE (model_id, usage_type, pricing_tier_id)
);
CREATE INDEX prices_model_id_idx ON prices(model_id);

-- Spanbridge's own: what the sink wrote per project and UTC day (updated in batches).
CREATE TABLE project_ingestion_usage (
    project_id TEXT NOT NULL,
    day DATE NOT NULL,
    spans BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    rows_written BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (project_id, day)
);
