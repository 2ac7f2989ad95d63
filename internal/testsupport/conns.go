package testsupport

import (
	"net"
	"testing"
)

// ServeConns runs handle for each connection ln accepts, each in its own
// goroutine, and closes the connection when handle returns; ln is closed
// when the test ends, which ends the accept loop.
func ServeConns(tb testing.TB, ln net.Listener, handle func(net.Conn)) {
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
