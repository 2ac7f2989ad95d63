package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestStore(t *testing.T, fc *clock.Fake, opts Options) *Store {
	t.Helper()
	opts.Clock = fc
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	fc := clock.NewFake(epoch)
	storetest.Run(t, storetest.Harness{
		New:     func(t *testing.T) session.Store { return newTestStore(t, fc, Options{}) },
		Now:     fc.Now,
		Advance: fc.Advance,
	})
}

func newEntry(fc *clock.Fake, user string, ttl time.Duration) session.Entry {
	return session.Entry{
		Tenant:  "acme",
		ID:      storetest.NewID(),
		UserID:  user,
		Version: 1,
		Expires: fc.Now().Add(ttl),
		Value:   []byte("value"),
	}
}

func mustCreate(t *testing.T, s *Store, e session.Entry) {
	t.Helper()
	if ok, err := s.Create(context.Background(), e); !ok || err != nil {
		t.Fatalf("Create(%s) = %v, %v; want true, nil", e.ID, ok, err)
	}
}

func found(t *testing.T, s *Store, tenant, id string) bool {
	t.Helper()
	_, ok, err := s.Get(context.Background(), tenant, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return ok
}

func TestValuesAreCopied(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{})
	ctx := context.Background()
	e := newEntry(fc, "alice", time.Hour)
	buf := []byte("original")
	e.Value = buf
	mustCreate(t, s, e)
	copy(buf, "CHANGED!")
	got, _, _ := s.Get(ctx, e.Tenant, e.ID)
	if string(got.Value) != "original" {
		t.Fatalf("after the caller reused its buffer, Get = %q, want %q", got.Value, "original")
	}
	copy(got.Value, "CHANGED!")
	again, _, _ := s.Get(ctx, e.Tenant, e.ID)
	if string(again.Value) != "original" {
		t.Fatalf("after the caller changed a returned value, Get = %q, want %q", again.Value, "original")
	}

	e.Version, buf = 2, []byte("second")
	e.Value = buf
	if ok, _ := s.Update(ctx, e); !ok {
		t.Fatal("Update refused")
	}
	copy(buf, "XXXXXX")
	list, _ := s.ListUser(ctx, e.Tenant, "alice")
	if len(list) != 1 || string(list[0].Value) != "second" {
		t.Fatalf("after the caller reused its Update buffer, ListUser = %+v, want one record with %q", list, "second")
	}
}

// TestIDForms checks the three ways a key holds an ID: every form comes
// back unchanged from ListUser, and forms that differ only in case are
// different records.
func TestIDForms(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{})
	hex := storetest.NewID()
	ids := []string{
		hex,
		strings.ToUpper(hex),
		"rm." + hex,
		"rm." + strings.ToUpper(hex),
		"rm.",
		hex[:63],
		hex + "0",
		"",
		"plain",
		"a\x00b",
	}
	for _, id := range ids {
		e := newEntry(fc, "alice", time.Hour)
		e.ID, e.Value = id, []byte(id)
		mustCreate(t, s, e)
	}
	for _, id := range ids {
		got, ok, err := s.Get(context.Background(), "acme", id)
		if err != nil || !ok || string(got.Value) != id || got.ID != id {
			t.Errorf("Get(%q) = %q, %v, %v; want its own record", id, got.Value, ok, err)
		}
	}
	list, err := s.ListUser(context.Background(), "acme", "alice")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range list {
		if e.ID != string(e.Value) {
			t.Errorf("ListUser returned ID %q for the record stored as %q", e.ID, e.Value)
		}
		listed = append(listed, e.ID)
	}
	slices.Sort(listed)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("ListUser IDs = %q, want %q", listed, want)
	}
}

func TestCreateRefusesOtherVersions(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{})
	e := newEntry(fc, "", time.Hour)
	e.Version = 2
	if ok, err := s.Create(context.Background(), e); ok || err == nil {
		t.Fatalf("Create with version 2 = %v, %v; want false and an error", ok, err)
	}
	if n := s.Stats().Entries; n != 0 {
		t.Fatalf("after a refused Create, Entries = %d, want 0", n)
	}
}

func TestEvictionKeepsBound(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{MaxEntries: 10})
	var ids []string
	for i := range 15 {
		e := newEntry(fc, fmt.Sprint("user", i%3), time.Duration(i+1)*time.Minute)
		mustCreate(t, s, e)
		ids = append(ids, e.ID)
	}
	st := s.Stats()
	if st.Entries != 10 || st.Evictions != 5 || st.Expired != 0 {
		t.Fatalf("after 15 Creates into room for 10, Stats = %+v; want 10 entries, 5 evictions", st)
	}
	live := 0
	for _, id := range ids {
		if found(t, s, "acme", id) {
			live++
		}
	}
	if live != 10 {
		t.Fatalf("%d records readable, want 10", live)
	}
	if !found(t, s, "acme", ids[len(ids)-1]) {
		t.Fatal("the last record created was evicted to make room for itself")
	}
}

func TestEvictionDropsExpiredFirst(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{MaxEntries: 100})
	for range 100 {
		mustCreate(t, s, newEntry(fc, "alice", time.Second))
	}
	fc.Advance(2 * time.Second)
	e := newEntry(fc, "bob", time.Hour)
	mustCreate(t, s, e)
	st := s.Stats()
	if st.Evictions != 0 || st.Expired == 0 {
		t.Fatalf("Create into a store full of expired records: Stats = %+v; want expired records dropped, no eviction", st)
	}
	if !found(t, s, "acme", e.ID) {
		t.Fatal("the new record is missing")
	}
}

