package keyring

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits do not apply on Windows")
	}
}

func assertMode0600(t *testing.T, path string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, perm)
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	r := mustGenerate(t)
	r, err := r.Rotate(testNow.Add(1))
	if err != nil {
		t.Fatal(err)
	}
	got := saveAndLoad(t, r, path)
	if got.Active().ID != r.Active().ID {
		t.Errorf("loaded active key %s, want %s", got.Active().ID, r.Active().ID)
	}
}

func TestSaveReplacesWith0600(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustGenerate(t)
	if err := r.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	assertMode0600(t, path)
	if _, err := Load(path); err != nil {
		t.Fatalf("Load after Save: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after Save, want 1 (no temporary file left)", len(entries))
	}
}

func TestSaveIntoMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "keys.json")
	err := mustGenerate(t).Save(path)
	if err == nil || !strings.HasPrefix(err.Error(), "save key ring: ") {
		t.Fatalf("Save = %v, want an error starting with the operation", err)
	}
}

func TestLoadRefusesOpenModes(t *testing.T) {
	skipOnWindows(t)
	tests := []struct {
		name string
		mode fs.FileMode
	}{
		{name: "world readable", mode: 0o644},
		{name: "group readable", mode: 0o640},
		{name: "group writable", mode: 0o620},
		{name: "other readable only", mode: 0o604},
		{name: "other writable", mode: 0o602},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			if err := mustGenerate(t).Save(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load of a file with mode %04o succeeded", tt.mode)
			}
			if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not tell the user to run %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), "load key ring: ") {
				t.Errorf("error %q does not start with the operation", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		want     string
		notExist bool
	}{
		{name: "absent", path: filepath.Join(dir, "absent.json"), want: "no such file", notExist: true},
		{name: "directory", path: dir, want: "is not a regular file"},
		{name: "malformed", path: bad, want: bad + ": parse key ring: version 2 is not supported"},
		{name: "too large", path: big, want: "is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if runtime.GOOS != "windows" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want %v", got, tt.notExist)
			}
		})
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	r, created, err := LoadOrCreate(path, testNow)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate of an absent file = %v, %v; want a new ring", created, err)
	}
	assertMode0600(t, path)
	if !r.Active().CreatedAt.Equal(testNow) {
		t.Errorf("created key at %v, want %v", r.Active().CreatedAt, testNow)
	}
	again, created, err := LoadOrCreate(path, testNow)
	if err != nil || created {
		t.Fatalf("LoadOrCreate of an existing file = %v, %v; want the existing ring", created, err)
	}
	assertSameRing(t, again, r)
}

func TestLoadOrCreateDoesNotReplace(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(testFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path, testNow); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("LoadOrCreate of a 0644 file = %v, want the chmod hint", err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != testFile {
		t.Error("LoadOrCreate changed an existing file it could not load")
	}
}

// Replicas starting at once must all end up with the ring that is on disk.
func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	const n = 8
	rings := make([]*Ring, n)
	var created int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, c, err := LoadOrCreate(path, testNow)
			if err != nil {
				t.Errorf("LoadOrCreate: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			rings[i] = r
			if c {
				created++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if created != 1 {
		t.Errorf("%d callers created the file, want 1", created)
	}
	onDisk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rings {
		if r.Active().ID != onDisk.Active().ID {
			t.Errorf("caller %d uses key %s, but the file holds %s", i, r.Active().ID, onDisk.Active().ID)
		}
	}
}

// saveAndLoad saves r to path, checks the file is 0600, loads it back and
// checks it is the same ring.
func saveAndLoad(t *testing.T, r *Ring, path string) *Ring {
	t.Helper()
	if err := r.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	assertMode0600(t, path)
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	assertSameRing(t, got, r)
	return got
}
