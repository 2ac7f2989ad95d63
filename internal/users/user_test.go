package users

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		u    User
		bad  []string // substrings of the problems reported, one each
	}{
		{name: "minimal", u: User{Username: "a"}},
		{name: "every field", u: User{ID: "id-1", Username: "Zoë O'Brien", Email: "z@example.com", Name: "Zoë",
			TenantID: "acme", Roles: []string{"admin", "urn:role:x"}, Attributes: map[string]string{"dept.code": "R&D\n2"},
			PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$TUhCoV6YH8thtZpQqRp0JvQQ5ZYgiLA0LYApKDG6qtM"}},
		{name: "empty username", u: User{}, bad: []string{"username"}},
		{name: "control character", u: User{Username: "a\nb"}, bad: []string{"username"}},
		{name: "longest username", u: User{Username: strings.Repeat("ü", MaxUsernameLen)}},
		{name: "username too long", u: User{Username: strings.Repeat("ü", MaxUsernameLen+1)}, bad: []string{"username"}},
		{name: "every problem at once",
			u: User{Username: "", ID: "a\x01", Email: strings.Repeat("e", MaxEmailLen+1), Name: "\x7f", TenantID: "t\tt",
				Roles: []string{""}, Attributes: map[string]string{"": "v"}, PasswordHash: "x"},
			bad: []string{"username", "id", "email", "name", "tenant", "role", "attribute key", "password hash"}},
		{name: "too many roles", u: User{Username: "a", Roles: make([]string, MaxRoles+1)}, bad: []string{"roles: want at most"}},
		{name: "long attribute value", u: User{Username: "a", Attributes: map[string]string{"k": strings.Repeat("v", MaxAttributeValueLen+1)}},
			bad: []string{"attribute k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.u.Validate()
			if len(tt.bad) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			for _, want := range tt.bad {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate = %q, want a problem with %q", err, want)
				}
			}
		})
	}
}

func TestUsernameKey(t *testing.T) {
	for _, name := range []string{"Alice", " alice", "ALICE\t", "aLiCe"} {
		if got := UsernameKey(name); got != "alice" {
			t.Errorf("UsernameKey(%q) = %q, want alice", name, got)
		}
	}
	if UsernameKey("ÉMILE") != UsernameKey("émile") {
		t.Error("UsernameKey folds ASCII only")
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Fatalf("NewID = %q, %q; want two different 32-digit hex strings", a, b)
	}
}
