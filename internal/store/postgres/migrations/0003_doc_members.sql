-- members is the Doc as store.Holds sees it (decoded by Go's encoding/json
-- and encoded again), as jsonb, so that conditions on Doc members
-- (store.DocField) run in SQL and a filtered List reads only its page. The
-- Doc itself stays bytea, echoed byte for byte. NULL means "not computed":
-- rows written before this migration, and Docs PostgreSQL's jsonb cannot
-- hold (a NUL in a string); List evaluates those rows' Doc conditions in Go.
ALTER TABLE resources ADD COLUMN members jsonb;
