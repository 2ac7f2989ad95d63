package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/clock"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/userstest"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Clock: clock.NewFake(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	fc := clock.NewFake(epoch)
	userstest.Run(t, userstest.Harness{
		New: func(t *testing.T) users.Store {
			s, err := Open(filepath.Join(t.TempDir(), "users.json"), Options{Clock: fc})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Now:     fc.Now,
		Advance: fc.Advance,
	})
}

// TestConcurrentStoresLoseNothing runs what two `tether users add` at once
// do: separate Stores over one file, each adding users. Every user lands.
func TestConcurrentStoresLoseNothing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "users.json")
	const stores, each = 4, 8
	var wg sync.WaitGroup
	for i := range stores {
		s := openTest(t, path)
		wg.Go(func() {
			for j := range each {
				if _, err := s.Create(context.Background(), users.User{Username: fmt.Sprintf("user-%d-%d", i, j)}); err != nil {
					t.Errorf("Create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	all, err := openTest(t, path).List(context.Background())
	if err != nil || len(all) != stores*each {
		t.Fatalf("after %d concurrent adds the file holds %d users (%v)", stores*each, len(all), err)
	}
}

func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
	path := filepath.Join(t.TempDir(), "users.json")
	s := openTest(t, path)
	if _, err := s.Create(context.Background(), users.User{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".lock"} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p, perm)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Errorf("the directory holds %d files, want users.json and its lock: a temporary file was left", len(entries))
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	want := "run: chmod 600 " + path
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open of a group-readable file = %v, want an error telling to %q", err, want)
	}
	if _, _, err := s.GetByUsername(context.Background(), "alice"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("GetByUsername from a group-readable file = %v, want an error telling to %q", err, want)
	}
	if _, err := s.Create(context.Background(), users.User{Username: "bob"}); err == nil {
		t.Error("Create wrote to a group-readable file")
	}
}

// TestReadsSeeOtherWriters checks that a store reloads the file when
// another store (another process) changes it.
func TestReadsSeeOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	reader, writer := openTest(t, path), openTest(t, path)
	ctx := context.Background()
	if _, ok, _ := reader.GetByUsername(ctx, "alice"); ok {
		t.Fatal("alice exists before she is added")
	}
	alice, err := writer.Create(ctx, users.User{Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := reader.GetByUsername(ctx, "alice"); !ok || err != nil {
		t.Fatalf("the reader does not see alice (%v, %v)", ok, err)
	}
	if _, _, err := writer.SetDisabled(ctx, alice.ID, true); err != nil {
		t.Fatal(err)
	}
	if u, _, _ := reader.Get(ctx, alice.ID); !u.Disabled {
		t.Fatal("the reader does not see alice disabled")
	}
}

// TestFileFormat checks the documented format: what Store writes, and that
// a hand-written file reads.
func TestFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.json")
	s := openTest(t, path)
	if _, err := s.Create(context.Background(), users.User{ID: "u1", Username: "alice", Roles: []string{"admin"},
		PasswordHash: userstest.Hash}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	u := doc["users"].([]any)[0].(map[string]any)
	if doc["format"] != 1.0 || u["username"] != "alice" || u["password_hash"] != userstest.Hash ||
		u["created_at"] != "2030-01-02T03:04:05.123456Z" || u["version"] != 1.0 {
		t.Fatalf("the file is not in the documented format:\n%s", data)
	}

	handWritten := `{"format": 1, "users": [{"id": "u2", "username": "bob", "roles": ["a", "a"], "attributes": {},
		"disabled": true, "version": 7, "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(path, []byte(handWritten), 0o600); err != nil {
		t.Fatal(err)
	}
	bob, ok, err := s.GetByUsername(context.Background(), "BOB")
	if err != nil || !ok || !bob.Disabled || bob.Version != 7 || len(bob.Roles) != 1 || bob.Attributes != nil {
		t.Fatalf("GetByUsername(BOB) from a hand-written file = %+v, %v, %v", bob, ok, err)
	}
}

func TestParseRejects(t *testing.T) {
	user := func(fields string) string {
		return `{"format": 1, "users": [{"id": "u1", "username": "alice", "version": 1, "created_at": "2030-01-01T00:00:00Z",
			"updated_at": "2030-01-01T00:00:00Z"` + fields + `}]}`
	}
	tests := []struct {
		name, data, want string
	}{
		{"not JSON", "users: []", "parse"},
		{"unknown key", `{"format": 1, "users": [], "extra": true}`, "unknown field"},
		{"unknown user key", user(`, "admin": true`), "unknown field"},
		{"no format", `{"users": []}`, `want "format": 1`},
		{"newer format", `{"format": 2, "users": []}`, `want "format": 1`},
		{"trailing data", `{"format": 1, "users": []} {}`, "data after"},
		{"invalid username", user(`, "username": "a\u0000b"`), "username"},
		{"untrimmed username", user(`, "username": " alice"`), "surrounding spaces"},
		{"no version", user(`, "version": 0`), "version"},
		{"bad hash", user(`, "password_hash": "md5:abc"`), "password hash"},
		{"same username twice", `{"format": 1, "users": [
			{"id": "u1", "username": "alice", "version": 1, "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z"},
			{"id": "u2", "username": "ALICE", "version": 1, "created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00Z"}]}`,
			"username \"ALICE\" is taken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if p, err := parse([]byte(" \n")); err != nil || len(p.users) != 0 {
		t.Fatalf("parse of an empty file = %v, %v; want an empty pool", p, err)
	}
}

// TestLockWaitEndsWithContext checks that a change waiting for another
// process's lock gives up when its context ends.
func TestLockWaitEndsWithContext(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "users.json")
	unlock, err := lock(context.Background(), path+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = openTest(t, path).Create(ctx, users.User{Username: "alice"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Create while another holds the lock = %v, want context.DeadlineExceeded", err)
	}
}

// FuzzParse checks that parse never panics, and that what it accepts
// writes back to a file it reads the same. The seed corpus is in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format": 1, "users": [{"id": "u1", "username": "alice", "roles": ["a"], "attributes": {"k": "v"},
		"password_hash": "` + userstest.Hash + `", "disabled": false, "version": 1,
		"created_at": "2030-01-01T00:00:00Z", "updated_at": "2030-01-01T00:00:00.5Z"}]}`))
	f.Add([]byte(`{"format": 1, "users": []}`))
	f.Add([]byte(`{"format": 2}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parse(data)
		if err != nil {
			return
		}
		out, err := p.marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed file: %v", err)
		}
		again, err := parse(out)
		if err != nil {
			t.Fatalf("parse of a written file: %v\n%s", err, out)
		}
		if out2, _ := again.marshal(); string(out2) != string(out) {
			t.Fatalf("a written file reads back differently:\n%s\n%s", out, out2)
		}
	})
}
