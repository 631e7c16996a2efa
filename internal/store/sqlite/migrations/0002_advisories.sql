-- The offline vulnerability database (store.Advisories): OSV records by id,
-- and one index row per (ecosystem, package) a record's affected[] names,
-- which is how a scan finds the records of an image's packages. Times are
-- Unix microseconds (UTC): OSV times may lie outside the range of
-- nanoseconds in an int64.

CREATE TABLE advisories (
	id       TEXT PRIMARY KEY,
	modified INTEGER NOT NULL,
	doc      BLOB NOT NULL
);

CREATE TABLE advisory_packages (
	ecosystem TEXT NOT NULL,
	package   TEXT NOT NULL,
	id        TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	PRIMARY KEY (ecosystem, package, id)
) WITHOUT ROWID;

-- Replacing a record deletes its index rows by id.
CREATE INDEX advisory_packages_by_id ON advisory_packages (id);

-- One row per (ecosystem, record), so that the status — each ecosystem's
-- record count and newest modified time — is a walk of this table rather
-- than a join and DISTINCT over the package index.
CREATE TABLE advisory_ecosystems (
	ecosystem TEXT NOT NULL,
	id        TEXT NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	modified  INTEGER NOT NULL,
	PRIMARY KEY (ecosystem, id)
) WITHOUT ROWID;

CREATE INDEX advisory_ecosystems_by_id ON advisory_ecosystems (id);
