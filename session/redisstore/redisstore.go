// Package redisstore is a session.Store on Redis 7.0 or later (or a
// compatible server such as Valkey), deployed standalone, behind Sentinel
// or as a Cluster. It passes the conformance suite in session/storetest
// against all three.
//
// # Keys
//
// With the default prefix "tether:", and a tenant T and a user U written
// as unpadded base64url (an alphabet without ':', '.', '{' or '}', so that
// no tenant or user name can reach into another's keys), a store keeps:
//
//	tether:s:{T:ID}  the record of session ID in tenant T: a string that
//	                 Redis expires (PXAT) when the record does
//	tether:u:{T.U}   the index of user U in tenant T: a sorted set of
//	                 session IDs, each scored by its record's expiry in
//	                 Unix milliseconds, that Redis expires with its
//	                 longest-lived member
//
// A record is one framed string (a format byte, the version, the expiry,
// the user ID and the value with their lengths, and a CRC-32C); a value
// Get cannot read back is reported as an error wrapping session.ErrCorrupt. Redis
// keeps the time: records and indexes expire by the server's clock, so a
// Store takes no clock of its own.
//
// # Consistency on a Cluster
//
// Every Lua script touches one key, so a store works on a Cluster with any
// prefix and never needs a cross-slot transaction. A record and its index
// entry live in different slots and are written in an order that keeps
// every live record indexed: the index entry first (Create, Update, which
// also raise its score to the new expiry), the record after; the record removed first (Delete, DeleteUser), its index
// entry after. A failure in between leaves at most an index entry whose
// record is gone or belongs to another user. ListUser and DeleteUser check
// the owner of every record the index names, so such an entry is never
// listed, and it goes once its score (expiry) passes: they drop those
// members first, by the server's clock. They do not remove an entry merely
// because its record is missing or another user's, since it may belong to
// a Create or a change of user that has written the index but not yet the
// record.
//
// # Round trips
//
// Get is exactly one round trip (GET). Create is one (SET NX) for an
// anonymous record and two for a user's (index, then record). Update is
// the same, plus one when the user changes (removing the old user's
// entry). Delete is one, plus one for a user's record. ListUser is two
// (the index, then every record in one pipeline). DeleteUser is up to
// four: the index, loading its script on every node, the deletions in one
// pipeline, and the index entries of the deleted records.
package redisstore

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/tetherlb/tether/session"
)

// Defaults for Options.
const (
	DefaultKeyPrefix = "tether:"
	DefaultTimeout   = time.Second
	// DefaultMaxFlushDelay is rueidis's recommended delay for throughput
	// under concurrency.
	DefaultMaxFlushDelay = 20 * time.Microsecond
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// KeyPrefix begins every key the store uses, so that several stores,
	// or other data, can share one Redis. The default is "tether:".
	KeyPrefix string
	// MaxFlushDelay is how long the client may hold a command to send it
	// with others in one write. Default 20µs; negative: send at once.
	MaxFlushDelay time.Duration
	// Timeout bounds each Store method, all its round trips included, in
	// addition to the caller's context; Open also uses it as the dial
	// timeout. Zero or negative means the default, 1s.
	Timeout time.Duration
	// TLSConfig is the TLS configuration Open uses for a rediss scheme
	// (rediss, rediss+sentinel, rediss+cluster). Nil means the defaults:
	// the system's roots, and the server name taken from each address.
	TLSConfig *tls.Config
}

