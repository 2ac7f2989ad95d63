// Package storeurl opens a session.Store from a URL, the form tether's
// sessions.store key takes:
//
//	memory                                   the embedded in-memory store
//	file:PATH                                the embedded persistent store (bbolt)
//	redis://[USER:PASS@]HOST:PORT[/DB]       Redis or Valkey (rediss:// for TLS)
//	redis+sentinel://HOST:PORT,HOST:PORT/MASTER
//	redis+cluster://HOST:PORT,HOST:PORT
//	postgres://USER:PASS@HOST:PORT/DB        PostgreSQL (also postgresql://)
//
// Apps that use the session package can call Open with the same URL as
// their tether config, so that both share one store.
package storeurl

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/filestore"
	"github.com/tetherlb/tether/session/memstore"
	"github.com/tetherlb/tether/session/pgstore"
	"github.com/tetherlb/tether/session/redisstore"
)

// Options tune the stores Open makes.
type Options struct {
	// Dir resolves a relative file: path. Empty: the working directory.
	Dir string
	// MaxSessions bounds the memory store. Zero: its default.
	MaxSessions int
	// Logger is given to stores that log. Nil: discard.
	Logger *slog.Logger
	// Retry is how often a Redis or PostgreSQL store that could not be
	// reached at Open is tried again. Until it is reached, its calls fail
	// (a Manager answers 503), and Open succeeds. Zero: 2s; negative: Open
	// fails instead.
	Retry time.Duration
}

// Open opens the store rawURL names. Errors never contain a password.
func Open(ctx context.Context, rawURL string, o Options) (session.Store, error) {
	switch {
	case rawURL == "memory":
		return memstore.New(memstore.Options{MaxEntries: o.MaxSessions}), nil
	case strings.HasPrefix(rawURL, "file:"):
		path := strings.TrimPrefix(rawURL, "file:")
		if path == "" {
			return nil, fmt.Errorf("storeurl: file: needs a path (example: file:sessions.db)")
		}
		if !filepath.IsAbs(path) && o.Dir != "" {
			path = filepath.Join(o.Dir, path)
		}
		return filestore.Open(path, filestore.Options{})
	case strings.HasPrefix(rawURL, "redis://"), strings.HasPrefix(rawURL, "rediss://"),
		strings.HasPrefix(rawURL, "redis+sentinel://"), strings.HasPrefix(rawURL, "redis+cluster://"):
		return openNetworked(ctx, o, func(ctx context.Context) (session.Store, error) {
			return redisstore.Open(ctx, rawURL, redisstore.Options{})
		})
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return openNetworked(ctx, o, func(ctx context.Context) (session.Store, error) {
			return pgstore.Open(ctx, rawURL, pgstore.Options{Logger: o.Logger})
		})
	}
	scheme, _, _ := strings.Cut(rawURL, ":")
	return nil, fmt.Errorf("storeurl: %q is not a session store (allowed: memory, file:PATH, redis://, rediss://, redis+sentinel://, redis+cluster://, postgres://)", scheme)
}

// openNetworked opens a Redis or PostgreSQL store; one that cannot be
// reached now is opened later (see pending), unless o.Retry is negative.
func openNetworked(ctx context.Context, o Options, open func(context.Context) (session.Store, error)) (session.Store, error) {
	s, err := open(ctx)
	if err == nil || o.Retry < 0 || !unreachable(err) {
		return s, err
	}
	retry := o.Retry
	if retry == 0 {
		retry = 2 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return openLater(open, err, retry, log), nil
}
