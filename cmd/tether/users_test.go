package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
)

// runUsers runs `tether users args...` in-process with stdin as its
// standard input, and returns the exit code and what was printed.
func runUsers(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmdUsers(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// usersConfig is a tether config with a tokens block naming a user file
// relative to it, among keys the loose parse ignores.
const usersConfig = `
listeners:
  - {name: web, address: 127.0.0.1:8080, default_target_group: app}
target_groups:
  - name: app
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
tokens:
  issuer: https://auth.example.com
  users:
    store: file:users.json
`

// storedUser reads a user from the file store at path.
func storedUser(t *testing.T, path, username string) users.User {
	t.Helper()
	s, err := filestore.Open(path, filestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, ok, err := s.GetByUsername(context.Background(), username)
	if err != nil || !ok {
		t.Fatalf("user %q in %s: %v, %v", username, path, ok, err)
	}
	return u
}

func TestUsersEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "tether.yaml", usersConfig)
	file := filepath.Join(dir, "users.json")
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, stdout, stderr := runUsers(t, stdin, args...)
		if code != 0 {
			t.Fatalf("tether users %s: exit %d; stderr:\n%s", strings.Join(args, " "), code, stderr)
		}
		return stdout
	}

	out := must("correct horse battery staple\n", "add", "-c", cfg, "--username", "alice", "--password-stdin",
		"--email", "alice@example.com", "--name", "Alice", "--tenant", "acme", "--role", "admin", "--role", "dev",
		"--attr", "plan=pro", "--attr", "note=a=b")
	if !strings.HasPrefix(out, "added user alice (id ") {
		t.Fatalf("add printed %q", out)
	}
	must("another long password\r\n", "add", "-c", cfg, "--username", "bob", "--password-stdin")
	if runtime.GOOS != "windows" {
		if info, err := os.Stat(file); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("the user file next to the config: %v, %v; want mode 0600", info, err)
		}
	}
	alice := storedUser(t, file, "alice")
	if ok, _ := users.VerifyPassword(alice.PasswordHash, "correct horse battery staple"); !ok ||
		!strings.HasPrefix(alice.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("alice's hash %q is not an OWASP argon2id hash of her password", alice.PasswordHash)
	}
	if alice.TenantID != "acme" || alice.Attributes["note"] != "a=b" || len(alice.Roles) != 2 {
		t.Fatalf("stored %+v", alice)
	}
	if ok, _ := users.VerifyPassword(storedUser(t, file, "bob").PasswordHash, "another long password"); !ok {
		t.Fatal("bob's password lost its \\r\\n badly: it does not verify")
	}

	code, _, stderr := runUsers(t, "a third password\n", "add", "-c", cfg, "--username", "ALICE", "--password-stdin")
	if code != 1 || !strings.Contains(stderr, `a user named "ALICE" exists`) {
		t.Fatalf("adding ALICE: exit %d, stderr %q; want 1 and a clear message", code, stderr)
	}

	must("", "disable", "-c", cfg, "--username", "Alice")
	table := must("", "list", "-c", cfg)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USERNAME") || strings.Contains(table, "argon2") {
		t.Fatalf("list printed:\n%s", table)
	}
	if f := strings.Fields(lines[1]); f[0] != "alice" || f[1] != alice.ID || f[2] != "acme" || f[3] != "admin,dev" || f[4] != "yes" {
		t.Fatalf("alice's row = %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "bob" || f[2] != "-" || f[3] != "-" || f[4] != "no" {
		t.Fatalf("bob's row = %q", lines[2])
	}
	must("", "enable", "-c", cfg, "--username", "alice")

	raw := must("", "list", "-c", cfg, "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(raw), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --json = %v:\n%s", err, raw)
	}
	if strings.Contains(raw, "argon2") || strings.Contains(raw, "password_hash") || listed[0]["disabled"] != false ||
		listed[0]["email"] != "alice@example.com" {
		t.Fatalf("list --json printed:\n%s", raw)
	}

	must("a brand new password\n", "passwd", "--store", "file:"+file, "--username", "alice", "--password-stdin")
	changed := storedUser(t, file, "alice")
	if ok, _ := users.VerifyPassword(changed.PasswordHash, "a brand new password"); !ok || changed.PasswordChangedAt.Before(alice.PasswordChangedAt) {
		t.Fatalf("after passwd: hash verifies %v, changed at %v", ok, changed.PasswordChangedAt)
	}
	if ok, _ := users.VerifyPassword(changed.PasswordHash, "correct horse battery staple"); ok {
		t.Fatal("the old password still verifies")
	}
}

