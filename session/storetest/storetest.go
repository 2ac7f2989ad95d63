// Package storetest is the conformance suite every session.Store passes:
// memory, file, Redis (standalone, Sentinel, Cluster) and PostgreSQL run it
// against the real server, and a third-party store should run it too.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New:     func(t *testing.T) session.Store { return newStoreForTest(t) },
//			Now:     time.Now,
//			Advance: time.Sleep,
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherlb/tether/session"
)

// Harness tells the suite how to make a store and how time passes for it.
type Harness struct {
	// New returns an empty store; it registers its own cleanup (t.Cleanup)
	// and never shares records with another store New returned.
	New func(t *testing.T) session.Store
	// Now is the time the store expires records by.
	Now func() time.Time
	// Advance moves the store's time forward by d: a fake clock's Advance,
	// or time.Sleep for a store whose server keeps the time (Redis).
	Advance func(d time.Duration)
}

// Run runs every conformance test against stores h.New makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"CreateGet", testCreateGet},
		{"CreateExisting", testCreateExisting},
		{"ValueBytesKept", testValueBytes},
		{"UpdateCompareAndSwap", testUpdateCAS},
		{"UpdateMissingNeverResurrects", testUpdateMissing},
		{"DeleteIsFinal", testDelete},
		{"Expiry", testExpiry},
		{"UpdateExtendsExpiry", testUpdateExtends},
		{"TenantIsolation", testTenantIsolation},
		{"HostileNames", testHostileNames},
		{"ListUser", testListUser},
		{"UserChangeMovesIndex", testUserChange},
		{"DeleteUser", testDeleteUser},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// NewID returns a random ID shaped like the ones the Manager stores: 64
// lowercase hex characters.
func NewID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func entry(h Harness, tenant, user string, ttl time.Duration) session.Entry {
	return session.Entry{
		Tenant:  tenant,
		ID:      NewID(),
		UserID:  user,
		Version: 1,
		Expires: h.Now().Add(ttl),
		Value:   []byte(`{"cart":["apple"]}`),
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCreate(t *testing.T, s session.Store, e session.Entry) {
	t.Helper()
	ok, err := s.Create(ctx(t), e)
	if err != nil || !ok {
		t.Fatalf("Create(%s/%s) = %v, %v; want true, nil", e.Tenant, e.ID, ok, err)
	}
}

func mustGet(t *testing.T, s session.Store, tenant, id string) (session.Entry, bool) {
	t.Helper()
	e, ok, err := s.Get(ctx(t), tenant, id)
	if err != nil {
		t.Fatalf("Get(%s/%s): %v", tenant, id, err)
	}
	return e, ok
}

func mustUpdate(t *testing.T, s session.Store, e session.Entry) bool {
	t.Helper()
	ok, err := s.Update(ctx(t), e)
	if err != nil {
		t.Fatalf("Update(%s/%s v%d): %v", e.Tenant, e.ID, e.Version, err)
	}
	return ok
}

func assertSame(t *testing.T, got, want session.Entry) {
	t.Helper()
	if got.Tenant != want.Tenant || got.ID != want.ID || got.UserID != want.UserID ||
		got.Version != want.Version || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("got entry %+v\nwant %+v", got, want)
	}
	// Stores may keep expiry at millisecond precision.
	if d := got.Expires.Sub(want.Expires); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("got Expires %v, want %v", got.Expires, want.Expires)
	}
}

func testCreateGet(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	if _, ok := mustGet(t, s, e.Tenant, e.ID); ok {
		t.Fatal("Get found a record before Create")
	}
	mustCreate(t, s, e)
	got, ok := mustGet(t, s, e.Tenant, e.ID)
	if !ok {
		t.Fatal("Get did not find the record Create stored")
	}
	assertSame(t, got, e)

	anon := entry(h, "", "", time.Hour)
	mustCreate(t, s, anon)
	got, ok = mustGet(t, s, "", anon.ID)
	if !ok {
		t.Fatal("Get did not find an anonymous record of the empty tenant")
	}
	assertSame(t, got, anon)
}

func testCreateExisting(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	mustCreate(t, s, e)
	other := e
	other.UserID = "mallory"
	other.Value = []byte("overwritten")
	ok, err := s.Create(ctx(t), other)
	if err != nil || ok {
		t.Fatalf("Create over a live record = %v, %v; want false, nil", ok, err)
	}
	got, _ := mustGet(t, s, e.Tenant, e.ID)
	assertSame(t, got, e)
}

