package store

import "context"

// BuildCounter is one row of a store's build numbering: the next build
// number NextBuild hands out for (Account, Region, Kind, Name, Version).
type BuildCounter struct {
	Account, Region, Kind, Name, Version string
	Next                                 int
}

// Record is one row of a store's state, exactly one field set. It is what
// `kiln migrate` carries from one backend to another.
type Record struct {
	Resource *Resource
	Token    *Token
	Counter  *BuildCounter
	Advisory *Advisory
}

// Dumper is a backend whose whole state can be read out, for moving it to
// another backend.
type Dumper interface {
	// Dump calls fn with every record, all from one snapshot, resources in
	// ARN order.
	Dump(ctx context.Context, fn func(Record) error) error
}

// Loader is a backend that can take another's state.
type Loader interface {
	// Load writes records in one durable transaction. It is idempotent:
	// a resource or advisory already there is replaced by the record, a
	// build counter is raised to the record's Next (never lowered, so no
	// number is handed out twice), and a token already there is kept.
	Load(ctx context.Context, records []Record) error
	// Empty reports whether the store holds no state of its own: no
	// resource outside the Amazon-owned catalogue (which every kiln seeds
	// at start), no token, no build counter and no advisory.
	Empty(ctx context.Context) (bool, error)
}
