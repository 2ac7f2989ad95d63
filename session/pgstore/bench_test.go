//go:build linux

package pgstore

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGet reads one live record, one round trip per read.
func BenchmarkGet(b *testing.B) {
	s, _ := openStore(b, Options{})
	ctx := context.Background()
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	e.Value = make([]byte, 512)
	if ok, err := s.Create(ctx, e); err != nil || !ok {
		b.Fatalf("Create = %v, %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := s.Get(ctx, e.Tenant, e.ID); err != nil || !ok {
			b.Fatalf("Get = %v, %v", ok, err)
		}
	}
}

// BenchmarkUpdate writes one record over and over, each write a
// compare-and-swap from the version before.
func BenchmarkUpdate(b *testing.B) {
	s, _ := openStore(b, Options{})
	ctx := context.Background()
	e := newEntry(time.Now(), "acme", "alice", time.Hour)
	e.Value = make([]byte, 512)
	if ok, err := s.Create(ctx, e); err != nil || !ok {
		b.Fatalf("Create = %v, %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Version++
		if ok, err := s.Update(ctx, e); err != nil || !ok {
			b.Fatalf("Update to version %d = %v, %v", e.Version, ok, err)
		}
	}
}
