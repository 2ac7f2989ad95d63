package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"

	"github.com/tetherlb/tether/internal/clock"
)

// userAgent is the User-Agent of every active check, so that targets can
// tell checks from users in their logs.
const userAgent = "tether-health/1"

// maxDrain is how much of a check response body is read before the
// connection is closed.
const maxDrain = 4 << 10

// Checker runs the active health checks of a target group, as its Config
// describes. One Checker may run checks for any number of targets, one Run
// per target, concurrently.
type Checker struct {
	cfg    Config
	client *http.Client
	clk    clock.Clock
	logger *slog.Logger
}

// NewChecker returns a Checker that checks targets as cfg describes.
// cfg.Interval and cfg.Timeout must be positive; NewChecker panics
// otherwise, like [time.NewTicker].
//
// If client is nil, checks use a private client that opens a new
// connection for every check and does not follow redirects, so a redirect
// is judged by its own status code. A non-nil client is used as it is; its
// own timeout, if shorter, also bounds a check. If clk is nil, the wall
// clock is used. If logger is nil, nothing is logged.
func NewChecker(cfg Config, client *http.Client, clk clock.Clock, logger *slog.Logger) *Checker {
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		panic(fmt.Sprintf("health: NewChecker needs a positive interval and timeout, got %v and %v", cfg.Interval, cfg.Timeout))
	}
	if client == nil {
		client = &http.Client{
			Transport: &http.Transport{
				DialContext:       (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
				DisableKeepAlives: true,
				TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Checker{cfg: cfg, client: client, clk: clk, logger: logger.With("component", "health.active")}
}

// Run checks the target at address, a host:port, and reports every result
// to st until ctx is done. It checks at once, then again Interval after each
// check ends. A check is a GET of cfg.Path over HTTP or HTTPS (cfg.Scheme), with the
// Host header set to address and the User-Agent "tether-health/1"; it
// succeeds if a response with a status in cfg.SuccessCodes arrives within
// cfg.Timeout. A check cut short because ctx is done is not reported.
//
// A panic during a check, including one in st's onChange callback, is
// logged with its stack and does not stop the checks. Run returns when ctx
// is done.
func (c *Checker) Run(ctx context.Context, address string, st *Status) {
	logger := c.logger.With("address", address)
	for {
		c.checkAndReport(ctx, address, st, logger)
		select {
		case <-ctx.Done():
			return
		case <-c.clk.After(c.cfg.Interval):
		}
	}
}

// checkAndReport runs one check and reports it to st, unless ctx is done.
func (c *Checker) checkAndReport(ctx context.Context, address string, st *Status, logger *slog.Logger) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("health check panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	err := c.check(ctx, address)
	if ctx.Err() != nil {
		return
	}
	before := st.State()
	st.ReportCheck(err == nil)
	if err != nil {
		logger.Debug("health check failed", "error", err)
	}
	switch after := st.State(); {
	case after == before:
	case after == Healthy && err == nil:
		logger.Info("target is healthy", "from", before.String())
	case after == Unhealthy && err != nil:
		logger.Warn("target is unhealthy", "from", before.String(), "error", err)
	}
}

// check performs one check of the target at address. It returns nil if the
// target is healthy, and otherwise an error saying why not.
func (c *Checker) check(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	path := c.cfg.Path
	if path == "" {
		path = "/"
	}
	scheme := c.cfg.Scheme
	if scheme == "" {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+address+path, nil)
	if err != nil {
		return fmt.Errorf("health check: building request: %w", err)
	}
	req.Host = address
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	if !c.cfg.SuccessCodes.Match(resp.StatusCode) {
		return fmt.Errorf("health check: status %d is not one of %s", resp.StatusCode, c.cfg.SuccessCodes)
	}
	return nil
}
