package lb_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// A target that dies in the middle of a body: the client gets the bytes
// that came and an error, never a body that looks whole, whether the body
// had a Content-Length or was chunked.
func TestTargetBodyCutShort(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/length" {
			w.Header().Set("Content-Length", "2000")
		}
		io.WriteString(w, strings.Repeat("x", 1000))
		w.(http.Flusher).Flush()
		if c, brw, err := http.NewResponseController(w).Hijack(); err == nil {
			brw.Flush()
			c.Close()
		}
	}))
	t.Cleanup(target.Close)
	l := ts.StartLB(t, `
listeners: [{name: web, address: "127.0.0.1:0", default_target_group: app}]
target_groups:
  - name: app
    targets: [{id: a, address: "`+strings.TrimPrefix(target.URL, "http://")+`"}]
    stickiness: {type: none}
`)
	for _, path := range []string{"/length", "/chunked"} {
		resp, err := http.Get(l.URL + path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || len(b) > 1000 || strings.Trim(string(b), "x") != "" {
			t.Errorf("%s: %d, %d bytes, err %v; want at most the 1000 bytes sent, then an error", path, resp.StatusCode, len(b), err)
		}
	}
}
