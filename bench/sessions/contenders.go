package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
	"github.com/redis/rueidis"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
	tetherredis "github.com/tetherlb/tether/session/redisstore"
)

// The session settings both managers get: OWASP's 30 minutes idle and
// 12 hours absolute, tether's defaults.
const (
	idleTimeout = 30 * time.Minute
	lifetime    = 12 * time.Hour
)

// work is what a measured request does with its session.
type work int

const (
	// loadSave reads the counter, increments it and writes it back.
	loadSave work = iota
	// readOnly reads the counter and changes nothing.
	readOnly
	// noSession answers without any session: the harness's own cost.
	noSession
)

func (w work) String() string {
	return [...]string{"load + save", "read only (unchanged)", "none (harness floor)"}[w]
}

// A contender is one session manager on one store doing one kind of work.
type contender struct {
	name    string // for -only and the tables
	product string // "tether", "scs" or "floor"
	store   string // "memory", "redis" or "-"
	work    work
	// peer names the other product's contender doing the same work on
	// the same store, for the ratio table; "" for none.
	peer string
	// experiment, when set, says how the contender departs from the
	// product's defaults; experiments are left out of the targets.
	experiment string
	// setup makes a fresh manager and store; the handler answers
	// /seed by creating the session (load + save) and anything else by
	// doing the work; close releases what setup made.
	setup func(env *env) (h http.Handler, close func(), err error)
}

func (c *contender) usesRedis() bool { return c.store == "redis" }

// env is what a contender's setup needs.
type env struct {
	ctx       context.Context
	redisAddr string
	clients   int
	work      work
	payload   string // extra session data put on /seed
	// valueOnly makes /seed store the payload alone, without the counter
	// (for the memory-per-session measurement).
	valueOnly bool
	counter   *connCounter // non-nil: count the Redis client's socket I/O
}

// allContenders returns every contender, in their default order.
func allContenders() []*contender {
	return []*contender{
		{name: "tether-mem", product: "tether", store: "memory", work: loadSave, peer: "scs-mem", setup: tetherMem},
		{name: "scs-mem", product: "scs", store: "memory", work: loadSave, peer: "tether-mem", setup: scsMem},
		{name: "tether-redis", product: "tether", store: "redis", work: loadSave, peer: "scs-redis", setup: tetherRedis},
		{name: "scs-redis", product: "scs", store: "redis", work: loadSave, peer: "tether-redis", setup: scsRedis},
		{name: "tether-redis-read", product: "tether", store: "redis", work: readOnly, peer: "scs-redis-read", setup: tetherRedis},
		{name: "scs-redis-read", product: "scs", store: "redis", work: readOnly, peer: "tether-redis-read", setup: scsRedis},
		{name: "tether-mem-read", product: "tether", store: "memory", work: readOnly, peer: "scs-mem-read", setup: tetherMem},
		{name: "scs-mem-read", product: "scs", store: "memory", work: readOnly, peer: "tether-mem-read", setup: scsMem},
		{name: "tether-redis-fd20", product: "tether", store: "redis", work: loadSave, peer: "scs-redis", experiment: fd20, setup: tetherRedisFlushDelay},
		{name: "tether-redis-read-fd20", product: "tether", store: "redis", work: readOnly, peer: "scs-redis-read", experiment: fd20, setup: tetherRedisFlushDelay},
		{name: "floor", product: "floor", store: "-", work: noSession, setup: floor},
	}
}

// fd20 describes the flush-delay experiment.
const fd20 = "rueidis MaxFlushDelay 20µs"

// defaultContenders are those a run measures unless -only says otherwise.
const defaultContenders = "tether-mem,scs-mem,tether-redis,scs-redis,tether-redis-read,scs-redis-read,tether-redis-fd20,tether-redis-read-fd20,floor"

// writeCounter answers with n, which clients check.
func writeCounter(w http.ResponseWriter, n int) {
	var buf [20]byte
	w.Write(strconv.AppendInt(buf[:0], int64(n), 10))
}

// route sends /seed to seed and everything else to main.
func route(seed, main http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/seed" {
			seed.ServeHTTP(w, r)
			return
		}
		main.ServeHTTP(w, r)
	})
}

