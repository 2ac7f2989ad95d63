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
// second of the logout: a token issued in that second, before the logout,
// stays valid until it expires (at most a second's worth of tokens), and
// one issued just after it, by a login on any replica, is never refused.
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
}

// nbfRecord is the stored form.
type nbfRecord struct {
	User string `json:"u"`
	At   int64  `json:"at"` // Unix nanoseconds
}

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

func (n *notBefore) remember(user string, at, until time.Time) {
	n.mu.Lock()
	if old, ok := n.users[user]; !ok || at.After(old.at) {
		n.users[user] = nbfEntry{at: at, until: until}
	}
	n.mu.Unlock()
}

// set records that tokens of user issued before at are revoked, in the
// store first: an error means it is not in force on other replicas.
func (n *notBefore) set(ctx context.Context, user string, at time.Time) error {
	at = at.Truncate(time.Second)
	until := at.Add(n.ttl)
	val, err := json.Marshal(nbfRecord{User: user, At: at.UnixNano()})
	if err != nil {
		return err
	}
	e := session.Entry{Tenant: familyTenant, ID: nbfID(user), UserID: notBeforeUser, Version: 1, Expires: until, Value: val}
	for range 8 {
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
		e.Version = old.Version + 1
		if ok, err = n.store.Update(ctx, e); err != nil {
			return storeError{err}
		} else if ok {
			break
		}
	}
	n.remember(user, at, until)
	return nil
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
		n.remember(r.User, time.Unix(0, r.At), e.Expires)
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
