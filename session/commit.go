package session

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// maxCommitAttempts bounds the read-merge-write loop of a commit that
// keeps losing the compare-and-swap to other requests of the session.
const maxCommitAttempts = 5

// errContended is returned when a commit lost the compare-and-swap
// maxCommitAttempts times in a row.
var errContended = errors.New("session: too many concurrent writes to one session")

// commit saves what the request changed. A new session is created only
// once it holds data. An unchanged session is written back only to extend
// its idle deadline, at most once per TouchInterval. A changed one is
// written with a compare-and-swap on its version: when another request
// wrote first, the current record is read again and this request's
// changed keys are replayed onto it, so neither loses the other's writes;
// when the session was destroyed or renewed meanwhile, the changes are
// dropped rather than bringing it back.
func (m *Manager) commit(ctx context.Context, st *state) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.committed {
		return nil
	}
	st.committed = true
	now := m.now()
	switch {
	case st.version == 0 && !st.dirty:
		return nil
	case st.version == 0:
		st.rec.LastSeen = now
		return m.createLocked(ctx, st)
	case !st.dirty:
		if now.Sub(st.rec.LastSeen) < m.cfg.TouchInterval {
			return nil
		}
		rec := st.rec.clone()
		rec.LastSeen = now
		sctx, cancel := m.storeCtx(ctx)
		defer cancel()
		// Losing this swap is fine: whoever won wrote a later LastSeen.
		if ok, err := m.store.Update(sctx, m.entry(st.tenant, st.id, rec, st.version+1)); err != nil {
			return errors.Join(ErrStoreUnavailable, err)
		} else if ok {
			st.rec, st.version = rec, st.version+1
		}
		return nil
	}
	return m.updateLocked(ctx, st, now)
}

// createLocked stores st's session under a new ID.
func (m *Manager) createLocked(ctx context.Context, st *state) error {
	for range 3 {
		raw := newRawID()
		id := storeID(raw)
		sctx, cancel := m.storeCtx(ctx)
		ok, err := m.store.Create(sctx, m.entry(st.tenant, id, st.rec, 1))
		cancel()
		if err != nil {
			return errors.Join(ErrStoreUnavailable, err)
		}
		if ok {
			st.rawID, st.id, st.version, st.cookie = raw, id, 1, cookieSet
			st.changes, st.mutations, st.dirty = nil, nil, false
			m.emit(Event{Type: EventCreated, Tenant: st.tenant, UserID: st.rec.UserID, Hash: m.hash(id)})
			return nil
		}
		// A 256-bit collision: astronomically unlikely; draw again.
	}
	return errors.New("session: could not draw an unused session ID")
}

// updateLocked writes st's changes with compare-and-swap and merge.
func (m *Manager) updateLocked(ctx context.Context, st *state, now time.Time) error {
	for range maxCommitAttempts {
		rec := st.rec.clone()
		rec.LastSeen = now
		sctx, cancel := m.storeCtx(ctx)
		ok, err := m.store.Update(sctx, m.entry(st.tenant, st.id, rec, st.version+1))
		cancel()
		if err != nil {
			return errors.Join(ErrStoreUnavailable, err)
		}
		if ok {
			st.rec, st.version = rec, st.version+1
			st.changes, st.mutations, st.dirty = nil, nil, false
			return nil
		}
		fresh, version, found, err := m.get(ctx, st.tenant, st.id)
		if err != nil {
			return err
		}
		if !found {
			// Destroyed, renewed or expired while this request ran: its
			// writes must not bring the session back.
			m.log.Debug("session changes dropped: the session ended during the request", "session", m.hash(st.id))
			st.changes, st.mutations, st.dirty = nil, nil, false
			return nil
		}
		st.replay(fresh)
		st.rec, st.version = fresh, version
	}
	return errContended
}

// replay applies this request's changes and mutations to rec, a fresher
// copy of the session.
func (st *state) replay(rec *record) {
	applyChanges(rec, st.changes)
	for _, f := range st.mutations {
		f(rec)
	}
}

// applyChanges replays changed keys onto rec: nil values are removals.
func applyChanges(rec *record, changes map[string]json.RawMessage) {
	if rec.Data == nil && len(changes) > 0 {
		rec.Data = map[string]json.RawMessage{}
	}
	for k, v := range changes {
		if v == nil {
			delete(rec.Data, k)
		} else {
			rec.Data[k] = v
		}
	}
}
