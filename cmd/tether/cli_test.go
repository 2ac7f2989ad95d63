package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/keyring"
)

// runCLI runs tether with args in-process, as a user would from a shell,
// and returns the exit code and what was printed.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // printed on stdout ("" = stdout stays empty)
		stderr string // printed on stderr ("" = stderr stays empty)
	}{
		{name: "no command", args: nil, code: 2, stderr: "Usage:"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Usage:"},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "Usage:"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `tether: unknown command "frobnicate"`},
		{name: "version", args: []string{"version"}, code: 0, stdout: "tether "},
		{name: "unknown flag", args: []string{"check", "-x"}, code: 2, stderr: "flag provided but not defined: -x"},
		{name: "check -h", args: []string{"check", "-h"}, code: 0, stderr: "Usage: tether check -c FILE"},
		{name: "keys without command", args: []string{"keys"}, code: 2, stderr: "tether keys generate -o FILE"},
		{name: "keys -h", args: []string{"keys", "-h"}, code: 0, stdout: "tether keys rotate -f FILE"},
		{name: "keys unknown command", args: []string{"keys", "list"}, code: 2, stderr: `unknown command "list" (want generate or rotate)`},
		{name: "demo with too many targets", args: []string{"demo", "-targets", "10"}, code: 2, stderr: "-targets 10 is out of range (allowed 1..9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			check := func(stream, got, want string) {
				t.Helper()
				if want == "" && got != "" {
					t.Errorf("%s = %q, want nothing", stream, got)
				}
				if !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", stream, got, want)
				}
			}
			check("stdout", stdout, tt.stdout)
			check("stderr", stderr, tt.stderr)
		})
	}
}

// minimalConfig is a valid config with one listener and one target.
const minimalConfig = `
listeners:
  - {name: web, address: 127.0.0.1:8080, default_target_group: app}
target_groups:
  - name: app
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
`

func TestCheckValid(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "tether.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config, want string
	}{
		{name: "minimal", config: minimalConfig, want: "ok (1 listener, 1 target group, 1 target)"},
		{name: "examples/tether.yaml", config: string(example), want: "ok (1 listener, 2 target groups, 5 targets)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), "tether.yaml", tt.config)
			code, stdout, stderr := runCLI(t, "check", "-c", file)
			if code != 0 {
				t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
			}
			if want := file + ": " + tt.want + "\n"; stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
		})
	}
}

// badConfig has four problems that validation finds.
const badConfig = `
listeners:
  - name: web
    address: 127.0.0.1:8080
    default_target_group: nope
target_groups:
  - name: app
    targets:
      - {id: app-1, address: 127.0.0.1:9001, weight: 1000}
    stickiness: {type: lb_cookie, duration: 200h, on_failure: retry}
`

// badConfigProblems are the problems of badConfig: each must be printed on a
// line of its own that holds every one of the fragments.
var badConfigProblems = [][]string{
	{"target_groups[0](app).targets[0](app-1).weight:", "1000", "allowed 0..999"},
	{"target_groups[0](app).stickiness.duration:", "200h", "allowed 1s..168h"},
	{"target_groups[0](app).stickiness.on_failure:", `"retry"`, "allowed: rebind, strict"},
	{"listeners[0](web).default_target_group:", `"nope"`, "names no target group", "defined: app"},
}

// assertProblems checks that out lists exactly the problems want, one per
// "  - " line, each line holding all the fragments of one problem.
func assertProblems(t *testing.T, out string, want [][]string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  - ") {
			lines = append(lines, l)
		}
	}
	var missing [][]string
next:
	for _, frags := range want {
		for _, l := range lines {
			if containsAll(l, frags) {
				continue next
			}
		}
		missing = append(missing, frags)
	}
	if len(lines) != len(want) || len(missing) > 0 {
		t.Errorf("%d problems printed, want %d; no line holds:\n%q\nprinted:\n%s", len(lines), len(want), missing, out)
	}
}

func containsAll(s string, frags []string) bool {
	for _, f := range frags {
		if !strings.Contains(s, f) {
			return false
		}
	}
	return true
}

