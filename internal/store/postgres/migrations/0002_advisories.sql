-- The offline vulnerability database (store.Advisories): OSV records by id,
-- one index row per (ecosystem, package) a record's affected[] names, and
-- one per (ecosystem, record) for the per-ecosystem status. Times are Unix
-- microseconds (UTC): OSV times may lie outside the range of nanoseconds in
-- an int64.

CREATE TABLE advisories (
	id       text COLLATE "C" PRIMARY KEY,
	modified bigint NOT NULL,
	doc      bytea NOT NULL
);

CREATE TABLE advisory_packages (
	ecosystem text COLLATE "C" NOT NULL,
	package   text COLLATE "C" NOT NULL,
	id        text COLLATE "C" NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	PRIMARY KEY (ecosystem, package, id)
);

CREATE INDEX advisory_packages_by_id ON advisory_packages (id);

CREATE TABLE advisory_ecosystems (
	ecosystem text COLLATE "C" NOT NULL,
	id        text COLLATE "C" NOT NULL REFERENCES advisories (id) ON DELETE CASCADE,
	modified  bigint NOT NULL,
	PRIMARY KEY (ecosystem, id)
);

CREATE INDEX advisory_ecosystems_by_id ON advisory_ecosystems (id);
