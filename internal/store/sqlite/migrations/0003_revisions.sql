-- Every write of a resource row gives it a new revision number, unique
-- across the whole database and never reused (revision.value is the last
-- one handed out, kept even when rows are deleted). A List reads only the
-- index — ARN and revision — and takes a row whose revision it already
-- holds from memory: a revision names one content for good, so what it
-- serves is what the row holds (see rows.go).

ALTER TABLE resources ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
UPDATE resources SET rev = rowid;

CREATE TABLE revision (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
);
INSERT INTO revision (id, value) SELECT 1, coalesce(max(rowid), 0) FROM resources;

-- The List indexes carry the revision, so a page is read from the index
-- alone.
DROP INDEX resources_by_name;
DROP INDEX resources_by_owner;
CREATE INDEX resources_by_name ON resources (kind, region, name, sort_key, arn, rev);
CREATE INDEX resources_by_owner ON resources (kind, region, account, name, sort_key, arn, rev);
