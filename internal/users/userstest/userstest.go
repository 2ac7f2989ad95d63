// Package userstest is the conformance suite every users.Store passes: the
// file store and PostgreSQL run it, the latter against a real server.
//
//	func TestConformance(t *testing.T) {
//		fc := clock.NewFake(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
//		userstest.Run(t, userstest.Harness{
//			New:     func(t *testing.T) users.Store { return newStoreForTest(t, fc) },
//			Advance: fc.Advance,
//			Now:     fc.Now,
//		})
//	}
package userstest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/users"
)

// Harness tells the suite how to make a store and how its clock moves.
type Harness struct {
	// New returns an empty store; it registers its own cleanup
	// (t.Cleanup) and never shares users with another store New returned.
	New func(t *testing.T) users.Store
	// Now is the store's clock.
	Now func() time.Time
	// Advance moves the store's clock forward by d.
	Advance func(d time.Duration)
}

// Hash is a valid argon2id hash (of "correct horse battery staple", at
// tiny parameters) for the suite's users; stores check the format only.
const Hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$TUhCoV6YH8thtZpQqRp0JvQQ5ZYgiLA0LYApKDG6qtM"

// Run runs every conformance test against stores h.New makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"CreateGet", testCreateGet},
		{"CreateNormalizes", testCreateNormalizes},
		{"UsernameUniqueRegardlessOfCase", testUsernameUnique},
		{"IDUnique", testIDUnique},
		{"CreateInvalid", testCreateInvalid},
		{"NotFound", testNotFound},
		{"List", testList},
		{"UpdateCompareAndSwap", testUpdateCAS},
		{"UpdateRename", testUpdateRename},
		{"SetDisabled", testSetDisabled},
		{"SetPassword", testSetPassword},
		{"ReturnedUsersAreCopies", testCopies},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// alice is a user with every field set.
func alice() users.User {
	return users.User{
		Username:     "Alice",
		Email:        "alice@example.com",
		Name:         "Alice Liddell ✓",
		TenantID:     "acme",
		Roles:        []string{"admin", "billing:read"},
		Attributes:   map[string]string{"plan": "pro", "locale": "en-GB", "note": "line one\nline two"},
		PasswordHash: Hash,
	}
}

func mustCreate(t *testing.T, s users.Store, u users.User) users.User {
	t.Helper()
	got, err := s.Create(ctx(t), u)
	if err != nil {
		t.Fatalf("Create(%q): %v", u.Username, err)
	}
	return got
}

// assertSame fails unless got and want are equal in every field,
// timestamps compared as instants.
func assertSame(t *testing.T, what string, got, want users.User) {
	t.Helper()
	times := func(u users.User) users.User {
		u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = time.Time{}, time.Time{}, time.Time{}
		return u
	}
	if !reflect.DeepEqual(times(got), times(want)) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"UpdatedAt", got.UpdatedAt, want.UpdatedAt},
		{"PasswordChangedAt", got.PasswordChangedAt, want.PasswordChangedAt},
	} {
		if !f.got.Equal(f.want) {
			t.Errorf("%s: %s = %v, want %v", what, f.name, f.got, f.want)
		}
	}
}

func testCreateGet(t *testing.T, h Harness) {
	s := h.New(t)
	now := users.StoreTime(h.Now())
	created := mustCreate(t, s, alice())
	if len(created.ID) != 32 || created.Version != 1 || !created.CreatedAt.Equal(now) ||
		!created.UpdatedAt.Equal(now) || !created.PasswordChangedAt.Equal(now) {
		t.Fatalf("Create returned ID %q, version %d, times %v %v %v; want 32 hex digits, 1 and %v",
			created.ID, created.Version, created.CreatedAt, created.UpdatedAt, created.PasswordChangedAt, now)
	}
	want := alice()
	want.ID, want.Version, want.CreatedAt, want.UpdatedAt, want.PasswordChangedAt = created.ID, 1, now, now, now
	assertSame(t, "Create", created, want)
	got, ok, err := s.Get(ctx(t), created.ID)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	assertSame(t, "Get", got, want)
	for _, name := range []string{"Alice", "alice", "ALICE", "  alice "} {
		got, ok, err := s.GetByUsername(ctx(t), name)
		if err != nil || !ok {
			t.Fatalf("GetByUsername(%q) = %v, %v", name, ok, err)
		}
		assertSame(t, "GetByUsername("+name+")", got, want)
	}
}