func testValueBytes(t *testing.T, h Harness) {
	s := h.New(t)
	big := make([]byte, 64<<10)
	rand.Read(big)
	for name, v := range map[string][]byte{
		"binary":  {0, 1, 2, 0xff, 0xfe, '\n', '\r', 0, '"', '\\'},
		"64KiB":   big,
		"one":     {'x'},
		"unicode": []byte("Grüße, 世界 \u2028"),
	} {
		e := entry(h, "t", "u", time.Hour)
		e.Value = v
		mustCreate(t, s, e)
		got, ok := mustGet(t, s, e.Tenant, e.ID)
		if !ok || !bytes.Equal(got.Value, v) {
			t.Errorf("%s value: stored %d bytes, got %d bytes back (found %v)", name, len(v), len(got.Value), ok)
		}
	}
}

func testUpdateCAS(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	mustCreate(t, s, e)

	v2 := e
	v2.Version = 2
	v2.Value = []byte("second")
	if !mustUpdate(t, s, v2) {
		t.Fatal("Update from version 1 to 2 was refused")
	}
	// A second writer that also read version 1 must lose.
	stale := e
	stale.Version = 2
	stale.Value = []byte("stale")
	if mustUpdate(t, s, stale) {
		t.Fatal("Update based on a stale read (version 1 again) landed")
	}
	skip := e
	skip.Version = 4
	if mustUpdate(t, s, skip) {
		t.Fatal("Update that skips a version (3 missing) landed")
	}
	got, _ := mustGet(t, s, e.Tenant, e.ID)
	assertSame(t, got, v2)
}

func testUpdateMissing(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	e.Version = 2
	if mustUpdate(t, s, e) {
		t.Fatal("Update of a record that never existed landed")
	}
	if _, ok := mustGet(t, s, e.Tenant, e.ID); ok {
		t.Fatal("Update of a missing record created it")
	}
	if ids := listIDs(t, s, "acme", "alice"); len(ids) != 0 {
		t.Fatalf("Update of a missing record indexed it: %v", ids)
	}
}

func testDelete(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	mustCreate(t, s, e)
	if err := s.Delete(ctx(t), e.Tenant, e.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := mustGet(t, s, e.Tenant, e.ID); ok {
		t.Fatal("Get found a deleted record")
	}
	// A slow request that loaded version 1 before the logout commits now:
	// the session must stay dead.
	slow := e
	slow.Version = 2
	if mustUpdate(t, s, slow) {
		t.Fatal("Update after Delete landed: a slow request revived a logged-out session")
	}
	if _, ok := mustGet(t, s, e.Tenant, e.ID); ok {
		t.Fatal("the deleted record came back")
	}
	if ids := listIDs(t, s, "acme", "alice"); len(ids) != 0 {
		t.Fatalf("ListUser still names a deleted record: %v", ids)
	}
	if err := s.Delete(ctx(t), e.Tenant, e.ID); err != nil {
		t.Fatalf("Delete of an absent record: %v", err)
	}
}

func testExpiry(t *testing.T, h Harness) {
	s := h.New(t)
	short := entry(h, "acme", "alice", 1500*time.Millisecond)
	long := entry(h, "acme", "alice", time.Hour)
	mustCreate(t, s, short)
	mustCreate(t, s, long)
	h.Advance(2 * time.Second)
	if _, ok := mustGet(t, s, short.Tenant, short.ID); ok {
		t.Fatal("Get returned a record past its Expires")
	}
	if _, ok := mustGet(t, s, long.Tenant, long.ID); !ok {
		t.Fatal("Get lost a record that has not expired")
	}
	late := short
	late.Version = 2
	late.Expires = h.Now().Add(time.Hour)
	if mustUpdate(t, s, late) {
		t.Fatal("Update revived an expired record")
	}
	if ids := listIDs(t, s, "acme", "alice"); !slices.Equal(ids, []string{long.ID}) {
		t.Fatalf("ListUser after expiry = %v, want only %v", ids, long.ID)
	}
	// An expired ID may be created afresh.
	again := short
	again.Expires = h.Now().Add(time.Hour)
	mustCreate(t, s, again)
}

func testUpdateExtends(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", 1500*time.Millisecond)
	mustCreate(t, s, e)
	touched := e
	touched.Version = 2
	touched.Expires = h.Now().Add(time.Hour)
	if !mustUpdate(t, s, touched) {
		t.Fatal("Update that extends expiry was refused")
	}
	h.Advance(2 * time.Second)
	got, ok := mustGet(t, s, e.Tenant, e.ID)
	if !ok {
		t.Fatal("a record whose expiry Update extended expired at its old time")
	}
	assertSame(t, got, touched)
}

func testTenantIsolation(t *testing.T, h Harness) {
	s := h.New(t)
	a := entry(h, "tenant-a", "alice", time.Hour)
	mustCreate(t, s, a)
	if _, ok := mustGet(t, s, "tenant-b", a.ID); ok {
		t.Fatal("a record of tenant-a was found under tenant-b")
	}
	if _, ok := mustGet(t, s, "", a.ID); ok {
		t.Fatal("a record of tenant-a was found under the empty tenant")
	}
	// The same ID and user in another tenant is another record.
	b := a
	b.Tenant = "tenant-b"
	b.Value = []byte("b's data")
	mustCreate(t, s, b)
	got, _ := mustGet(t, s, "tenant-a", a.ID)
	assertSame(t, got, a)

	wrong := a
	wrong.Tenant = "tenant-c"
	wrong.Version = 2
	if mustUpdate(t, s, wrong) {
		t.Fatal("Update under another tenant changed a record")
	}
	if n, err := s.DeleteUser(ctx(t), "tenant-b", "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteUser(tenant-b, alice) = %d, %v; want 1", n, err)
	}
	if _, ok := mustGet(t, s, "tenant-a", a.ID); !ok {
		t.Fatal("DeleteUser in tenant-b deleted tenant-a's session")
	}
	if err := s.Delete(ctx(t), "tenant-b", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, s, "tenant-a", a.ID); !ok {
		t.Fatal("Delete in tenant-b deleted tenant-a's session")
	}
}

