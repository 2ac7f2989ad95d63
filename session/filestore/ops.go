package filestore

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/tetherlb/tether/session"
)

// empty is the value of index and expiry keys, which carry everything in
// the key.
var empty = []byte{}

// buckets are the buckets of one transaction.
type buckets struct {
	records, users, expiry *bolt.Bucket
}

func bucketsOf(tx *bolt.Tx) buckets {
	return buckets{
		records: tx.Bucket(bucketRecords),
		users:   tx.Bucket(bucketUsers),
		expiry:  tx.Bucket(bucketExpiry),
	}
}

// write stores e under rk together with its expiry and index keys. old is
// the record rk held, if any: its keys that e does not share are deleted.
func (b buckets) write(rk []byte, e session.Entry, old *record) error {
	expires := unixNano(e.Expires)
	if old != nil && old.expires != expires {
		if err := b.expiry.Delete(expiryKey(old.expires, rk)); err != nil {
			return err
		}
	}
	if old != nil && old.user != "" && old.user != e.UserID {
		if err := b.users.Delete(userKey(e.Tenant, old.user, e.ID)); err != nil {
			return err
		}
	}
	if err := b.records.Put(rk, encode(rk, e)); err != nil {
		return err
	}
	if old == nil || old.expires != expires {
		if err := b.expiry.Put(expiryKey(expires, rk), empty); err != nil {
			return err
		}
	}
	if e.UserID != "" && (old == nil || old.user != e.UserID) {
		return b.users.Put(userKey(e.Tenant, e.UserID, e.ID), empty)
	}
	return nil
}

// remove deletes the record r of (tenant, id), stored under rk, with its
// expiry and index keys.
func (b buckets) remove(rk []byte, tenant, id string, r record) error {
	if err := b.expiry.Delete(expiryKey(r.expires, rk)); err != nil {
		return err
	}
	if r.user != "" {
		if err := b.users.Delete(userKey(tenant, r.user, id)); err != nil {
			return err
		}
	}
	return b.records.Delete(rk)
}

// expire deletes the expiry key k and, when k is the current expiry of the
// record it names, that record and its index key. A corrupt record is
// deleted too: its expiry key is the last one written for it, so it is
// past its time. expire reports whether it deleted a record.
func (b buckets) expire(k []byte) (bool, error) {
	if err := b.expiry.Delete(k); err != nil || len(k) < 8 {
		return false, err
	}
	rk := k[8:]
	v := b.records.Get(rk)
	if v == nil {
		return false, nil
	}
	r, err := decode(rk, v)
	if err == nil && r.expires != expiryTime(k) {
		return false, nil
	}
	tenant, id, ok := splitRecordKey(rk)
	if err != nil || !ok {
		return true, b.records.Delete(rk)
	}
	return true, b.remove(rk, tenant, id, r)
}

// Get returns the live record (tenant, id), with a copy of its value. It
// returns an error wrapping session.ErrCorrupt when the stored bytes fail
// their checks.
func (s *Store) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return session.Entry{}, false, fmt.Errorf("filestore: get: %w", err)
	}
	rk := recordKey(tenant, id)
	now := s.now()
	var e session.Entry
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get(rk)
		if v == nil {
			return nil
		}
		r, err := decode(rk, v)
		if err != nil || r.expires <= now {
			return err
		}
		e, found = r.entry(tenant, id), true
		return nil
	})
	if err != nil {
		return session.Entry{}, false, fmt.Errorf("filestore: get: %w", err)
	}
	return e, found, nil
}

// Create stores e unless a live record (e.Tenant, e.ID) exists, replacing
// an expired one. It returns an error when e.Version is not 1 and, wrapping
// session.ErrCorrupt, when the record in place cannot be read.
func (s *Store) Create(ctx context.Context, e session.Entry) (bool, error) {
	if e.Version != 1 {
		return false, fmt.Errorf("filestore: create: version is %d, want 1", e.Version)
	}
	return s.writeIf(ctx, "create", e, func(old *record, now int64) bool {
		return old == nil || old.expires <= now
	})
}

// Update replaces the live record (e.Tenant, e.ID) of version e.Version-1
// with e, moving its index key when the user changed. It returns an error
// wrapping session.ErrCorrupt, and changes nothing, when the stored record
// cannot be read.
func (s *Store) Update(ctx context.Context, e session.Entry) (bool, error) {
	return s.writeIf(ctx, "update", e, func(old *record, now int64) bool {
		return old != nil && old.expires > now && old.version == e.Version-1
	})
}