func tetherMem(e *env) (http.Handler, func(), error) {
	st := memstore.New(memstore.Options{})
	h, err := tetherHandler(e, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return h, func() { st.Close() }, nil
}

func tetherRedis(e *env) (http.Handler, func(), error) {
	if e.counter != nil {
		return tetherRueidis(e, 0)
	}
	st, err := tetherredis.Open(e.ctx, "redis://"+e.redisAddr, tetherredis.Options{})
	if err != nil {
		return nil, nil, err
	}
	h, err := tetherHandler(e, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return h, func() { st.Close() }, nil
}

// flushDelay is the rueidis MaxFlushDelay of the tether-redis-fd20
// experiment: 20µs, the value rueidis's documentation suggests.
const flushDelay = 20 * time.Microsecond

// tetherRedisFlushDelay is tether-redis with rueidis's MaxFlushDelay set:
// an experiment, not what redisstore.Open does.
func tetherRedisFlushDelay(e *env) (http.Handler, func(), error) { return tetherRueidis(e, flushDelay) }

// tetherRueidis is tether on a redisstore.New over a rueidis client made
// with the options Open uses for a standalone redis:// URL, plus
// maxFlushDelay, and counting socket I/O when e.counter is set.
func tetherRueidis(e *env, maxFlushDelay time.Duration) (http.Handler, func(), error) {
	opt := rueidis.ClientOption{
		InitAddress:       []string{e.redisAddr},
		DisableCache:      true,
		ForceSingleClient: true,
		Dialer:            net.Dialer{Timeout: tetherredis.DefaultTimeout},
		MaxFlushDelay:     maxFlushDelay,
	}
	if e.counter != nil {
		opt.DialCtxFn = func(ctx context.Context, addr string, _ *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return e.counter.dial(ctx, addr)
		}
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, nil, fmt.Errorf("rueidis: %w", err)
	}
	st := tetherredis.New(client, tetherredis.Options{})
	h, err := tetherHandler(e, st)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return h, func() { st.Close(); client.Close() }, nil
}

// tetherHandler is the counter app on a tether Manager over st.
func tetherHandler(e *env, st session.Store) (http.Handler, error) {
	keys, err := session.StaticKey([]byte(strings.Repeat("k", 32)))
	if err != nil {
		return nil, err
	}
	m, err := session.New(session.Config{IdleTimeout: idleTimeout, AbsoluteTimeout: lifetime},
		session.Options{Store: st, Keys: keys})
	if err != nil {
		return nil, err
	}
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](r.Context(), m, "n")
		m.Put(r.Context(), "n", n+1)
		writeCounter(w, n+1)
	})
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := session.Get[int](r.Context(), m, "n")
		writeCounter(w, n)
	})
	seed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.payload != "" {
			m.Put(r.Context(), "p", e.payload)
		}
		if e.valueOnly {
			writeCounter(w, 0)
			return
		}
		count(w, r)
	})
	main := http.Handler(count)
	if e.work == readOnly {
		main = read
	}
	return route(m.LoadAndSave(seed), m.LoadAndSave(main)), nil
}

func scsMem(e *env) (http.Handler, func(), error) {
	st := scsmem.New()
	return scsHandler(e, st), st.StopCleanup, nil
}

func scsRedis(e *env) (http.Handler, func(), error) {
	dial := func() (redis.Conn, error) { return redis.Dial("tcp", e.redisAddr) }
	if e.counter != nil {
		dial = func() (redis.Conn, error) {
			return redis.Dial("tcp", e.redisAddr, redis.DialContextFunc(func(ctx context.Context, _, addr string) (net.Conn, error) {
				return e.counter.dial(ctx, addr)
			}))
		}
	}
	// As many connections as clients, kept idle between requests, and
	// waiting (not failing) when all are busy.
	pool := &redis.Pool{MaxIdle: e.clients, MaxActive: e.clients, Wait: true, IdleTimeout: 4 * time.Minute, Dial: dial}
	return scsHandler(e, redisstore.New(pool)), func() { pool.Close() }, nil
}

// scsHandler is the counter app on an scs SessionManager over st, with
// scs's defaults (gob codec, cookie "session") but tether's timeouts.
func scsHandler(e *env, st scs.Store) http.Handler {
	sm := scs.New()
	sm.IdleTimeout = idleTimeout
	sm.Lifetime = lifetime
	sm.Store = st
	// The default logs every error; the clients count them instead.
	sm.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n")
		sm.Put(r.Context(), "n", n+1)
		writeCounter(w, n+1)
	})
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeCounter(w, sm.GetInt(r.Context(), "n"))
	})
	seed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.payload != "" {
			sm.Put(r.Context(), "p", e.payload)
		}
		if e.valueOnly {
			writeCounter(w, 0)
			return
		}
		count(w, r)
	})
	main := http.Handler(count)
	if e.work == readOnly {
		main = read
	}
	return route(sm.LoadAndSave(seed), sm.LoadAndSave(main))
}

// floor answers every request with 1 and keeps no session: what the
// harness (request, recorder, timing) costs on its own.
func floor(*env) (http.Handler, func(), error) {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeCounter(w, 1) }), func() {}, nil
}
