// Package store defines kiln's durable state: Image Builder resources, their
// tags and resource policies, idempotency tokens and build counters. The
// Store interface is implemented by store/sqlite (the default) and
// store/postgres (`kiln serve --store postgres://…`); both must pass the
// shared conformance suite in store/storetest.
//
// Records keep the API's own JSON shape (Doc) plus the few columns the
// service needs to find them, so Get can echo exactly what Create was given.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns (possibly wrapped).
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrConflict is returned by Tx.Replace when the resource changed
	// since it was read, and by Update when the backend detected a
	// serialization conflict it could not resolve by retrying.
	ErrConflict = errors.New("store: conflict")
)

// Resource is one stored Image Builder resource.
type Resource struct {
	ARN     string // full ARN; the primary key
	Kind    string // ARN resource type: "component", "image-recipe", "workflow/build", ...
	Account string // owning account: 12 digits, or "aws" for Amazon-owned resources
	Region  string
	Name    string // the normalised name as it stands in the ARN
	Version string // "M.m.p" for versioned kinds, "" otherwise
	Build   int    // build number for build-versioned kinds, 0 otherwise

	// Doc is the resource as the API's Get operation returns it, without
	// tags (which live in Tags) — JSON, opaque to the store. A Doc the
	// store returns may share its bytes with the store's own copy: replace
	// it, never write into it.
	Doc  []byte
	Tags map[string]string
	// Policy is the resource policy JSON ("" when none); SharedWith lists
	// the principals (12-digit accounts or "*") it grants access to.
	Policy     string
	SharedWith []string

	Created time.Time
	Updated time.Time
}

// Query selects resources for List operations. Results come in a stable
// order: by Name, then semantic Version (numerically), then Build.
type Query struct {
	Kind   string // required
	Region string // required

	// Owners restricts to resources whose Account is one of these.
	Owners []string
	// SharedWith, when set, restricts to resources whose SharedWith
	// contains this principal or "*" (and whose Account is not it).
	SharedWith string

	Name    string // exact normalised name, optional
	Version string // exact "M.m.p", optional

	// After is a cursor: only resources that sort strictly after the
	// resource with this ARN are returned (keyset pagination). When that
	// resource has since been deleted, its position is read from the ARN
	// itself (KIND/NAME[/VERSION[/BUILD]] for the Query's Kind), so a
	// page's last row vanishing does not break the walk; an After that
	// names no resource and cannot be read that way is an error wrapping
	// ErrNotFound.
	After string
	// Where filters rows on the store's side of the pagination, so Limit
	// counts only matching rows; its conditions are AND-ed. Being data,
	// they are translated by a backend where it can (SQL columns) and
	// evaluated with Holds where it cannot.
	Where []Cond
	// Limit is the most rows returned; 0 means no limit.
	Limit int
}

// Token is a remembered idempotent request.
type Token struct {
	Account   string
	Operation string
	Token     string
	// RequestHash identifies the parameters of the first request; a repeat
	// with another hash is a mismatch.
	RequestHash string
	Response    []byte // JSON response body of the first request
	Created     time.Time
}

// Tx is a view of the store inside one transaction.
type Tx interface {
	Get(ctx context.Context, arn string) (Resource, error)
	// Insert adds a new resource; ErrExists when its ARN is taken.
	Insert(ctx context.Context, r Resource) error
	// Put replaces an existing resource; ErrNotFound when absent.
	Put(ctx context.Context, r Resource) error
	// Replace is Put on condition: it replaces r only when the stored
	// resource's Doc is still prev, byte for byte, and returns ErrConflict
	// otherwise (ErrNotFound when absent). It is the compare-and-set a
	// read-modify-write needs to stay correct on a backend whose
	// isolation lets two transactions read the same row (a job claim).
	Replace(ctx context.Context, r Resource, prev []byte) error
	// Delete removes a resource with its tags and grants; ErrNotFound when
	// absent.
	Delete(ctx context.Context, arn string) error
	List(ctx context.Context, q Query) ([]Resource, error)

	// NextBuild returns the next build number for (account, region, kind,
	// name, version), starting at 1. Numbers are never reused, even after
	// the builds are deleted.
	NextBuild(ctx context.Context, account, region, kind, name, version string) (int, error)

	// Token returns a remembered request, or ErrNotFound.
	Token(ctx context.Context, account, operation, token string) (Token, error)
	PutToken(ctx context.Context, t Token) error
}

// Store is kiln's durable state.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. When Update returns nil
	// the changes are durable (fsynced); when fn returns an error nothing
	// it did is kept. Implementations may commit several concurrent
	// Updates together (group commit), each isolated by a savepoint.
	//
	// Isolation: Updates are serializable. Their effects are as if they
	// ran one at a time in some order, each seeing every change of the
	// Updates ordered before it and none of the others: what fn read is
	// still true when its writes commit. (SQLite gets this from its
	// single writer; a backend with concurrent writers must run at
	// SERIALIZABLE, or take the locks that give the same result.)
	//
	// Retries: a backend that detects a serialization conflict rolls the
	// transaction back and may call fn again, as often as it likes, with
	// a fresh Tx; when it gives up it returns an error wrapping
	// ErrConflict. fn must therefore have no effect outside the Tx other
	// than setting variables it resets on entry. The conformance suite's
	// ClaimRace case checks that concurrent read-then-write Updates never
	// both win.
	//
	// Code that must stay correct under weaker isolation too (the build
	// engine's job claim) writes with Tx.Replace, whose compare-and-set
	// fails on a row another transaction changed.
	Update(ctx context.Context, fn func(Tx) error) error
	// Get reads one resource by ARN outside any transaction (ErrNotFound
	// when absent). Implementations may serve it from a cache, provided it
	// never returns a value older than the last Update that returned.
	Get(ctx context.Context, arn string) (Resource, error)
	// Ping reports whether the store is open and usable (for /healthz).
	Ping(ctx context.Context) error
	Close() error
}
