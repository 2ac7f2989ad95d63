package main

import (
	"context"
	"net"
	"net/http"
	"time"
)

// demoControl serves the demo targets' kill/revive API.
type demoControl struct{ srv *http.Server }

func newDemoControl(ln net.Listener, h http.Handler) *demoControl {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return &demoControl{srv: srv}
}

func (c *demoControl) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.srv.Shutdown(ctx)
}
