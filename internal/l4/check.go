package l4

import (
	"context"
	"fmt"
	"net"
)

// runChecks checks t at once, then again Interval after each check ends,
// and reports every result to t's health status until ctx ends. A check
// succeeds if a TCP connection to t's address opens within Timeout; the
// connection is closed at once, without a byte sent. A check cut short
// because ctx ended is not reported.
func (g *Group) runChecks(ctx context.Context, t *target) {
	defer g.done.Done()
	for {
		err := g.check(ctx, t.address)
		if ctx.Err() != nil {
			return
		}
		t.st.ReportCheck(err == nil)
		if err != nil {
			g.log.Debug("health check failed", "target", t.id, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-g.clk.After(g.cfg.Health.Interval):
		}
	}
}

// check opens and closes one TCP connection to address.
func (g *Group) check(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Health.Timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	_ = c.Close()
	return nil
}
