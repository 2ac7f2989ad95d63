// Package probe measures how well a live URL keeps browsers on one target,
// behind any load balancer: it plays a number of browsers, each with its own
// cookie jar and connections, sends each a series of requests, reads from a
// response header which target served each one, and reports the stickiness,
// the spread over targets, the failures, the latency and what the cookies it
// was given get right or wrong. It is the engine of `tether probe`.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The defaults of Config.
const (
	// DefaultTargetHeader is the response header that names the serving
	// target: tether's target_header.
	DefaultTargetHeader = "X-Tether-Target"
	DefaultBrowsers     = 20
	DefaultRequests     = 20
	DefaultTimeout      = 10 * time.Second
)

// Config says what to probe and how hard. The zero value of every field
// but URL means its default.
type Config struct {
	// URL is the absolute http or https URL to request. Required.
	URL string
	// Browsers is the number of simulated browsers. Default 20; 1..10000.
	Browsers int
	// Requests is the number of requests each browser sends, one after
	// the other. Default 20; 1..10000.
	Requests int
	// Concurrency is how many browsers send at the same time. Default (0)
	// Browsers; larger values are capped at Browsers.
	Concurrency int
	// Method is the request method. Default GET. Requests carry no body.
	Method string
	// Header is added to every request. A Host entry sets the request's
	// Host. Nil means none.
	Header http.Header
	// Timeout bounds each request, from sending to reading the whole
	// response. Default 10s.
	Timeout time.Duration
	// Insecure skips verification of the server's TLS certificate (for
	// self-signed certificates).
	Insecure bool
	// TargetHeader is the response header whose value names the target
	// that served the response. Default DefaultTargetHeader.
	TargetHeader string
}

// maxBrowsers and maxRequests bound Config.Browsers and Config.Requests.
const (
	maxBrowsers = 10000
	maxRequests = 10000
)

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.Browsers == 0 {
		c.Browsers = DefaultBrowsers
	}
	if c.Requests == 0 {
		c.Requests = DefaultRequests
	}
	if c.Concurrency == 0 || c.Concurrency > c.Browsers {
		c.Concurrency = c.Browsers
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.TargetHeader == "" {
		c.TargetHeader = DefaultTargetHeader
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, each naming
// the setting, the value and what is allowed.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("url: missing (want an absolute http:// or https:// URL)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("url: %q does not parse: %w", c.URL, errors.Unwrap(err)))
	case u.Scheme == "":
		errs = append(errs, fmt.Errorf("url: %q is not absolute (want http:// or https:// in front)", c.URL))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("url: %q has scheme %q (want http or https)", c.URL, u.Scheme))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("url: %q has no host (want e.g. http://127.0.0.1:8080/)", c.URL))
	}
	if c.Browsers < 1 || c.Browsers > maxBrowsers {
		errs = append(errs, fmt.Errorf("browsers: %d is out of range (allowed 1..%d)", c.Browsers, maxBrowsers))
	}
	if c.Requests < 1 || c.Requests > maxRequests {
		errs = append(errs, fmt.Errorf("requests: %d is out of range (allowed 1..%d)", c.Requests, maxRequests))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("concurrency: %d is out of range (allowed 1..browsers)", c.Concurrency))
	}
	if c.Method == "" || strings.ContainsAny(c.Method, " \t\r\n()<>@,;:\\\"/[]?={}") {
		errs = append(errs, fmt.Errorf("method: %q is not a valid HTTP method", c.Method))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is out of range (want > 0)", c.Timeout))
	}
	if c.TargetHeader == "" || strings.ContainsAny(c.TargetHeader, " \t\r\n:") {
		errs = append(errs, fmt.Errorf("target-header: %q is not a valid header name", c.TargetHeader))
	}
	return errors.Join(errs...)
}

// maxBody bounds how much of each response body is read (and discarded).
const maxBody = 16 << 20

// exchange is the outcome of one request.
type exchange struct {
	target     string        // value of the target header; "" when absent or failed
	status     int           // 0 when the request failed in transport
	err        error         // transport error
	latency    time.Duration // until the body was read
	setCookies []string      // the Set-Cookie header values
}

// Run probes cfg.URL (after cfg.WithDefaults and Validate) and returns the
// report. progress, when not nil, is called after each request with the
// number done and the total; its calls never overlap. When ctx ends, Run
// stops sending and returns the report of the requests done so far, marked
// Interrupted, along with ctx.Err(). Any other error is a config problem and
// comes with no report.
func Run(ctx context.Context, cfg Config, progress func(done, total int)) (*Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	started := time.Now()
	results := make([][]exchange, cfg.Browsers)
	total := cfg.Browsers * cfg.Requests
	var mu sync.Mutex // serializes progress
	done := 0
	tick := func() {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done++
		progress(done, total)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for b := range work {
				results[b] = browse(ctx, cfg, tick)
			}
		})
	}
feed:
	for b := range cfg.Browsers {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return buildReport(cfg, results, time.Since(started), time.Now(), ctx.Err() != nil), ctx.Err()
}

// browse plays one browser: its own cookie jar and connection pool, the
// requests one after the other, as a person clicking through a site would.
func browse(ctx context.Context, cfg Config, tick func()) []exchange {
	jar, _ := cookiejar.New(nil) // never fails with nil options
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: cfg.Insecure}, //nolint:gosec // the user asked for -insecure
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Jar:       jar,
		Transport: tr,
		Timeout:   cfg.Timeout,
		// A redirect is a response like any other: its target counts, and
		// its cookies are analysed rather than lost inside a chain.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var out []exchange
	for range cfg.Requests {
		if ctx.Err() != nil {
			break
		}
		ex := do(ctx, client, cfg)
		if ex.err != nil && ctx.Err() != nil {
			break // cut short by the caller, not the server's fault
		}
		out = append(out, ex)
		tick()
	}
	return out
}

// do sends one request and reads the whole response.
func do(ctx context.Context, client *http.Client, cfg Config) exchange {
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, nil)
	if err != nil {
		return exchange{err: err}
	}
	for name, values := range cfg.Header {
		if http.CanonicalHeaderKey(name) == "Host" && len(values) > 0 {
			req.Host = values[0]
			continue
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return exchange{err: err, latency: time.Since(start)}
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	ex := exchange{
		target:     strings.TrimSpace(resp.Header.Get(cfg.TargetHeader)),
		status:     resp.StatusCode,
		latency:    time.Since(start),
		setCookies: resp.Header.Values("Set-Cookie"),
	}
	if err != nil {
		ex.err = fmt.Errorf("reading the body: %w", err)
	}
	return ex
}
