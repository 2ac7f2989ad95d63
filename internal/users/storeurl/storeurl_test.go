package storeurl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/users"
)

func TestOpenFileRelativeToDir(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), "file:users.json", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(context.Background(), users.User{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "users.json")); err != nil {
		t.Fatalf("the file is not in Options.Dir: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"file:", "needs a path"},
		{"memory", `"memory" is not a user store`},
		{"redis://localhost:6379", `"redis" is not a user store`},
		{"postgres://u:secret@%zz/db", "does not parse"},
	} {
		_, err := Open(context.Background(), tt.url, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) = %v; want an error with %q, without the password", tt.url, err, tt.want)
		}
	}
}