// TestUsersRunDispatch checks that `tether users` is wired into run.
func TestUsersRunDispatch(t *testing.T) {
	code, stdout, stderr := runCLI(t, "users", "list", "--store", "file:"+filepath.Join(t.TempDir(), "users.json"))
	if code != 0 || !strings.HasPrefix(stdout, "USERNAME") {
		t.Fatalf("tether users list: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// The file does not exist yet: a mistyped path must not look like an
	// empty pool.
	if !strings.Contains(stderr, "no user file at") {
		t.Errorf("tether users list on a missing file: stderr %q; want it to say the file does not exist", stderr)
	}
	if _, stdout, _ := runCLI(t, "help"); !strings.Contains(stdout, "tether users COMMAND") {
		t.Fatal("the usage does not list tether users")
	}
}

func TestUsersErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "tether.yaml", usersConfig)
	noTokens := writeFile(t, dir, "plain.yaml", minimalConfig)
	store := "file:" + filepath.Join(dir, "users.json")
	if code, _, stderr := runUsers(t, "correct horse battery staple\n", "add", "--store", store, "--username", "taken", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"no command", "", nil, 2, "Usage:"},
		{"unknown command", "", []string{"delete"}, 2, `unknown command "delete"`},
		{"password from a flag", "", []string{"add", "--store", store, "--username", "eve", "--password", "hunter2hunter2"}, 2,
			"passwords are never taken from flags"},
		{"password from a flag with =", "", []string{"passwd", "--store", store, "--username", "eve", "-password=hunter2hunter2"}, 2,
			"passwords are never taken from flags"},
		{"no --password-stdin", "pw from stdin\n", []string{"add", "--store", store, "--username", "eve"}, 2,
			"--username and --password-stdin are required"},
		{"no --username", "", []string{"disable", "--store", store}, 2, "--username is required"},
		{"-c and --store", "", []string{"list", "-c", cfg, "--store", store}, 2, "-c and --store both"},
		{"extra argument", "", []string{"list", "--store", store, "alice"}, 2, `unexpected argument "alice"`},
		{"bad --attr", "", []string{"add", "--store", store, "--username", "eve", "--password-stdin", "--attr", "plan"}, 2, "want KEY=VALUE"},
		{"-h", "", []string{"passwd", "-h"}, 0, "Usage: tether users passwd"},
		{"short password", "short\n", []string{"add", "--store", store, "--username", "eve", "--password-stdin"}, 1,
			"shorter than 8 characters"},
		{"password is the username", "Eve.Smith\n", []string{"add", "--store", store, "--username", "eve.smith", "--password-stdin"}, 1,
			"the same as the username"},
		{"no password", "", []string{"add", "--store", store, "--username", "eve", "--password-stdin"}, 1, "no password on standard input"},
		{"bad username", "correct horse battery staple\n", []string{"add", "--store", store, "--username", "a\tb", "--password-stdin"}, 1,
			"username"},
		{"bad attribute key", "correct horse battery staple\n", []string{"add", "--store", store, "--username", "eve", "--password-stdin",
			"--attr", "a b=c"}, 1, "attribute key"},
		{"unknown user", "", []string{"enable", "--store", store, "--username", "nobody"}, 1, `no user named "nobody"`},
		{"passwd of an unknown user", "correct horse battery staple\n", []string{"passwd", "--store", store, "--username", "nobody",
			"--password-stdin"}, 1, `no user named "nobody"`},
		{"config without a tokens block", "", []string{"list", "-c", noTokens}, 1, "has no tokens block"},
		{"missing config", "", []string{"list", "-c", filepath.Join(dir, "nope.yaml")}, 1, "pass -c FILE or --store URL"},
		{"unknown store", "", []string{"list", "--store", "redis://localhost"}, 1, `"redis" is not a user store`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runUsers(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Fatalf("stderr %q echoes the password", stderr)
			}
			if stdout != "" {
				t.Fatalf("stdout = %q, want nothing", stdout)
			}
		})
	}
	if code, _, stderr := runUsers(t, "", "list", "--store", store); code != 0 {
		t.Fatal(stderr)
	}
	if code, stdout, _ := runUsers(t, "", "-h"); code != 0 || !strings.Contains(stdout, "never from a flag") {
		t.Fatalf("tether users -h: exit %d, %q", code, stdout)
	}
}

func TestUsersGroupReadableFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
	path := writeFile(t, t.TempDir(), "users.json", `{"format": 1, "users": []}`) // mode 0644
	code, _, stderr := runUsers(t, "", "list", "--store", "file:"+path)
	if code != 1 || !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("list of a 0644 file: exit %d, stderr %q; want 1 and a chmod hint", code, stderr)
	}
}

func TestUsersPostgres(t *testing.T) {
	dsn := testsupport.StartPostgres(t).NewDatabase(t)
	if code, _, stderr := runUsers(t, "correct horse battery staple\n", "add", "--store", dsn, "--username", "Émile", "--password-stdin",
		"--tenant", "acme"); code != 0 {
		t.Fatalf("add: %s", stderr)
	}
	if code, _, stderr := runUsers(t, "correct horse battery staple\n", "add", "--store", dsn, "--username", "émile", "--password-stdin"); code != 1 ||
		!strings.Contains(stderr, "exists") {
		t.Fatalf("adding émile after Émile: exit %d, %q", code, stderr)
	}
	code, stdout, stderr := runUsers(t, "", "list", "--store", dsn)
	if code != 0 || !strings.Contains(stdout, "Émile") || !strings.Contains(stdout, "acme") {
		t.Fatalf("list: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
