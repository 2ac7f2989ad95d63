package session

import (
	"context"
	"errors"
	"time"
)

// Entry is one stored record as a Store sees it. The Manager encodes the
// session (its data, timestamps, user and binding signals) into Value; a
// store treats Value as opaque bytes and reads only the other fields, which
// it needs to namespace, index and expire the record.
type Entry struct {
	// Tenant is the tenant the record belongs to ("" for a single-tenant
	// app). Stores namespace every key by tenant: a record is only ever
	// found again under the tenant it was written with.
	Tenant string
	// ID is the record's key within its tenant: the lowercase hex SHA-256 of
	// the session ID (never the ID the browser holds), or for a remember-me
	// token "rm." followed by the hex SHA-256 of its selector.
	ID string
	// UserID is the user the record belongs to, or "" for an anonymous
	// session. Stores keep a per-user index of records with a UserID.
	UserID string
	// Version counts the writes of the record, starting at 1. Update
	// succeeds only when the stored version is Version-1.
	Version uint64
	// Expires is when the record stops existing: the earlier of the idle
	// and the absolute deadline. A store never returns a record at or past
	// Expires, and deletes it in the background.
	Expires time.Time
	// Value is the encoded record; stores keep it byte for byte.
	Value []byte
}

// A Store keeps session records where several tether or application
// replicas can share them. Implementations live in their own packages
// (memstore, filestore, redisstore, pgstore) and pass the conformance suite
// in session/storetest. Every method is safe for concurrent use; errors are
// returned only for system failures (an unreachable server, a full disk),
// never for a record that is absent.
type Store interface {
	// Get returns the live record (tenant, id). It returns (Entry{}, false,
	// nil) when there is none or it has expired.
	Get(ctx context.Context, tenant, id string) (Entry, bool, error)

	// Create stores e, which must have Version 1, unless a live record with
	// the same tenant and ID exists; then it changes nothing and returns
	// false.
	Create(ctx context.Context, e Entry) (bool, error)

	// Update replaces the record (e.Tenant, e.ID) with e if and only if it
	// exists, is live and has version e.Version-1: a compare-and-swap. It
	// returns false and changes nothing otherwise, so a write based on a
	// stale read, or on a record that was deleted or renewed meanwhile,
	// never lands and never brings a record back. When e.UserID differs
	// from the stored one the per-user index follows.
	Update(ctx context.Context, e Entry) (bool, error)

	// Delete removes the record (tenant, id) and its index entry. Deleting
	// an absent record is not an error.
	Delete(ctx context.Context, tenant, id string) error

	// ListUser returns the live records of userID in tenant, in no
	// particular order. It never returns expired or deleted records, even
	// when the index still names them.
	ListUser(ctx context.Context, tenant, userID string) ([]Entry, error)

	// DeleteUser deletes every record of userID in tenant except those
	// whose ID is in except, and returns how many it deleted.
	DeleteUser(ctx context.Context, tenant, userID string, except ...string) (int, error)

	// Close releases the store's connections and background work.
	Close() error
}

// ErrCorrupt is wrapped by the errors of a Store whose stored bytes for a
// record cannot be read back (a framing or checksum failure). The Manager
// treats such a record as absent and counts it.
var ErrCorrupt = errors.New("session: corrupted record")