// testHostileNames checks that tenants and users are namespaced by value,
// not by string concatenation: tenant names come from request headers.
func testHostileNames(t *testing.T, h Harness) {
	s := h.New(t)
	id := NewID()
	names := []string{"a", "a:s", "a:s:" + id[:8], "{a}", "a}", "{", "a b", "a%3As", "ä", "a\x00b", "a/s", "t:a", "*", "?", "[a]", "a'; DROP TABLE sessions; --"}
	for _, tenant := range names {
		e := entry(h, tenant, tenant, time.Hour)
		e.ID = id
		e.Value = []byte(tenant)
		mustCreate(t, s, e)
	}
	for _, tenant := range names {
		got, ok := mustGet(t, s, tenant, id)
		if !ok || string(got.Value) != tenant {
			t.Errorf("tenant %q: got %q (found %v), want its own record", tenant, got.Value, ok)
		}
		users, err := s.ListUser(ctx(t), tenant, tenant)
		if err != nil || len(users) != 1 || string(users[0].Value) != tenant {
			t.Errorf("ListUser(%q, %q) = %d records, %v; want exactly its own", tenant, tenant, len(users), err)
		}
	}
	if n, err := s.DeleteUser(ctx(t), "a", "a"); err != nil || n != 1 {
		t.Fatalf("DeleteUser(a, a) = %d, %v; want 1", n, err)
	}
	for _, tenant := range names[1:] {
		if _, ok := mustGet(t, s, tenant, id); !ok {
			t.Errorf("DeleteUser(a, a) deleted the record of tenant %q", tenant)
		}
	}
}

