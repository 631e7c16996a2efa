-- Initial schema. Times are Unix nanoseconds (UTC); sort_key is the
-- byte-ordered encoding of (version, build) written by sortKey in order.go.

CREATE TABLE resources (
	arn      TEXT PRIMARY KEY,
	kind     TEXT NOT NULL,
	account  TEXT NOT NULL,
	region   TEXT NOT NULL,
	name     TEXT NOT NULL,
	version  TEXT NOT NULL,
	build    INTEGER NOT NULL,
	sort_key TEXT NOT NULL,
	doc      BLOB NOT NULL,
	policy   TEXT NOT NULL,
	created  INTEGER NOT NULL,
	updated  INTEGER NOT NULL
);

-- List walks (kind, region) in (name, sort_key, arn) order; the second index
-- serves the common single-owner case without visiting other accounts' rows.
CREATE INDEX resources_by_name ON resources (kind, region, name, sort_key, arn);
CREATE INDEX resources_by_owner ON resources (kind, region, account, name, sort_key, arn);

CREATE TABLE tags (
	arn   TEXT NOT NULL REFERENCES resources (arn) ON DELETE CASCADE,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (arn, key)
) WITHOUT ROWID;

-- grants holds Resource.SharedWith: one row per principal a resource policy
-- grants access to.
CREATE TABLE grants (
	arn       TEXT NOT NULL REFERENCES resources (arn) ON DELETE CASCADE,
	principal TEXT NOT NULL,
	PRIMARY KEY (arn, principal)
) WITHOUT ROWID;

-- build_counters outlives the resources it numbers, so a build number is
-- never handed out twice even after the build is deleted.
CREATE TABLE build_counters (
	account TEXT NOT NULL,
	region  TEXT NOT NULL,
	kind    TEXT NOT NULL,
	name    TEXT NOT NULL,
	version TEXT NOT NULL,
	next    INTEGER NOT NULL,
	PRIMARY KEY (account, region, kind, name, version)
) WITHOUT ROWID;

CREATE TABLE tokens (
	account      TEXT NOT NULL,
	operation    TEXT NOT NULL,
	token        TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	response     BLOB NOT NULL,
	created      INTEGER NOT NULL,
	PRIMARY KEY (account, operation, token)
) WITHOUT ROWID;

CREATE INDEX tokens_by_created ON tokens (created);
