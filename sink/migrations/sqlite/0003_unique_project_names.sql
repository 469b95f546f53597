-- One live project per name (as in Postgres' migration 0002): project creation inserts with
-- ON CONFLICT DO NOTHING against this index. Existing duplicates keep their projects and keys:
-- the oldest keeps the name, later ones are renamed "X (<id>)".
UPDATE projects SET name = name || ' (' || id || ')'
WHERE deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM projects q
              WHERE q.name = projects.name AND q.deleted_at IS NULL
                AND (q.created_at < projects.created_at
                     OR (q.created_at = projects.created_at AND q.id < projects.id)));

CREATE UNIQUE INDEX projects_live_name_key ON projects (name) WHERE deleted_at IS NULL;
