package keyring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/tetherlb/tether/internal/atomicfile"
)

// maxFileSize bounds what Load reads; a ring of MaxKeys keys is under 1 KB,
// or under 32 KB when every key has a 4096-bit RSA key.
const maxFileSize = 64 << 10

// Load reads and parses the key ring file at path (see Parse).
//
// Load refuses a file that its group or others may read or write (any of
// the permission bits 0o077), telling the user to run chmod 600; on Windows,
// where Unix permission bits do not apply, the check is skipped. An absent
// file is an error that matches fs.ErrNotExist.
func Load(path string) (*Ring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load key ring: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load key ring: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("load key ring: %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("load key ring: %s has mode %04o, so other users may read or change the keys; run: chmod 600 %s",
			path, uint32(perm), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load key ring: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("load key ring: %s is larger than %d bytes", path, maxFileSize)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load key ring: %s: %w", path, err)
	}
	return r, nil
}

// Save writes r to the file at path with mode 0600, replacing any file
// there. It writes a temporary file in the same directory and renames it
// into place, so readers see either the old ring or the new one, never a
// partial file.
func (r *Ring) Save(path string) error {
	data, err := r.marshal()
	if err != nil {
		return fmt.Errorf("save key ring: %w", err)
	}
	if err := writeFile(path, data, false); err != nil {
		return fmt.Errorf("save key ring: %w", err)
	}
	return nil
}

// LoadOrCreate loads the key ring file at path or, when there is none,
// generates a ring with one key created at now, writes it to path with mode
// 0600 and reports created. Creation never replaces a file: when another
// process creates path first, LoadOrCreate loads that file instead. Errors
// other than an absent file, such as a bad mode or a malformed ring, are
// returned as Load returns them.
func LoadOrCreate(path string, now time.Time) (r *Ring, created bool, err error) {
	r, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, false, err
	}
	r, err = Generate(now)
	if err != nil {
		return nil, false, err
	}
	data, err := r.marshal()
	if err != nil {
		return nil, false, fmt.Errorf("create key ring: %w", err)
	}
	err = writeFile(path, data, true)
	if errors.Is(err, fs.ErrExist) {
		r, err = Load(path)
		return r, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key ring: %w", err)
	}
	return r, true, nil
}

// marshal encodes r in the file format that Parse reads.
func (r *Ring) marshal() ([]byte, error) {
	v := fileVersion
	f := fileRing{Version: &v, Active: r.s.keys[0].ID, Keys: make([]fileKey, len(r.s.keys))}
	for i, k := range r.s.keys {
		f.Keys[i] = fileKey{
			ID:        k.ID,
			Secret:    secretEncoding.EncodeToString(k.Secret),
			CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339Nano),
		}
		if k.RSA != nil {
			enc, err := encodeRSA(k.RSA)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k.ID, err)
			}
			f.Keys[i].RSA = &enc
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeFile writes data to path atomically with mode 0600 (see
// atomicfile.Write).
func writeFile(path string, data []byte, exclusive bool) error {
	return atomicfile.Write(path, data, exclusive)
}
