package filestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func openTest(t *testing.T, path string, fc *clock.Fake) *Store {
	t.Helper()
	s, err := Open(path, Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	fc := clock.NewFake(epoch)
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) session.Store {
			return openTest(t, filepath.Join(t.TempDir(), "sessions.db"), fc)
		},
		Now:     fc.Now,
		Advance: fc.Advance,
	})
}

func newEntry(fc *clock.Fake, user string, ttl time.Duration) session.Entry {
	id := storetest.NewID()
	return session.Entry{
		Tenant:  "acme",
		ID:      id,
		UserID:  user,
		Version: 1,
		Expires: fc.Now().Add(ttl),
		Value:   []byte("value of " + id),
	}
}

func mustCreate(t *testing.T, s *Store, e session.Entry) {
	t.Helper()
	if ok, err := s.Create(context.Background(), e); !ok || err != nil {
		t.Fatalf("Create(%s) = %v, %v; want true, nil", e.ID, ok, err)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	fc := clock.NewFake(epoch)
	path := filepath.Join(t.TempDir(), "sessions.db")
	ctx := context.Background()
	s := openTest(t, path, fc)
	alice := newEntry(fc, "alice", time.Hour)
	anon := newEntry(fc, "", time.Hour)
	mustCreate(t, s, alice)
	mustCreate(t, s, anon)
	alice.Version, alice.Value = 2, []byte("second")
	if ok, err := s.Update(ctx, alice); !ok || err != nil {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path, fc)
	for _, want := range []session.Entry{alice, anon} {
		got, ok, err := s.Get(ctx, want.Tenant, want.ID)
		if err != nil || !ok || got.Version != want.Version || string(got.Value) != string(want.Value) ||
			got.UserID != want.UserID || !got.Expires.Equal(want.Expires) {
			t.Fatalf("after reopening, Get = %+v, %v, %v; want %+v", got, ok, err, want)
		}
	}
	if list, err := s.ListUser(ctx, "acme", "alice"); err != nil || len(list) != 1 || list[0].ID != alice.ID {
		t.Fatalf("after reopening, ListUser(alice) = %+v, %v; want alice's record", list, err)
	}
	alice.Version = 3
	if ok, err := s.Update(ctx, alice); !ok || err != nil {
		t.Fatalf("after reopening, Update to version 3 = %v, %v", ok, err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	fc := clock.NewFake(epoch)
	path := filepath.Join(t.TempDir(), "sessions.db")
	openTest(t, path, fc)
	s, err := Open(path, Options{Clock: fc, LockTimeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open error = %q; want one wrapping ErrLocked", err)
	}
}

func TestFileModes(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(epoch)
	t.Run("created 0600", func(t *testing.T) {
		path := filepath.Join(dir, "new.db")
		openTest(t, path, fc)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Fatalf("the new file has mode %#o, want 0600", mode)
		}
	})
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o666} {
		t.Run(fmt.Sprintf("refuses %#o", mode), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("open-%o.db", mode))
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{Clock: fc})
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted a file of mode %#o", mode)
			}
			if !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("Open error = %q; want it to say how to fix the mode", err)
			}
		})
	}
}

func TestRefusesForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("accounts"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a bbolt file holding other data")
	}
}

// rawUpdate changes the file at path with bbolt directly, as damage would.
func rawUpdate(t *testing.T, path string, fn func(records *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketRecords)) }); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecord(t *testing.T) {
	tests := []struct {
		name   string
		damage func(v, other []byte) []byte
	}{
		{"flipped value byte", func(v, _ []byte) []byte { v[len(v)-1] ^= 0x40; return v }},
		{"flipped version byte", func(v, _ []byte) []byte { v[20] ^= 1; return v }},
		{"truncated", func(v, _ []byte) []byte { return v[:10] }},
		{"unknown format", func(v, _ []byte) []byte { v[0] = 9; return v }},
		{"value of another record", func(_, other []byte) []byte { return other }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testCorrupt(t, tt.damage)
		})
	}
}

