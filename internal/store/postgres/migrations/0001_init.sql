-- Initial schema. Times are Unix nanoseconds (UTC); sort_key is the
-- byte-ordered encoding of (version, build) written by sortKey in order.go.
-- Every text column that List orders or compares by is COLLATE "C", so the
-- order is bytewise (as Go compares strings) whatever the database's
-- default collation.

CREATE TABLE resources (
	arn      text COLLATE "C" PRIMARY KEY,
	kind     text COLLATE "C" NOT NULL,
	account  text COLLATE "C" NOT NULL,
	region   text COLLATE "C" NOT NULL,
	name     text COLLATE "C" NOT NULL,
	version  text COLLATE "C" NOT NULL,
	build    bigint NOT NULL,
	sort_key text COLLATE "C" NOT NULL,
	doc      bytea NOT NULL,
	policy   text NOT NULL,
	-- Tags and SharedWith live in the row rather than in tables of their
	-- own: a write is then one statement, and a page one index walk.
	tags     jsonb NOT NULL,
	grants   text[] NOT NULL,
	created  bigint NOT NULL,
	updated  bigint NOT NULL
);

-- List walks (kind, region) in (name, sort_key, arn) order; the second index
-- serves the common single-owner case without visiting other accounts' rows,
-- the third the "shared with me" lists.
CREATE INDEX resources_by_name ON resources (kind, region, name, sort_key, arn);
CREATE INDEX resources_by_owner ON resources (kind, region, account, name, sort_key, arn);
CREATE INDEX resources_by_grant ON resources USING gin (grants);

-- build_counters outlives the resources it numbers, so a build number is
-- never handed out twice even after the build is deleted.
CREATE TABLE build_counters (
	account text NOT NULL,
	region  text NOT NULL,
	kind    text NOT NULL,
	name    text NOT NULL,
	version text NOT NULL,
	next    bigint NOT NULL,
	PRIMARY KEY (account, region, kind, name, version)
);

CREATE TABLE tokens (
	account      text NOT NULL,
	operation    text NOT NULL,
	token        text NOT NULL,
	request_hash text NOT NULL,
	response     bytea NOT NULL,
	created      bigint NOT NULL,
	PRIMARY KEY (account, operation, token)
);

CREATE INDEX tokens_by_created ON tokens (created);
