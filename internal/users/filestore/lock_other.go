//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filestore

import (
	"context"
	"fmt"
	"runtime"
)

// lock fails: without flock(2) the store cannot keep two processes from
// losing each other's changes, so it makes none.
func lock(ctx context.Context, path string) (unlock func(), err error) {
	return nil, fmt.Errorf("lock %s: file locking is not supported on %s; use a PostgreSQL user store", path, runtime.GOOS)
}
