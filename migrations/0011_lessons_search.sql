-- The lessons learned register searched by any words (issue 15): a trigram index over what a search reads (the
-- lessons, the summary and the cause of each close), so `ILIKE '%…%'` over a year of closes reads the matching rows
-- instead of every row. pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the database's owner
-- may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE complaint_closes ADD COLUMN searchable text GENERATED ALWAYS AS (
    lessons_learned || E'\n' || summary || E'\n' || coalesce(cause, '')
) STORED;
COMMENT ON COLUMN complaint_closes.searchable IS
    'What a lessons search matches, one text: the lessons, the summary and the cause, a line each.';

CREATE INDEX complaint_closes_searchable ON complaint_closes USING gin (searchable gin_trgm_ops);