func testCreateNormalizes(t *testing.T, h Harness) {
	s := h.New(t)
	u := users.User{ID: "chosen-id", Username: "  Bob\u00a0", Roles: []string{"a", "b", "a"}, Attributes: map[string]string{}}
	created := mustCreate(t, s, u)
	got, _, err := s.Get(ctx(t), "chosen-id")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []users.User{created, got} {
		if g.ID != "chosen-id" || g.Username != "Bob" || !slices.Equal(g.Roles, []string{"a", "b"}) ||
			g.Attributes != nil || !g.PasswordChangedAt.IsZero() {
			t.Errorf("stored %+v; want ID chosen-id, username Bob, roles [a b], nil attributes, no password change", g)
		}
	}
}

func testUsernameUnique(t *testing.T, h Harness) {
	s := h.New(t)
	mustCreate(t, s, users.User{Username: "Émile"})
	for _, name := range []string{"Émile", "émile", "ÉMILE", " émile"} {
		if _, err := s.Create(ctx(t), users.User{Username: name}); !errors.Is(err, users.ErrExists) {
			t.Errorf("Create(%q) after Émile: err = %v, want ErrExists", name, err)
		}
	}
	if all, err := s.List(ctx(t)); err != nil || len(all) != 1 {
		t.Fatalf("List = %d users, %v; want 1", len(all), err)
	}
}

func testIDUnique(t *testing.T, h Harness) {
	s := h.New(t)
	mustCreate(t, s, users.User{ID: "u1", Username: "carol"})
	if _, err := s.Create(ctx(t), users.User{ID: "u1", Username: "dave"}); !errors.Is(err, users.ErrExists) {
		t.Fatalf("Create with a taken ID: err = %v, want ErrExists", err)
	}
	if _, ok, err := s.GetByUsername(ctx(t), "dave"); ok || err != nil {
		t.Fatalf("dave was stored (%v, %v)", ok, err)
	}
}

