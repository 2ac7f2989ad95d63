package filestore

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

// openBench opens a store in a temporary file holding n anonymous sessions
// with 100-byte values and returns it with their IDs.
func openBench(b *testing.B, n int) (*Store, []string) {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "sessions.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ids := make([]string, n)
	expires := time.Now().Add(time.Hour)
	value := make([]byte, 100)
	for i := 0; i < n; i += 1000 {
		// Load in batches: one transaction per Create would take minutes.
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := bucketsOf(tx)
			for j := i; j < min(i+1000, n); j++ {
				ids[j] = storetest.NewID()
				e := session.Entry{Tenant: "acme", ID: ids[j], Version: 1, Expires: expires, Value: value}
				if err := b.write(recordKey(e.Tenant, e.ID), e, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

func BenchmarkGet(b *testing.B) {
	s, ids := openBench(b, 100_000)
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			i++
			if _, ok, err := s.Get(context.Background(), "acme", ids[i%len(ids)]); !ok || err != nil {
				b.Fatalf("Get = %v, %v", ok, err)
			}
		}
	})
}

// BenchmarkUpdate measures one durable compare-and-swap: a read-write
// transaction committed with fsync.
func BenchmarkUpdate(b *testing.B) {
	s, ids := openBench(b, 100_000)
	var next atomic.Uint64
	value := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine owns one record, so every compare-and-swap lands.
		id := ids[next.Add(1)%uint64(len(ids))]
		e := session.Entry{Tenant: "acme", ID: id, Version: 1, Expires: time.Now().Add(time.Hour), Value: value}
		for pb.Next() {
			e.Version++
			e.Expires = e.Expires.Add(time.Second) // a sliding idle timeout moves the expiry key
			if ok, err := s.Update(context.Background(), e); !ok || err != nil {
				b.Fatalf("Update to version %d = %v, %v", e.Version, ok, err)
			}
		}
	})
}
