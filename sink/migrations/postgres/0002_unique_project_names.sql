-- One live project per name, so `keys create --project X` run twice at once cannot create two
-- projects called X: project creation inserts with ON CONFLICT DO NOTHING against this index
-- and reads the winner's id. Beyond Langfuse's schema (its names are unique per organisation
-- only); never applied to a Langfuse database (meta.source = "langfuse" is not migrated).
--
-- A database that already holds duplicates (from that race) keeps every project and key: the
-- oldest project keeps the name, later ones are renamed "X (<id>)".
UPDATE projects p SET name = p.name || ' (' || p.id || ')'
WHERE p.deleted_at IS NULL
  AND EXISTS (SELECT 1 FROM projects q
              WHERE q.name = p.name AND q.deleted_at IS NULL
                AND (q.created_at, q.id) < (p.created_at, p.id));

CREATE UNIQUE INDEX projects_live_name_key ON projects (name) WHERE deleted_at IS NULL;