func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	switch {
	case o.MaxFlushDelay == 0:
		o.MaxFlushDelay = DefaultMaxFlushDelay
	case o.MaxFlushDelay < 0:
		o.MaxFlushDelay = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Store is a session.Store on Redis. Its methods are safe for concurrent
// use; each is bounded by Options.Timeout. A Store reconnects by itself
// after the server comes back.
type Store struct {
	client    rueidis.Client
	owned     bool // Close closes client
	prefix    string
	timeout   time.Duration
	scripts   scripts
	closeOnce sync.Once
}

var _ session.Store = (*Store)(nil)

// New returns a store that uses client, which must reach Redis 7.0 or
// later. The caller keeps ownership of client: Close does not close it.
// Client-side caching is never used; rueidis auto-pipelines concurrent
// calls.
func New(client rueidis.Client, opts Options) *Store {
	opts = opts.withDefaults()
	return &Store{client: client, prefix: opts.KeyPrefix, timeout: opts.Timeout, scripts: newScripts()}
}

// Open connects to the Redis that rawURL names and returns a store that
// owns the connection. The URL takes one of these forms (the port
// defaults to 6379, or 26379 for a Sentinel):
//
//	redis://[user:password@]host:port[/db]
//	rediss://[user:password@]host:port[/db]                      (TLS)
//	redis+sentinel://[user:password@]host:port,…/MASTER[?db=N&sentinel_auth=true]
//	redis+cluster://[user:password@]host:port,…
//
// and rediss+sentinel, rediss+cluster with TLS. The user and password,
// percent-encoded, authenticate to Redis; the Sentinels are sent them
// too only with sentinel_auth=true. An IPv6 host is written in brackets.
// Errors never include the password. Open fails when it cannot reach the
// server within opts.Timeout or ctx.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	ep, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	opts = opts.withDefaults()
	client, err := dial(ctx, ep.clientOption(opts))
	if err != nil {
		return nil, fmt.Errorf("redisstore: open %s: %w", ep, err)
	}
	if ep.mode == modeCluster && client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, fmt.Errorf("redisstore: open %s: the server is not in cluster mode; use redis://", ep)
	}
	s := New(client, opts)
	s.owned = true
	return s, nil
}

// dial makes a rueidis client, which connects at once, giving up when ctx
// ends.
func dial(ctx context.Context, opt rueidis.ClientOption) (rueidis.Client, error) {
	type result struct {
		client rueidis.Client
		err    error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(opt)
		if err != nil && c != nil {
			c.Close()
			c = nil
		}
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.client, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.client != nil {
				r.client.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// clientOption returns the rueidis options for ep.
func (ep endpoint) clientOption(o Options) rueidis.ClientOption {
	opt := rueidis.ClientOption{
		InitAddress:  ep.addrs,
		Username:     ep.username,
		Password:     ep.password,
		SelectDB:     ep.db,
		DisableCache: true,
		Dialer:       net.Dialer{Timeout: o.Timeout},
		// Commands from concurrent requests wait up to MaxFlushDelay to
		// share one write(2) (auto-pipelining): under load this halves the
		// system calls of tether and of Redis for a few µs of latency.
		MaxFlushDelay: o.MaxFlushDelay,
	}
	if ep.tls {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.TLSConfig != nil {
			opt.TLSConfig = o.TLSConfig.Clone()
		}
	}
	switch ep.mode {
	case modeStandalone:
		opt.ForceSingleClient = true
	case modeSentinel:
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet:               ep.master,
			Dialer:                  opt.Dialer,
			TLSConfig:               opt.TLSConfig,
			TopologyRefreshInterval: 5 * time.Second,
		}
		if ep.sentinelAuth {
			opt.Sentinel.Username, opt.Sentinel.Password = ep.username, ep.password
		}
	}
	return opt
}

// Close closes the connection if Open made it; a client passed to New is
// left to its owner. Calling Close again does nothing. A Store must not
// be used after Close.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.owned {
			s.client.Close()
		}
	})
	return nil
}

// recordKey is the key of the record (tenant, id): the tenant is encoded,
// so the first ':' after "s:{" ends it and no two (tenant, id) pairs share
// a key.
func (s *Store) recordKey(tenant, id string) string {
	return s.prefix + "s:{" + base64.RawURLEncoding.EncodeToString([]byte(tenant)) + ":" + id + "}"
}

// indexKey is the key of the index of user in tenant.
func (s *Store) indexKey(tenant, user string) string {
	return s.prefix + "u:{" + base64.RawURLEncoding.EncodeToString([]byte(tenant)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(user)) + "}"
}

// bound limits ctx to the store's timeout. A ctx that already ends within
// it (the session Manager bounds every store call) is used as it is: a
// second timer per call costs more than the round trip it guards.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= s.timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.timeout)
}

// pxat is the PXAT at which Redis is to drop a record that expires at t.
// Redis keeps a key through the millisecond of its PXAT, and a record must
// never be returned at its expiry, so that is the millisecond before; at
// least 1, the smallest PXAT Redis accepts.
func pxat(t time.Time) int64 {
	return max(t.UnixMilli()-1, 1)
}

// isWrongType reports whether err is Redis refusing a command for the
// key's type: something other than this store wrote the key.
func isWrongType(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

// errNotString is wrapped for a record key that holds another type.
var errNotString = fmt.Errorf("%w: not a string", session.ErrCorrupt)

// errVersion is returned by Create for an entry whose version is not 1.
var errVersion = errors.New("an entry to create must have version 1")
