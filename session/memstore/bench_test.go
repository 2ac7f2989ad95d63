package memstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

// BenchmarkMemoryPerSession stores 100,000 anonymous sessions and 10,000
// sessions of distinct users, all with 100-byte values, and reports the
// live heap the Store adds per session beyond the value bytes. The 64-byte
// ID counts as overhead: the Store keeps it, in 32 bytes.
func BenchmarkMemoryPerSession(b *testing.B) {
	const anon, users, valueSize = 100_000, 10_000, 100
	value := make([]byte, valueSize)
	expires := time.Now().Add(time.Hour)
	entries := make([]session.Entry, anon+users)
	for i := range entries {
		entries[i] = session.Entry{Tenant: "acme", ID: storetest.NewID(), Version: 1, Expires: expires, Value: value}
		if i >= anon {
			entries[i].UserID = fmt.Sprintf("user-%d", i)
		}
	}
	var overhead float64
	for b.Loop() {
		total := heapGrowth(b, entries)
		overhead = (total - float64(len(entries)*valueSize)) / float64(len(entries))
	}
	b.ReportMetric(overhead, "B-overhead/session")
}

// heapGrowth returns how much the live heap grows when a new Store holds
// entries.
func heapGrowth(b *testing.B, entries []session.Entry) float64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(Options{})
	for _, e := range entries {
		if ok, err := s.Create(context.Background(), e); !ok || err != nil {
			b.Fatalf("Create = %v, %v", ok, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	s.Close()
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}

// fill stores n anonymous sessions with 100-byte values and returns their
// IDs.
func fill(b *testing.B, s *Store, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = storetest.NewID()
		e := session.Entry{Tenant: "acme", ID: ids[i], Version: 1, Expires: time.Now().Add(time.Hour), Value: make([]byte, 100)}
		if ok, err := s.Create(context.Background(), e); !ok || err != nil {
			b.Fatalf("Create = %v, %v", ok, err)
		}
	}
	return ids
}

func BenchmarkGet(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	ids := fill(b, s, 100_000)
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

func BenchmarkUpdate(b *testing.B) {
	s := New(Options{})
	b.Cleanup(func() { s.Close() })
	ids := fill(b, s, 100_000)
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
			if ok, err := s.Update(context.Background(), e); !ok || err != nil {
				b.Fatalf("Update to version %d = %v, %v", e.Version, ok, err)
			}
		}
	})
}

// BenchmarkCreateFull measures Create into a full Store, where every call
// evicts a record first.
func BenchmarkCreateFull(b *testing.B) {
	const max = 100_000
	s := New(Options{MaxEntries: max})
	b.Cleanup(func() { s.Close() })
	fill(b, s, max)
	var next atomic.Uint64
	value := make([]byte, 100)
	expires := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sum [32]byte
		for pb.Next() {
			binary.BigEndian.PutUint64(sum[24:], next.Add(1))
			e := session.Entry{Tenant: "acme", ID: hex.EncodeToString(sum[:]), Version: 1, Expires: expires, Value: value}
			if ok, err := s.Create(context.Background(), e); !ok || err != nil {
				b.Fatalf("Create = %v, %v", ok, err)
			}
		}
	})
	if st := s.Stats(); st.Entries != max {
		b.Fatalf("Entries = %d after Creates into a full store, want %d", st.Entries, max)
	}
}