func listIDs(t *testing.T, s session.Store, tenant, user string) []string {
	t.Helper()
	es, err := s.ListUser(ctx(t), tenant, user)
	if err != nil {
		t.Fatalf("ListUser(%s, %s): %v", tenant, user, err)
	}
	var ids []string
	for _, e := range es {
		if e.Tenant != tenant || e.UserID != user {
			t.Fatalf("ListUser(%s, %s) returned a record of %s/%s", tenant, user, e.Tenant, e.UserID)
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	return ids
}

func testListUser(t *testing.T, h Harness) {
	s := h.New(t)
	var want []string
	for range 3 {
		e := entry(h, "acme", "alice", time.Hour)
		mustCreate(t, s, e)
		want = append(want, e.ID)
	}
	mustCreate(t, s, entry(h, "acme", "bob", time.Hour))
	mustCreate(t, s, entry(h, "acme", "", time.Hour))
	slices.Sort(want)
	if got := listIDs(t, s, "acme", "alice"); !slices.Equal(got, want) {
		t.Fatalf("ListUser(alice) = %v, want %v", got, want)
	}
	if got := listIDs(t, s, "acme", "nobody"); len(got) != 0 {
		t.Fatalf("ListUser(nobody) = %v, want none", got)
	}
	// An anonymous record is in no user's index.
	if got := listIDs(t, s, "acme", ""); len(got) != 0 {
		t.Fatalf("ListUser(\"\") = %v, want none: anonymous sessions are not indexed", got)
	}
}

func testUserChange(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "", time.Hour)
	mustCreate(t, s, e)
	login := e
	login.Version = 2
	login.UserID = "alice"
	if !mustUpdate(t, s, login) {
		t.Fatal("Update that sets the user was refused")
	}
	if got := listIDs(t, s, "acme", "alice"); !slices.Equal(got, []string{e.ID}) {
		t.Fatalf("after the user was set, ListUser(alice) = %v, want [%s]", got, e.ID)
	}
	switched := login
	switched.Version = 3
	switched.UserID = "bob"
	if !mustUpdate(t, s, switched) {
		t.Fatal("Update that changes the user was refused")
	}
	if got := listIDs(t, s, "acme", "alice"); len(got) != 0 {
		t.Fatalf("after the user changed to bob, ListUser(alice) = %v, want none", got)
	}
	if got := listIDs(t, s, "acme", "bob"); !slices.Equal(got, []string{e.ID}) {
		t.Fatalf("ListUser(bob) = %v, want [%s]", got, e.ID)
	}
	if n, err := s.DeleteUser(ctx(t), "acme", "alice"); err != nil || n != 0 {
		t.Fatalf("DeleteUser(alice) = %d, %v; want 0: the session is bob's now", n, err)
	}
	if _, ok := mustGet(t, s, "acme", e.ID); !ok {
		t.Fatal("DeleteUser of the previous user deleted the session")
	}
}

func testDeleteUser(t *testing.T, h Harness) {
	s := h.New(t)
	var ids []string
	for range 4 {
		e := entry(h, "acme", "alice", time.Hour)
		mustCreate(t, s, e)
		ids = append(ids, e.ID)
	}
	bob := entry(h, "acme", "bob", time.Hour)
	mustCreate(t, s, bob)
	n, err := s.DeleteUser(ctx(t), "acme", "alice", ids[0], ids[1])
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser(alice, except two) = %d, %v; want 2", n, err)
	}
	kept := []string{ids[0], ids[1]}
	slices.Sort(kept)
	if got := listIDs(t, s, "acme", "alice"); !slices.Equal(got, kept) {
		t.Fatalf("after DeleteUser, ListUser(alice) = %v, want %v", got, kept)
	}
	for _, id := range ids[2:] {
		if _, ok := mustGet(t, s, "acme", id); ok {
			t.Fatalf("DeleteUser left record %s readable", id)
		}
	}
	if _, ok := mustGet(t, s, "acme", bob.ID); !ok {
		t.Fatal("DeleteUser(alice) deleted bob's session")
	}
	n, err = s.DeleteUser(ctx(t), "acme", "alice")
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser(alice) = %d, %v; want 2", n, err)
	}
	if got := listIDs(t, s, "acme", "alice"); len(got) != 0 {
		t.Fatalf("after DeleteUser, ListUser(alice) = %v, want none", got)
	}
}

// testConcurrentUpdates races writers that each read, then CAS: every
// successful write must be one version step, so none is lost.
func testConcurrentUpdates(t *testing.T, h Harness) {
	s := h.New(t)
	e := entry(h, "acme", "alice", time.Hour)
	mustCreate(t, s, e)
	const writers, rounds = 8, 10
	var won atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				cur, ok, err := s.Get(context.Background(), e.Tenant, e.ID)
				if err != nil || !ok {
					errs <- fmt.Errorf("writer %d: Get = %v, %v", w, ok, err)
					return
				}
				next := cur
				next.Version++
				next.Value = fmt.Appendf(nil, "w%d r%d", w, r)
				ok, err = s.Update(context.Background(), next)
				if err != nil {
					errs <- fmt.Errorf("writer %d: Update: %v", w, err)
					return
				}
				if ok {
					won.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := mustGet(t, s, e.Tenant, e.ID)
	if got.Version != uint64(won.Load())+1 {
		t.Fatalf("after %d successful updates the version is %d, want %d: a write was lost or double-counted",
			won.Load(), got.Version, won.Load()+1)
	}
	if won.Load() == 0 {
		t.Fatal("no concurrent Update succeeded")
	}
}
