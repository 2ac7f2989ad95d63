//go:build !linux

package lb

import "syscall"

// reusePort does nothing where SO_REUSEPORT is not set up: a reload that
// changes a listener's socket settings on the same address then fails with
// "address already in use" and the running config stays.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