func testCreateInvalid(t *testing.T, h Harness) {
	s := h.New(t)
	long := make([]rune, users.MaxUsernameLen+1)
	for i := range long {
		long[i] = 'é'
	}
	for _, u := range []users.User{
		{Username: ""},
		{Username: "   "},
		{Username: "a\x00b"},
		{Username: "tab\there"},
		{Username: "bad\xffutf8"},
		{Username: string(long)},
		{Username: "ok", Roles: []string{"two words"}},
		{Username: "ok", Attributes: map[string]string{"bad key": "v"}},
		{Username: "ok", Attributes: map[string]string{"k": "nul\x00"}},
		{Username: "ok", PasswordHash: "plaintext"},
		{Username: "ok", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$"},
	} {
		if _, err := s.Create(ctx(t), u); !errors.Is(err, users.ErrInvalid) {
			t.Errorf("Create(%+v): err = %v, want ErrInvalid", u, err)
		}
	}
	if all, err := s.List(ctx(t)); err != nil || len(all) != 0 {
		t.Fatalf("List = %d users, %v; want none", len(all), err)
	}
	if _, err := s.Create(ctx(t), users.User{Username: string(long[1:])}); err != nil {
		t.Errorf("Create with a %d-character username: %v", users.MaxUsernameLen, err)
	}
}

func testNotFound(t *testing.T, h Harness) {
	s := h.New(t)
	mustCreate(t, s, users.User{Username: "erin"})
	check := func(op string, u users.User, ok bool, err error) {
		t.Helper()
		if err != nil || ok || !reflect.DeepEqual(u, users.User{}) {
			t.Errorf("%s of a missing user = %+v, %v, %v; want zero, false, nil", op, u, ok, err)
		}
	}
	u, ok, err := s.Get(ctx(t), "nope")
	check("Get", u, ok, err)
	u, ok, err = s.GetByUsername(ctx(t), "nope")
	check("GetByUsername", u, ok, err)
	u, ok, err = s.Update(ctx(t), users.User{ID: "nope", Username: "nope", Version: 1})
	check("Update", u, ok, err)
	u, ok, err = s.SetDisabled(ctx(t), "nope", true)
	check("SetDisabled", u, ok, err)
	u, ok, err = s.SetPassword(ctx(t), "nope", Hash)
	check("SetPassword", u, ok, err)
}

func testList(t *testing.T, h Harness) {
	s := h.New(t)
	if all, err := s.List(ctx(t)); err != nil || len(all) != 0 {
		t.Fatalf("List of an empty store = %v, %v", all, err)
	}
	for _, name := range []string{"mallory", "Bob", "alice", "Zed"} {
		mustCreate(t, s, users.User{Username: name})
	}
	all, err := s.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range all {
		names = append(names, u.Username)
	}
	if want := []string{"alice", "Bob", "mallory", "Zed"}; !slices.Equal(names, want) {
		t.Fatalf("List = %v, want %v (by username, regardless of case)", names, want)
	}
}

func testUpdateCAS(t *testing.T, h Harness) {
	s := h.New(t)
	created := mustCreate(t, s, alice())
	h.Advance(time.Minute)
	next := created
	next.Email, next.Roles, next.Attributes = "a@example.org", []string{"viewer"}, nil
	next.CreatedAt = time.Time{} // ignored
	updated, ok, err := s.Update(ctx(t), next)
	if err != nil || !ok {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	want := next
	want.Version, want.CreatedAt, want.UpdatedAt = 2, created.CreatedAt, users.StoreTime(h.Now())
	assertSame(t, "Update", updated, want)
	got, _, _ := s.Get(ctx(t), created.ID)
	assertSame(t, "Get after Update", got, want)

	stale := created
	stale.Email = "stale@example.com"
	if _, ok, err := s.Update(ctx(t), stale); ok || !errors.Is(err, users.ErrConflict) {
		t.Fatalf("Update with version 1 after version 2 = %v, %v; want ErrConflict", ok, err)
	}
	if got, _, _ := s.Get(ctx(t), created.ID); got.Email != "a@example.org" {
		t.Fatalf("a stale Update landed: email %q", got.Email)
	}
}

func testUpdateRename(t *testing.T, h Harness) {
	s := h.New(t)
	a := mustCreate(t, s, users.User{Username: "alice"})
	mustCreate(t, s, users.User{Username: "bob"})
	taken := a
	taken.Username = "BOB"
	if _, _, err := s.Update(ctx(t), taken); !errors.Is(err, users.ErrExists) {
		t.Fatalf("renaming alice to BOB: err = %v, want ErrExists", err)
	}
	renamed := a
	renamed.Username = "Alice"
	if _, ok, err := s.Update(ctx(t), renamed); err != nil || !ok {
		t.Fatalf("renaming alice to Alice = %v, %v", ok, err)
	}
	renamed.Username, renamed.Version = "alicia", 2
	if _, ok, err := s.Update(ctx(t), renamed); err != nil || !ok {
		t.Fatalf("renaming Alice to alicia = %v, %v", ok, err)
	}
	if _, ok, _ := s.GetByUsername(ctx(t), "alice"); ok {
		t.Error("the old username still finds the user")
	}
	if u, ok, _ := s.GetByUsername(ctx(t), "ALICIA"); !ok || u.ID != a.ID {
		t.Error("the new username does not find the user")
	}
	mustCreate(t, s, users.User{Username: "alice"}) // the old name is free again
}

func testSetDisabled(t *testing.T, h Harness) {
	s := h.New(t)
	created := mustCreate(t, s, alice())
	h.Advance(time.Second)
	for i, disabled := range []bool{true, false} {
		u, ok, err := s.SetDisabled(ctx(t), created.ID, disabled)
		if err != nil || !ok || u.Disabled != disabled || u.Version != uint64(i+2) ||
			!u.UpdatedAt.Equal(users.StoreTime(h.Now())) {
			t.Fatalf("SetDisabled(%v) = %+v, %v, %v", disabled, u, ok, err)
		}
		got, _, _ := s.Get(ctx(t), created.ID)
		assertSame(t, fmt.Sprintf("Get after SetDisabled(%v)", disabled), got, u)
	}
}

func testSetPassword(t *testing.T, h Harness) {
	s := h.New(t)
	created := mustCreate(t, s, users.User{Username: "frank"})
	if !created.PasswordChangedAt.IsZero() {
		t.Fatalf("a user without a password has PasswordChangedAt %v", created.PasswordChangedAt)
	}
	h.Advance(time.Hour)
	u, ok, err := s.SetPassword(ctx(t), created.ID, Hash)
	now := users.StoreTime(h.Now())
	if err != nil || !ok || u.PasswordHash != Hash || !u.PasswordChangedAt.Equal(now) || !u.UpdatedAt.Equal(now) || u.Version != 2 {
		t.Fatalf("SetPassword = %+v, %v, %v", u, ok, err)
	}
	got, _, _ := s.Get(ctx(t), created.ID)
	assertSame(t, "Get after SetPassword", got, u)
	if _, _, err := s.SetPassword(ctx(t), created.ID, "hunter2"); !errors.Is(err, users.ErrInvalid) {
		t.Fatalf("SetPassword with a plaintext password: err = %v, want ErrInvalid", err)
	}
}

func testCopies(t *testing.T, h Harness) {
	s := h.New(t)
	created := mustCreate(t, s, alice())
	created.Roles[0], created.Attributes["plan"] = "root", "free"
	for _, get := range []func() (users.User, error){
		func() (users.User, error) { u, _, err := s.Get(ctx(t), created.ID); return u, err },
		func() (users.User, error) { all, err := s.List(ctx(t)); return all[0], err },
	} {
		u, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if u.Roles[0] != "admin" || u.Attributes["plan"] != "pro" {
			t.Fatalf("changing a returned user changed the store: %+v", u)
		}
		u.Roles[0], u.Attributes["plan"] = "root", "free"
	}
	if u, _, _ := s.Get(ctx(t), created.ID); u.Roles[0] != "admin" || u.Attributes["plan"] != "pro" {
		t.Fatalf("changing a returned user changed the store: %+v", u)
	}
}

func testConcurrentCreates(t *testing.T, h Harness) {
	s := h.New(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, err := s.Create(ctx(t), users.User{Username: fmt.Sprintf("user%02d", i)})
			errs <- err
		})
		wg.Go(func() {
			_, err := s.Create(ctx(t), users.User{Username: "same"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	exists := 0
	for err := range errs {
		switch {
		case errors.Is(err, users.ErrExists):
			exists++
		case err != nil:
			t.Errorf("concurrent Create: %v", err)
		}
	}
	all, err := s.List(ctx(t))
	if err != nil || len(all) != n+1 || exists != n-1 {
		t.Fatalf("after %d distinct and %d same-named concurrent Creates: %d users (%v), %d ErrExists; want %d and %d",
			n, n, len(all), err, exists, n+1, n-1)
	}
}

func testConcurrentUpdates(t *testing.T, h Harness) {
	s := h.New(t)
	created := mustCreate(t, s, users.User{Username: "grace"})
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			u := created
			u.Name = fmt.Sprintf("writer %d", i)
			_, _, err := s.Update(ctx(t), u)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, users.ErrConflict):
			t.Errorf("concurrent Update: %v", err)
		}
	}
	if got, _, _ := s.Get(ctx(t), created.ID); won != 1 || got.Version != 2 {
		t.Fatalf("%d of %d Updates from version 1 won, stored version %d; want exactly 1 and 2", won, n, got.Version)
	}
}