func testCorrupt(t *testing.T, damage func(v, other []byte) []byte) {
	fc := clock.NewFake(epoch)
	path := filepath.Join(t.TempDir(), "sessions.db")
	ctx := context.Background()
	s := openTest(t, path, fc)
	bad, good := newEntry(fc, "alice", time.Hour), newEntry(fc, "alice", time.Hour)
	mustCreate(t, s, bad)
	mustCreate(t, s, good)
	s.Close()
	rawUpdate(t, path, func(records *bolt.Bucket) error {
		k := recordKey(bad.Tenant, bad.ID)
		v := append([]byte(nil), records.Get(k)...)
		other := append([]byte(nil), records.Get(recordKey(good.Tenant, good.ID))...)
		return records.Put(k, damage(v, other))
	})
	s = openTest(t, path, fc)

	if _, ok, err := s.Get(ctx, bad.Tenant, bad.ID); ok || !errors.Is(err, session.ErrCorrupt) {
		t.Fatalf("Get of the damaged record = %v, %v; want an error wrapping ErrCorrupt", ok, err)
	}
	next := bad
	next.Version = 2
	if ok, err := s.Update(ctx, next); ok || !errors.Is(err, session.ErrCorrupt) {
		t.Fatalf("Update of the damaged record = %v, %v; want false and ErrCorrupt", ok, err)
	}
	if ok, err := s.Create(ctx, bad); ok || !errors.Is(err, session.ErrCorrupt) {
		t.Fatalf("Create over the damaged record = %v, %v; want false and ErrCorrupt", ok, err)
	}
	list, err := s.ListUser(ctx, "acme", "alice")
	if !errors.Is(err, session.ErrCorrupt) || len(list) != 1 || list[0].ID != good.ID {
		t.Fatalf("ListUser = %d records, %v; want the intact record and ErrCorrupt", len(list), err)
	}
	if err := s.Delete(ctx, bad.Tenant, bad.ID); err != nil {
		t.Fatalf("Delete of the damaged record: %v", err)
	}
	if _, ok, err := s.Get(ctx, bad.Tenant, bad.ID); ok || err != nil {
		t.Fatalf("Get after Delete = %v, %v; want absent", ok, err)
	}
	if n, err := s.DeleteUser(ctx, "acme", "alice"); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 1", n, err)
	}
	if n := countKeys(t, s, bucketUsers); n != 0 {
		t.Fatalf("after DeleteUser the user index holds %d keys, want 0", n)
	}
}

// countKeys returns the number of keys in a bucket of s.
func countKeys(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
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
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "sessions.db"), fc)
	const n = 2*sweepBatch + 10
	var kept []session.Entry
	for i := range n {
		e := newEntry(fc, "", time.Second)
		e.Tenant = fmt.Sprint("tenant", i%3)
		if i%2 == 0 {
			e.UserID = fmt.Sprint("user", i%7)
		}
		mustCreate(t, s, e)
		if i%500 == 0 { // renewed before expiry: its old expiry key must not delete it
			e.Version, e.Expires = 2, fc.Now().Add(2*time.Minute)
			if ok, err := s.Update(ctx, e); !ok || err != nil {
				t.Fatalf("Update = %v, %v", ok, err)
			}
			kept = append(kept, e)
		}
	}
	fc.Advance(2 * time.Second)
	waitSweep(t, fc, time.Minute)

	for _, e := range kept {
		if _, ok, err := s.Get(ctx, e.Tenant, e.ID); !ok || err != nil {
			t.Fatalf("the sweeper deleted a renewed record: %v, %v", ok, err)
		}
	}
	users := 0
	for _, e := range kept {
		if e.UserID != "" {
			users++
		}
	}
	if r, x, u := countKeys(t, s, bucketRecords), countKeys(t, s, bucketExpiry), countKeys(t, s, bucketUsers); r != len(kept) || x != len(kept) || u != users {
		t.Fatalf("after a sweep the buckets hold %d records, %d expiry keys, %d user keys; want %d, %d, %d",
			r, x, u, len(kept), len(kept), users)
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.Get(context.Background(), "", storetest.NewID()); err == nil {
		t.Fatal("Get after Close succeeded")
	}
}
