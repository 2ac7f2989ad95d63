package testsupport

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// chromiumPath is where the Debian package chromium installs the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumTimeout bounds one run of the browser, however long its virtual
// time budget.
const chromiumTimeout = 60 * time.Second

// Chromium returns the path of the Chromium binary. A missing browser fails
// the test rather than skipping it: browser tests are part of the suite, and
// scripts/test-deps.sh (run by `make test`) installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	path := chromiumPath
	if p, err := exec.LookPath("chromium"); err == nil {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal("chromium is not installed: run `make test` (scripts/test-deps.sh installs it)")
	}
	return path
}

// Browser is a headless Chromium profile: runs that share a Browser share
// one user data directory, so cookies set by one page load are sent by the
// next, as in one person's browser.
type Browser struct {
	t   testing.TB
	bin string
	dir string
}

// NewBrowser returns a Browser with a fresh profile in a test temporary
// directory.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	return &Browser{t: t, bin: Chromium(t), dir: t.TempDir()}
}

// DumpDOM loads url in a fresh headless profile, lets its scripts run for
// budget of virtual time (timers fire, fetches complete) and returns the
// serialized DOM.
func DumpDOM(t testing.TB, url string, budget time.Duration) string {
	t.Helper()
	return NewBrowser(t).DumpDOM(url, budget)
}

// Screenshot loads url in a fresh headless profile with a w×h window and
// writes a PNG of the viewport to path.
func Screenshot(t testing.TB, url, path string, w, h int) {
	t.Helper()
	NewBrowser(t).Screenshot(url, path, w, h, 2*time.Second)
}

// DumpDOM loads url, lets its scripts run for budget of virtual time and
// returns the serialized DOM.
func (b *Browser) DumpDOM(url string, budget time.Duration) string {
	b.t.Helper()
	return b.run("--virtual-time-budget="+ms(budget), "--dump-dom", url)
}

// DumpDOMLoaded loads url and returns the serialized DOM once the page has
// loaded (its load event), its scripts running in real time meanwhile.
// DumpDOM's virtual time stands still while a fetch is pending, so a
// page's own timeout of a request that never ends needs this: make the
// page's load take longer than the timeout (a slow image, say).
func (b *Browser) DumpDOMLoaded(url string) string {
	b.t.Helper()
	return b.run("--dump-dom", url)
}

// Screenshot loads url in a w×h window, lets its scripts run for budget of
// virtual time and writes a PNG of the viewport to path.
func (b *Browser) Screenshot(url, path string, w, h int, budget time.Duration) {
	b.t.Helper()
	b.run("--virtual-time-budget="+ms(budget), "--screenshot="+path,
		"--window-size="+strconv.Itoa(w)+","+strconv.Itoa(h), "--hide-scrollbars", url)
	if _, err := os.Stat(path); err != nil {
		b.t.Fatalf("chromium wrote no screenshot: %v", err)
	}
}

// run starts Chromium with the flags every test run needs plus args and
// returns its stdout.
func (b *Browser) run(args ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + b.dir,
	}
	cmd := exec.CommandContext(ctx, b.bin, append(flags, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			b.t.Fatalf("chromium did not finish in %s; stderr:\n%s", chromiumTimeout, stderr.String())
		}
		b.t.Fatalf("chromium %v: %v; stderr:\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
