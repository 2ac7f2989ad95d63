package redisstore

import (
	"os/exec"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
)

// benchStore opens a store on a fresh standalone server, skipping the
// benchmark when Redis is not installed.
func benchStore(b *testing.B) *Store {
	b.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Skip("redis-server is not installed")
	}
	r := testsupport.StartRedis(b)
	return openStore(b, "redis://"+r.Addr, Options{})
}

// BenchmarkGet reads one 1 KiB record: one round trip on loopback.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	e := newEntry("alice", time.Hour)
	e.Value = make([]byte, 1024)
	mustCreate(b, s, e)
	ctx := testCtx(b)
	for b.Loop() {
		if _, ok, err := s.Get(ctx, e.Tenant, e.ID); err != nil || !ok {
			b.Fatalf("Get = %v, %v", ok, err)
		}
	}
}

// BenchmarkUpdate renews one 1 KiB record of a user: the index entry,
// then the compare-and-swap script.
func BenchmarkUpdate(b *testing.B) {
	s := benchStore(b)
	e := newEntry("alice", time.Hour)
	e.Value = make([]byte, 1024)
	mustCreate(b, s, e)
	ctx := testCtx(b)
	for b.Loop() {
		e.Version++
		e.Expires = e.Expires.Add(time.Millisecond)
		if ok, err := s.Update(ctx, e); err != nil || !ok {
			b.Fatalf("Update = %v, %v", ok, err)
		}
	}
}
