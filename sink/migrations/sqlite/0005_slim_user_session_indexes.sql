-- The user and session indexes without the project id in front (issue 18). Users and sessions
-- are random, so every new row inserts into a random page of each index, and each such 16 KiB
-- page is written whole to the WAL and copied again by the checkpoint. Without the
-- 36-character project id an entry is about half as large, so each index has about half the
-- pages and a commit dirties (and writes) fewer of them: −10 % gateway CPU per span in embedded
-- mode (docs/performance.md "Embedded store"). A filter by user or session still finds its
-- rows through the index; the query checks the project on them.
DROP INDEX events_session_idx;
DROP INDEX events_user_idx;
CREATE INDEX events_session_idx ON events(session_id);
CREATE INDEX events_user_idx ON events(user_id);
