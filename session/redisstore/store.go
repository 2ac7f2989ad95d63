package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/tetherlb/tether/session"
)

// Get returns the live record (tenant, id) in exactly one round trip (a
// GET). A value it cannot read back as a record yields an error wrapping
// session.ErrCorrupt.
func (s *Store) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.client.Do(ctx, s.client.B().Get().Key(s.recordKey(tenant, id)).Build()).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return session.Entry{}, false, nil
	case isWrongType(err):
		return session.Entry{}, false, fmt.Errorf("redisstore: get %s: %w", id, errNotString)
	case err != nil:
		return session.Entry{}, false, fmt.Errorf("redisstore: get: %w", err)
	}
	e, err := decodeRecord(b)
	if err != nil {
		return session.Entry{}, false, fmt.Errorf("redisstore: get %s: %w", id, err)
	}
	e.Tenant, e.ID = tenant, id
	return e, true, nil
}

// Create stores e unless a live record (e.Tenant, e.ID) exists: it
// indexes a user's record first, then writes it with SET NX PXAT. An
// entry whose version is not 1 is an error.
func (s *Store) Create(ctx context.Context, e session.Entry) (bool, error) {
	if e.Version != 1 {
		return false, fmt.Errorf("redisstore: create: %w, not %d", errVersion, e.Version)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.index(ctx, e); err != nil {
		return false, fmt.Errorf("redisstore: create: %w", err)
	}
	cmd := s.client.B().Set().Key(s.recordKey(e.Tenant, e.ID)).Value(rueidis.BinaryString(encodeRecord(e))).
		Nx().PxatMillisecondsTimestamp(pxat(e.Expires)).Build()
	switch err := s.client.Do(ctx, cmd).Error(); {
	case rueidis.IsRedisNil(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("redisstore: create: %w", err)
	}
	return true, nil
}

// Update replaces the record (e.Tenant, e.ID) with e if its version is
// e.Version-1, atomically, in a Lua script on the record's key. It indexes
// a user's record first, and removes the entry of the previous user after
// a change of user. A record whose framing is broken is left alone:
// Update returns false. The script does not verify the checksum (only Get
// and ListUser do), so a record with damaged bytes but intact framing is
// replaced by e when its version matches.
func (s *Store) Update(ctx context.Context, e session.Entry) (bool, error) {
	if e.Version < 2 {
		return false, nil // no stored record has version 0
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.index(ctx, e); err != nil {
		return false, fmt.Errorf("redisstore: update: %w", err)
	}
	keys := []string{s.recordKey(e.Tenant, e.ID)}
	args := []string{
		versionBytes(e.Version - 1),
		rueidis.BinaryString(encodeRecord(e)),
		strconv.FormatInt(pxat(e.Expires), 10),
	}
	reply, err := s.scripts.cas.Exec(ctx, s.client, keys, args).ToArray()
	var status int64
	if err == nil && len(reply) > 0 {
		status, err = reply[0].AsInt64()
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: update: %w", err)
	}
	switch status {
	case casDone:
		if len(reply) > 1 {
			if prev, _ := reply[1].ToString(); prev != "" && prev != e.UserID {
				s.unindex(ctx, e.Tenant, prev, e.ID)
			}
		}
		return true, nil
	case casMissing:
		// The entry index just wrote names no record. IDs are never
		// reused, so no writer can be about to create it.
		if e.UserID != "" {
			s.unindex(ctx, e.Tenant, e.UserID, e.ID)
		}
	}
	return false, nil
}

// Delete removes the record (tenant, id) (GETDEL), then its index entry.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	key := s.recordKey(tenant, id)
	b, err := s.client.Do(ctx, s.client.B().Getdel().Key(key).Build()).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil
	case isWrongType(err):
		err = s.client.Do(ctx, s.client.B().Del().Key(key).Build()).Error()
	}
	if err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	if e, err := decodeRecord(b); err == nil && e.UserID != "" {
		s.unindex(ctx, tenant, e.UserID, id)
	}
	return nil
}

// ListUser returns the live records of userID in tenant: it reads the
// index, dropping the members whose expiry has passed, then reads every
// record it names in one pipeline and keeps those that still belong to
// userID. A record it cannot read back is left out.
func (s *Store) ListUser(ctx context.Context, tenant, userID string) ([]session.Entry, error) {
	if userID == "" {
		return nil, nil // anonymous records are not indexed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ids, err := s.listIndex(ctx, tenant, userID)
	if err != nil || len(ids) == 0 {
		return nil, wrap("list user", err)
	}
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = s.client.B().Get().Key(s.recordKey(tenant, id)).Build()
	}
	var out []session.Entry
	for i, res := range s.client.DoMulti(ctx, cmds...) {
		b, err := res.AsBytes()
		if rueidis.IsRedisNil(err) || isWrongType(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: list user: %w", err)
		}
		e, err := decodeRecord(b)
		if err != nil || e.UserID != userID {
			continue // unreadable, or the session moved to another user
		}
		e.Tenant, e.ID = tenant, ids[i]
		out = append(out, e)
	}
	return out, nil
}

// DeleteUser deletes the records of userID in tenant whose IDs are not in
// except. Each deletion is a Lua script that checks, atomically on the
// record's key, that the record still belongs to userID; the deleted
// records' index entries are removed after.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string, except ...string) (int, error) {
	if userID == "" {
		return 0, nil // anonymous records are not indexed
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ids, err := s.listIndex(ctx, tenant, userID)
	if err != nil {
		return 0, wrap("delete user", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(except, id) })
	if len(ids) == 0 {
		return 0, nil
	}
	execs := make([]rueidis.LuaExec, len(ids))
	for i, id := range ids {
		execs[i] = rueidis.LuaExec{Keys: []string{s.recordKey(tenant, id)}, Args: []string{userID}}
	}
	var deleted []string
	for i, res := range s.scripts.deleteOwned.ExecMulti(ctx, s.client, execs...) {
		n, rerr := res.AsInt64()
		if rerr != nil && err == nil {
			err = rerr
		}
		if n == 1 {
			deleted = append(deleted, ids[i])
		}
	}
	if len(deleted) > 0 {
		s.client.Do(ctx, s.client.B().Zrem().Key(s.indexKey(tenant, userID)).Member(deleted...).Build())
	}
	return len(deleted), wrap("delete user", err)
}

// index adds e to its user's index, unless it is anonymous.
func (s *Store) index(ctx context.Context, e session.Entry) error {
	if e.UserID == "" {
		return nil
	}
	keys := []string{s.indexKey(e.Tenant, e.UserID)}
	args := []string{strconv.FormatInt(e.Expires.UnixMilli(), 10), e.ID}
	if err := s.scripts.indexAdd.Exec(ctx, s.client, keys, args).Error(); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// unindex removes id from the index of user in tenant. A failure is not
// reported: the entry is then one whose record is gone or another user's,
// which ListUser and DeleteUser skip and which goes when its score passes.
func (s *Store) unindex(ctx context.Context, tenant, user, id string) {
	s.client.Do(ctx, s.client.B().Zrem().Key(s.indexKey(tenant, user)).Member(id).Build())
}

// listIndex returns the IDs the index of user in tenant names, after
// dropping those whose expiry has passed.
func (s *Store) listIndex(ctx context.Context, tenant, user string) ([]string, error) {
	ids, err := s.scripts.indexList.Exec(ctx, s.client, []string{s.indexKey(tenant, user)}, nil).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	return ids, nil
}

// wrap prefixes a non-nil err with the operation; it returns nil for nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
