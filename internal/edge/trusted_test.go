package edge_test

import (
	"net/http"
	"testing"
)

// Behind a trusted proxy the origin learns the client's address and
// scheme; from anyone else, forged X-Forwarded-* headers are dropped.
func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, wantFor, wantProto string
	}{
		{"untrusted peer", "trusted_proxies: [10.0.0.0/8]\n", "127.0.0.1", "http"},
		{"trusted peer", "trusted_proxies: [127.0.0.1]\n", "203.0.113.9, 127.0.0.1", "https"},
		{"none configured", "", "127.0.0.1", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.trusted+defaultBehavior)
			e.origin.set(answer(200, "ok", "Cache-Control: no-store"))
			e.get("/page", "X-Forwarded-For: 203.0.113.9", "X-Forwarded-Proto: https")
			got := e.origin.last().Header
			if got.Get("X-Forwarded-For") != tc.wantFor || got.Get("X-Forwarded-Proto") != tc.wantProto {
				t.Errorf("origin got X-Forwarded-For %q, X-Forwarded-Proto %q; want %q, %q",
					got.Get("X-Forwarded-For"), got.Get("X-Forwarded-Proto"), tc.wantFor, tc.wantProto)
			}
		})
	}
	// A trusted https request and a plain one are different objects in
	// safe mode (the scheme is in the key).
	e := newEnv(t, "trusted_proxies: [127.0.0.1]\n"+defaultBehavior)
	e.get("/k", "X-Forwarded-Proto: https")
	if r := e.get("/k"); r.status != http.StatusOK || isHit(r.cacheStatus()) {
		t.Errorf("plain request after an https one: %s, want a miss (another key)", r.cacheStatus())
	}
}
