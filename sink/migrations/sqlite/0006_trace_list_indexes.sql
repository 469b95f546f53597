-- The trace list (GET /api/public/traces) reads traces by their root row (no parent). These
-- partial indexes hold only root rows, one per trace, so page 1 of the list and its count read
-- an index in order instead of every row: newest (or oldest) first, and by name. A trace filter
-- by user or session reads events_user_idx / events_session_idx. Only a root row adds entries
-- to them, so the write cost per span barely changes (docs/performance-list.md).
CREATE INDEX events_trace_list_idx ON events(project_id, start_time, trace_id)
    WHERE parent_span_id = '' AND is_deleted = 0;
CREATE INDEX events_trace_name_idx
    ON events(project_id, iif(trace_name = '', name, trace_name), start_time, trace_id)
    WHERE parent_span_id = '' AND is_deleted = 0;
