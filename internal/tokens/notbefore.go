package tokens

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherlb/tether/session"
)

// Logging out everywhere sets a per-user not-before: access tokens of the
// user issued (iat) before it are refused by tether's JWT authorizer at
// once, although they have not expired. Cognito's global sign-out cannot do
// that for tokens already in the hands of other services.
//
// Tokens carry iat in whole seconds, so the not-before is the start of the
// second of the logout, and a login just after it, on any replica, is never
// refused. The tokens issued in that second before the logout are caught
// by their sid instead: the record lists the families the logout revoked,
// and SessionRevoked tells the authorizer.
//
// A not-before is a record in the refresh store ("nbf." + hex SHA-256 of
// the user ID, indexed under notBeforeUser) that expires when every token
// it refuses has expired anyway: access_ttl plus the verifiers' largest
// leeway after it was set. The authorizer reads an in-memory copy, so the
// check costs a map lookup; this process's logouts update it at once and a
// poll of the store every pollInterval brings in other replicas'.

const (
	pollInterval = 2 * time.Second
	// maxLeeway is the largest clock skew a verifier allows (token.Options
	// caps Leeway at 60s).
	maxLeeway = time.Minute
)

type notBefore struct {
	store session.Store
	ttl   time.Duration // how long a not-before record lives
	log   *slog.Logger

	mu    sync.RWMutex
	users map[string]nbfEntry // user ID → not-before
}

type nbfEntry struct {
	at, until time.Time
	sids      map[string]bool // the families the logouts revoked
}

// nbfRecord is the stored form.
type nbfRecord struct {
	User string   `json:"u"`
	At   int64    `json:"at"` // Unix nanoseconds
	SIDs []string `json:"sids,omitempty"`
}

// maxRevokedSIDs bounds the sids one record lists: a user with more
// logins than that at a logout has the oldest left to the time check.
const maxRevokedSIDs = 1000

func nbfID(user string) string {
	h := sha256.Sum256([]byte(user))
	return "nbf." + hex.EncodeToString(h[:])
}

// get returns the user's not-before, or the zero time.
func (n *notBefore) get(user string, now time.Time) time.Time {
	n.mu.RLock()
	e, ok := n.users[user]
	n.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return time.Time{}
	}
	return e.at
}

// revokedSID reports whether a logout everywhere revoked user's family sid.
func (n *notBefore) revokedSID(user, sid string, now time.Time) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	e, ok := n.users[user]
	return ok && now.Before(e.until) && e.sids[sid]
}

func (n *notBefore) remember(user string, at, until time.Time, sids []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := n.users[user]
	if at.After(e.at) {
		e.at = at
	}
	if until.After(e.until) {
		e.until = until
	}
	if e.sids == nil {
		e.sids = make(map[string]bool, len(sids))
	}
	for _, sid := range sids {
		e.sids[sid] = true
	}
	n.users[user] = e
}

// set records that tokens of user issued before at, and those of the
// families sids, are revoked: in the store first, so an error means it is
// not in force on other replicas.
//
// at is zero to revoke only the families sids (a logout of one device, a
// revocation): their access tokens then stop at the authorizer at once too.
func (n *notBefore) set(ctx context.Context, user string, at time.Time, sids []string, now time.Time) error {
	at = at.Truncate(time.Second)
	until := now.Add(n.ttl)
	rec := nbfRecord{User: user, SIDs: sids}
	if !at.IsZero() {
		rec.At = at.UnixNano()
	}
	e := session.Entry{Tenant: familyTenant, ID: nbfID(user), UserID: notBeforeUser, Version: 1, Expires: until}
	for range 8 {
		val, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		e.Value = val
		ok, err := n.store.Create(ctx, e)
		if err != nil {
			return storeError{err}
		}
		if ok {
			break
		}
		old, found, err := n.store.Get(ctx, familyTenant, e.ID)
		if err != nil {
			return storeError{err}
		}
		if !found {
			continue
		}
		// Keep the sids of earlier logouts whose tokens may still live.
		var prev nbfRecord
		if json.Unmarshal(old.Value, &prev) == nil {
			rec.SIDs = mergeSIDs(sids, prev.SIDs)
			rec.At = max(rec.At, prev.At)
		}
		e.Version = old.Version + 1
		if val, err = json.Marshal(rec); err != nil {
			return err
		}
		e.Value = val
		if ok, err = n.store.Update(ctx, e); err != nil {
			return storeError{err}
		} else if ok {
			break
		}
		e.Version = 1
	}
	n.remember(user, nanos(rec.At), until, rec.SIDs)
	return nil
}

// nanos is the time of a stored not-before: zero for none.
func nanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// mergeSIDs returns the sids of a, then those of b not in a, at most
// maxRevokedSIDs.
func mergeSIDs(a, b []string) []string {
	out := append([]string(nil), a...)
	seen := make(map[string]bool, len(a)+len(b))
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if len(out) >= maxRevokedSIDs {
			break
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// poll loads every live not-before record from the store.
func (n *notBefore) poll(ctx context.Context) error {
	entries, err := n.store.ListUser(ctx, familyTenant, notBeforeUser)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var r nbfRecord
		if json.Unmarshal(e.Value, &r) != nil || r.User == "" {
			continue
		}
		n.remember(r.User, nanos(r.At), e.Expires, r.SIDs)
	}
	return nil
}

// run polls until ctx ends, and drops expired entries.
func (n *notBefore) run(ctx context.Context, now func() time.Time) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, pollInterval)
		err := n.poll(pctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			n.log.Warn("cannot read logouts of other replicas from the refresh store; this replica's are still in force", "err", err)
			failing = true
		case err == nil && failing:
			n.log.Info("refresh store readable again")
			failing = false
		}
		cut := now()
		n.mu.Lock()
		for u, e := range n.users {
			if !cut.Before(e.until) {
				delete(n.users, u)
			}
		}
		n.mu.Unlock()
	}
}