// TestEvictionPrefersSoonestExpiry fills a store with records expiring one
// second apart and overfills it by a tenth: sampled eviction must take
// mostly records near the front. A uniform choice would average rank 0.5;
// the minimum of five samples averages about 1/6.
func TestEvictionPrefersSoonestExpiry(t *testing.T) {
	const n, extra = 10_000, 1_000
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{MaxEntries: n})
	ids := make([]string, n)
	for i := range ids {
		e := newEntry(fc, "", time.Duration(i+1)*time.Second)
		ids[i] = e.ID
		mustCreate(t, s, e)
	}
	for range extra {
		mustCreate(t, s, newEntry(fc, "", 100*time.Hour))
	}
	gone, rankSum := 0, 0
	for i, id := range ids {
		if !found(t, s, "acme", id) {
			gone++
			rankSum += i
		}
	}
	if gone != extra {
		t.Fatalf("%d records evicted, want %d", gone, extra)
	}
	if mean := float64(rankSum) / float64(gone) / n; mean > 0.3 {
		t.Fatalf("evicted records have mean expiry rank %.2f, want < 0.3 (closest to expiry first)", mean)
	}
}

func TestBoundHoldsUnderConcurrentCreates(t *testing.T) {
	const max, writers, each = 50, 8, 200
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{MaxEntries: max})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range each {
				e := newEntry(fc, fmt.Sprint("user", w), time.Hour)
				if ok, err := s.Create(context.Background(), e); !ok || err != nil {
					t.Errorf("Create = %v, %v", ok, err)
					return
				}
				if n := s.Stats().Entries; n > max {
					t.Errorf("Entries = %d, over the bound %d", n, max)
					return
				}
			}
		})
	}
	wg.Wait()
	held := 0
	for i := range s.shards {
		held += len(s.shards[i].entries)
	}
	if st := s.Stats(); held != max || st.Entries != max || st.Evictions != writers*each-max {
		t.Fatalf("shards hold %d records, Stats = %+v; want %d records and %d evictions", held, st, max, writers*each-max)
	}
}

// waitSweep advances fc by one sweep interval once the sweeper is waiting,
// then waits until it has swept and is waiting again.
func waitSweep(t *testing.T, fc *clock.Fake, interval time.Duration) {
	t.Helper()
	for fc.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	fc.Advance(interval)
	for fc.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
}

func TestSweeperDeletesExpired(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{SweepInterval: time.Minute})
	for i := range 2000 {
		e := newEntry(fc, "", time.Second)
		e.Tenant = fmt.Sprint("tenant", i%7)
		if i%2 == 0 {
			e.UserID = fmt.Sprint("user", i%10)
		}
		mustCreate(t, s, e)
	}
	keep := newEntry(fc, "alice", 2*time.Minute)
	mustCreate(t, s, keep)

	waitSweep(t, fc, time.Minute)
	if st := s.Stats(); st.Entries != 1 || st.Expired != 2000 {
		t.Fatalf("after a sweep, Stats = %+v; want 1 entry and 2000 expired", st)
	}
	if !found(t, s, keep.Tenant, keep.ID) {
		t.Fatal("the sweeper deleted a live record")
	}
	users, tenants := 0, 0
	for i := range s.shards {
		tenants += len(s.shards[i].tenants.ids)
		users += len(s.users.shards[i].sets)
	}
	if users != 1 || tenants != 1 {
		t.Fatalf("after a sweep the index names %d users and shards hold %d tenants; want 1 and 1", users, tenants)
	}
}

func TestDeleteForgetsTenantsAndUsers(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{})
	ctx := context.Background()
	var es []session.Entry
	for i := range 100 {
		e := newEntry(fc, fmt.Sprint("user", i%5), time.Hour)
		e.Tenant = fmt.Sprint("tenant", i%9)
		mustCreate(t, s, e)
		es = append(es, e)
	}
	for _, e := range es {
		if err := s.Delete(ctx, e.Tenant, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.shards {
		if n, m := len(s.shards[i].tenants.ids), len(s.users.shards[i].sets); n != 0 || m != 0 {
			t.Fatalf("after every record was deleted, shard %d holds %d tenants and %d users", i, n, m)
		}
	}
}

func TestManySessionsOfOneUser(t *testing.T) {
	fc := clock.NewFake(epoch)
	s := newTestStore(t, fc, Options{})
	ctx := context.Background()
	var ids []string
	for range 3 * fewMax {
		e := newEntry(fc, "alice", time.Hour)
		mustCreate(t, s, e)
		ids = append(ids, e.ID)
	}
	if err := s.Delete(ctx, "acme", ids[0]); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListUser(ctx, "acme", "alice")
	if err != nil || len(list) != len(ids)-1 {
		t.Fatalf("ListUser = %d records, %v; want %d", len(list), err, len(ids)-1)
	}
	n, err := s.DeleteUser(ctx, "acme", "alice", ids[1])
	if err != nil || n != len(ids)-2 {
		t.Fatalf("DeleteUser = %d, %v; want %d", n, err, len(ids)-2)
	}
	if list, _ := s.ListUser(ctx, "acme", "alice"); len(list) != 1 || !bytes.Equal([]byte(list[0].ID), []byte(ids[1])) {
		t.Fatalf("after DeleteUser, ListUser = %+v; want only %s", list, ids[1])
	}
}

func TestCloseTwice(t *testing.T) {
	s := New(Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