func TestCheckPrintsEveryProblem(t *testing.T) {
	file := writeFile(t, t.TempDir(), "tether.yaml", badConfig)
	code, stdout, stderr := runCLI(t, "check", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.HasPrefix(stderr, file+": 4 problems:\n") {
		t.Errorf("stderr does not start with %q:\n%s", file+": 4 problems:", stderr)
	}
	assertProblems(t, stderr, badConfigProblems)
}

// An unknown key is found while decoding, the others while validating; a
// user fixing a config should still see all of them in one run.
func TestCheckPrintsUnknownKeyWithOtherProblems(t *testing.T) {
	config := strings.Replace(badConfig, "  - name: app\n", "  - name: app\n    colour: blue\n", 1)
	file := writeFile(t, t.TempDir(), "tether.yaml", config)
	code, _, stderr := runCLI(t, "check", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := append([][]string{{"line 8:", `unknown key "colour"`, "in a target group"}}, badConfigProblems...)
	assertProblems(t, stderr, want)
}

func TestCheckMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "absent.yaml")
	code, stdout, stderr := runCLI(t, "check", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !containsAll(stderr, []string{file, "no such file or directory"}) {
		t.Errorf("stderr does not say the file %s is missing:\n%s", file, stderr)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	file := writeFile(t, t.TempDir(), "tether.yaml", badConfig)
	code, _, stderr := runCLI(t, "serve", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	assertProblems(t, stderr, badConfigProblems)
	if !strings.Contains(stderr, "tether serve: not started") {
		t.Errorf("stderr does not say tether did not start:\n%s", stderr)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")

	code, stdout, stderr := runCLI(t, "keys", "generate", "-o", file)
	if code != 0 {
		t.Fatalf("generate: exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote "+file+" (mode 0600)") || !strings.Contains(stdout, "with an RSA-2048 signing key for tokens (RS256)") {
		t.Errorf("generate: stdout = %q", stdout)
	}
	assertMode(t, file, 0o600)
	assertKeys(t, file, 1)

	code, _, stderr = runCLI(t, "keys", "generate", "-o", file)
	if code != 1 {
		t.Errorf("generate over an existing file: exit code %d, want 1", code)
	}
	if !strings.Contains(stderr, "use 'tether keys rotate -f "+file+"'") {
		t.Errorf("generate over an existing file: stderr does not point to rotate:\n%s", stderr)
	}
	assertKeys(t, file, 1)

	code, stdout, stderr = runCLI(t, "keys", "rotate", "-f", file)
	if code != 0 {
		t.Fatalf("rotate: exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	if !containsAll(stdout, []string{"with an RSA-2048 signing key for tokens (RS256)", "2 keys in the ring"}) {
		t.Errorf("rotate: stdout = %q", stdout)
	}
	assertMode(t, file, 0o600)
	assertKeys(t, file, 2)

	code, _, stderr = runCLI(t, "keys", "generate", "-o", file, "-force")
	if code != 0 {
		t.Fatalf("generate -force: exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	assertKeys(t, file, 1)
}

// fileRSA returns, in order, each key's id and "rsa" member ("" when it has
// none) in the key ring file, as it is written: the active key first.
func fileRSA(t *testing.T, file string) (ids, rsa []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Keys []struct{ ID, RSA string }
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.Keys {
		ids, rsa = append(ids, k.ID), append(rsa, k.RSA)
	}
	return ids, rsa
}

func TestKeysRSA(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	if code, _, stderr := runCLI(t, "keys", "generate", "-o", file); code != 0 {
		t.Fatalf("generate: exit code %d; stderr:\n%s", code, stderr)
	}
	ids, rsa := fileRSA(t, file)
	if len(rsa) != 1 || rsa[0] == "" {
		t.Fatalf("generated file: rsa members %q, want one on the one key", rsa)
	}
	r, err := keyring.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if k := r.Active(); k.RSA == nil || k.RSA.N.BitLen() != keyring.RSABits {
		t.Errorf("generated active key has no %d-bit RSA key", keyring.RSABits)
	}

	if code, _, stderr := runCLI(t, "keys", "rotate", "-f", file); code != 0 {
		t.Fatalf("rotate: exit code %d; stderr:\n%s", code, stderr)
	}
	ids2, rsa2 := fileRSA(t, file)
	if len(rsa2) != 2 || rsa2[0] == "" || rsa2[0] == rsa[0] {
		t.Errorf("rotated file: the new active key has no RSA key of its own")
	}
	if len(rsa2) != 2 || ids2[1] != ids[0] || rsa2[1] != rsa[0] {
		t.Errorf("rotated file: the previous key %s did not keep its RSA key", ids[0])
	}

	code, stdout, stderr := runCLI(t, "keys", "rotate", "-rsa=false", "-f", file)
	if code != 0 {
		t.Fatalf("rotate -rsa=false: exit code %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "without an RSA key, so it cannot sign RS256 tokens") {
		t.Errorf("rotate -rsa=false: stdout = %q", stdout)
	}
	_, rsa3 := fileRSA(t, file)
	if len(rsa3) != 3 || rsa3[0] != "" || rsa3[1] != rsa2[0] || rsa3[2] != rsa2[1] {
		t.Errorf("rotate -rsa=false: want an RSA key on every key but the new active one, the old ones unchanged")
	}

	// The emergency rotation: a new key alone, the three before it gone.
	ids3, _ := fileRSA(t, file)
	code, stdout, stderr = runCLI(t, "keys", "rotate", "-drop-old", "-f", file)
	if code != 0 || !strings.Contains(stdout, "dropped 3 older keys") || !strings.Contains(stdout, "1 keys in the ring") {
		t.Fatalf("rotate -drop-old: exit code %d; stdout %q; stderr:\n%s", code, stdout, stderr)
	}
	ids4, rsa4 := fileRSA(t, file)
	if len(ids4) != 1 || slices.Contains(ids3, ids4[0]) || rsa4[0] == "" {
		t.Errorf("rotate -drop-old: keys %v (before %v); want one new key with an RSA key", ids4, ids3)
	}

	file2 := filepath.Join(t.TempDir(), "keys.json")
	if code, _, stderr := runCLI(t, "keys", "generate", "-rsa=false", "-o", file2); code != 0 {
		t.Fatalf("generate -rsa=false: exit code %d; stderr:\n%s", code, stderr)
	}
	if _, rsa := fileRSA(t, file2); len(rsa) != 1 || rsa[0] != "" {
		t.Errorf("generate -rsa=false wrote an RSA key")
	}
}

func TestKeysRotateRefusesReadableFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.json")
	if code, _, stderr := runCLI(t, "keys", "generate", "-o", file); code != 0 {
		t.Fatalf("generate: exit code %d; stderr:\n%s", code, stderr)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "keys", "rotate", "-f", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !containsAll(stderr, []string{"mode 0644", "run: chmod 600 " + file}) {
		t.Errorf("stderr does not tell the user to chmod 600:\n%s", stderr)
	}
	assertMode(t, file, 0o644) // left for the user to fix
}

func assertMode(t *testing.T, file string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", file, got, want)
	}
}

func assertKeys(t *testing.T, file string, want int) {
	t.Helper()
	r, err := keyring.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Keys()); got != want {
		t.Errorf("%s holds %d keys, want %d", file, got, want)
	}
}

// A file named without its flag is refused, not ignored: "tether check
// other.yaml" checked the default file and said ok.
func TestStrayArgumentsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"check", "other.yaml"},
		{"serve", "other.yaml"},
		{"demo", "extra"},
		{"keys", "generate", "mykeys.json"},
		{"keys", "rotate", "mykeys.json"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || !strings.Contains(stderr, `unexpected argument "`+args[len(args)-1]+`"`) {
			t.Errorf("tether %s: exit %d, stderr %q; want 2 and the argument named", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestCheckReadsFiles: check reads the files the config names, as serve
// would at start: a missing certificate or session API key, or a CA bundle
// without a certificate, is a problem naming its key; -files=false skips
// them, for linting where they are not deployed.
func TestCheckReadsFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ca.pem", "not a certificate\n")
	file := writeFile(t, dir, "tether.yaml", `
listeners:
  - name: web
    address: 127.0.0.1:8443
    protocol: https
    tls: {cert_file: site.crt, key_file: site.key}
    default_target_group: app
target_groups:
  - name: app
    protocol: https
    tls: {ca_file: ca.pem}
    targets:
      - {id: app-1, address: 127.0.0.1:9001}
sessions:
  store: memory
  api: {address: 127.0.0.1:9904, api_key_file: api.key}
`)
	code, _, stderr := runCLI(t, "check", "-c", file)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		"listeners[0](web).tls: loading certificate " + filepath.Join(dir, "site.crt"),
		"target_groups[0](app).tls.ca_file: ca.pem holds no PEM certificate",
		"sessions.api.api_key_file: stat " + filepath.Join(dir, "api.key") + ": no such file or directory (create it with",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, stdout, stderr := runCLI(t, "check", "-files=false", "-c", file); code != 0 || !strings.Contains(stdout, "ok") {
		t.Errorf("check -files=false: exit %d, %q %q; want ok", code, stdout, stderr)
	}
}
