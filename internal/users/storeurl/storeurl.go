// Package storeurl opens a users.Store from a URL, the form the
// tokens.users.store key takes:
//
//	file:PATH                          the embedded store: one JSON file, mode 0600
//	postgres://USER:PASS@HOST:PORT/DB  PostgreSQL (also postgresql://)
package storeurl

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
	"github.com/tetherlb/tether/internal/users/pgstore"
)

// Options tune the stores Open makes.
type Options struct {
	// Dir resolves a relative file: path, such as the directory of the
	// config file that names it. Empty: the working directory.
	Dir string
}

// Open opens the store rawURL names. Errors never contain a password.
func Open(ctx context.Context, rawURL string, o Options) (users.Store, error) {
	switch {
	case strings.HasPrefix(rawURL, "file:"):
		path := strings.TrimPrefix(rawURL, "file:")
		if path == "" {
			return nil, fmt.Errorf("users/storeurl: file: needs a path (example: file:users.json)")
		}
		if !filepath.IsAbs(path) && o.Dir != "" {
			path = filepath.Join(o.Dir, path)
		}
		return filestore.Open(path, filestore.Options{})
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return pgstore.Open(ctx, rawURL, pgstore.Options{})
	}
	scheme, _, _ := strings.Cut(rawURL, ":")
	return nil, fmt.Errorf("users/storeurl: %q is not a user store (allowed: file:PATH, postgres://)", scheme)
}