// writeIf writes e, in one transaction, if ok approves of the record in
// place (nil when there is none) at the time now.
func (s *Store) writeIf(ctx context.Context, op string, e session.Entry, ok func(old *record, now int64) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("filestore: %s: %w", op, err)
	}
	rk := recordKey(e.Tenant, e.ID)
	now := s.now()
	var written bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		written = false
		b := bucketsOf(tx)
		var old *record
		if v := b.records.Get(rk); v != nil {
			r, err := decode(rk, v)
			if err != nil {
				return err
			}
			old = &r
		}
		if !ok(old, now) {
			return nil
		}
		written = true
		return b.write(rk, e, old)
	})
	if err != nil {
		return false, fmt.Errorf("filestore: %s: %w", op, err)
	}
	return written, nil
}

// Delete removes the record (tenant, id), if any, with its index and expiry
// keys; a corrupt record is removed too.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: delete: %w", err)
	}
	rk := recordKey(tenant, id)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := bucketsOf(tx)
		v := b.records.Get(rk)
		if v == nil {
			return nil
		}
		r, err := decode(rk, v)
		if err != nil {
			// Its keys cannot be found; the sweeper and DeleteUser drop
			// the keys that name a missing record.
			return b.records.Delete(rk)
		}
		return b.remove(rk, tenant, id, r)
	})
	if err != nil {
		return fmt.Errorf("filestore: delete: %w", err)
	}
	return nil
}

// userIDs returns the IDs the index lists for user in tenant.
func (b buckets) userIDs(tenant, user string) []string {
	prefix := userPrefix(tenant, user)
	var ids []string
	c := b.users.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// ListUser returns copies of the live records of userID in tenant. An empty
// userID has no records: anonymous sessions are not indexed. When some of
// the user's records cannot be read, ListUser returns the others together
// with an error wrapping session.ErrCorrupt.
func (s *Store) ListUser(ctx context.Context, tenant, userID string) ([]session.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filestore: list user: %w", err)
	}
	if userID == "" {
		return nil, nil
	}
	now := s.now()
	var out []session.Entry
	var corrupt int
	err := s.db.View(func(tx *bolt.Tx) error {
		out, corrupt = nil, 0
		b := bucketsOf(tx)
		for _, id := range b.userIDs(tenant, userID) {
			rk := recordKey(tenant, id)
			v := b.records.Get(rk)
			if v == nil {
				continue
			}
			r, err := decode(rk, v)
			if err != nil {
				corrupt++
				continue
			}
			if r.user == userID && r.expires > now {
				out = append(out, r.entry(tenant, id))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: list user: %w", err)
	}
	if corrupt > 0 {
		return out, fmt.Errorf("filestore: list user: %d records: %w", corrupt, session.ErrCorrupt)
	}
	return out, nil
}

// DeleteUser deletes, in one transaction, the records of userID in tenant
// whose ID is not in except, and returns how many live records it deleted.
// It also deletes the user's expired records and the records its index
// names that cannot be read, without counting them.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string, except ...string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("filestore: delete user: %w", err)
	}
	if userID == "" {
		return 0, nil
	}
	now := s.now()
	var n int
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		b := bucketsOf(tx)
		for _, id := range b.userIDs(tenant, userID) {
			if slices.Contains(except, id) {
				continue
			}
			deleted, err := b.deleteOfUser(tenant, userID, id, now)
			if err != nil {
				return err
			}
			if deleted {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("filestore: delete user: %w", err)
	}
	return n, nil
}

// deleteOfUser deletes the index key naming (tenant, id) as user's and the
// record itself when it is user's or cannot be read. It reports whether it
// deleted a live record.
func (b buckets) deleteOfUser(tenant, user, id string, now int64) (bool, error) {
	if err := b.users.Delete(userKey(tenant, user, id)); err != nil {
		return false, err
	}
	rk := recordKey(tenant, id)
	v := b.records.Get(rk)
	if v == nil {
		return false, nil
	}
	r, err := decode(rk, v)
	if err != nil {
		return false, b.records.Delete(rk)
	}
	if r.user != user {
		return false, nil
	}
	return r.expires > now, b.remove(rk, tenant, id, r)
}
