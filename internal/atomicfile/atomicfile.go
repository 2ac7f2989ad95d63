// Package atomicfile writes secret files (key rings, user pools) so that a
// reader sees the old content or the new, never a part, and a crash loses
// at most the write in progress.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to a temporary file of mode 0600 next to path, syncs
// it, and moves it to path, then syncs the directory. With exclusive, it
// fails with an error matching fs.ErrExist instead of replacing an
// existing file.
func Write(path string, data []byte, exclusive bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if exclusive {
		// A hard link is atomic and fails when path exists. Where the
		// file system has no hard links, fall back to rename.
		lerr := os.Link(tmp.Name(), path)
		if errors.Is(lerr, fs.ErrExist) {
			return lerr
		}
		if lerr == nil {
			os.Remove(tmp.Name())
			SyncDir(dir)
			return nil
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// SyncDir makes a rename in dir durable where the system allows it; errors
// are ignored because not every system can sync a directory.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
