package lb_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

func TestAppCookie(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: app_cookie, app_cookie_name: JSESSIONID, duration: 2h}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	// Before the app sets its cookie nothing binds the client.
	_, _, resp := get(t, c, l.URL+"/")
	if sc := setCookie(resp, "TETHERAPP"); sc != "" {
		t.Fatalf("binding cookie set before the app set its cookie: %s", sc)
	}
	bound, _, resp := get(t, c, l.URL+"/setcookie?name=JSESSIONID")
	sc := setCookie(resp, "TETHERAPP")
	if sc == "" || !strings.Contains(sc, "Max-Age=7200") || !strings.Contains(sc, "HttpOnly") {
		t.Fatalf("TETHERAPP Set-Cookie = %q", sc)
	}
	if setCookie(resp, "JSESSIONID") == "" {
		t.Fatal("the app's own cookie did not reach the client")
	}
	for i := 0; i < 10; i++ {
		if id, _, _ := get(t, c, l.URL+"/"); id != bound {
			t.Fatalf("request %d served by %s, want %s", i, id, bound)
		}
	}
	// Logout: the app deletes its cookie, tether deletes the binding.
	_, _, resp = get(t, c, l.URL+"/setcookie?name=JSESSIONID&delete=1")
	if sc := setCookie(resp, "TETHERAPP"); !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("after the app deleted its cookie, TETHERAPP Set-Cookie = %q, want a deletion", sc)
	}
}

func TestHeaderMode(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: header, header_name: X-Affinity}\n"))
	waitHealthy(t, l, 3)
	c := plainClient() // no cookies at all, like an API client
	bound, _, resp := get(t, c, l.URL+"/")
	tok := resp.Header.Get("X-Affinity")
	if tok == "" || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("header token %q, cookies %v", tok, resp.Header.Values("Set-Cookie"))
	}
	for i := 0; i < 10; i++ {
		id, _, resp := get(t, c, l.URL+"/", "X-Affinity", tok)
		if id != bound {
			t.Fatalf("request %d with token served by %s, want %s", i, id, bound)
		}
		if resp.Header.Get("X-Affinity") == "" {
			t.Fatalf("response %d did not carry the token back", i)
		}
	}
	for _, tg := range targets {
		if r := tg.LastRequest(); r != nil && r.Header.Get("X-Affinity") != "" {
			t.Errorf("target %s saw the affinity header", tg.ID)
		}
	}
}

func TestSourceIP(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: source_ip, duration: 10m}\n"))
	waitHealthy(t, l, 3)
	c := plainClient()
	// The test client is 127.0.0.1, not a trusted proxy (10.0.0.0/8), so its
	// X-Forwarded-For is ignored: every "client" is the same address.
	first, _, _ := get(t, c, l.URL+"/", "X-Forwarded-For", "203.0.113.1")
	for i := 2; i < 20; i++ {
		if id, _, _ := get(t, c, l.URL+"/", "X-Forwarded-For", "203.0.113."+itoa(i)); id != first {
			t.Fatalf("untrusted X-Forwarded-For changed the binding: %s vs %s", id, first)
		}
	}
	if n := decisions(t, l, "kept", "none"); n != 18 {
		t.Errorf("kept = %v, want 18", n)
	}
	// Idle longer than the duration: the binding is forgotten and the
	// address is bound afresh, as Kubernetes' ClientIP timeout does.
	l.Clock.Advance(11 * time.Minute)
	l.Sweep()
	newBefore := decisions(t, l, "new", "none")
	get(t, c, l.URL+"/")
	if n := decisions(t, l, "new", "none") - newBefore; n != 1 {
		t.Errorf("after the idle timeout: new decisions grew by %v, want 1", n)
	}
	l.Sweep()
	if n := ts.Metric(t, l.Registry(), "tether_affinity_bindings", map[string]string{"group": "app"}); n != 1 {
		t.Errorf("bindings = %v, want 1 (one client address)", n)
	}
}

// TestSourceIPBehindTrustedProxy: behind a trusted proxy the client is
// taken from X-Forwarded-For, and clients spread with bounded loads.
func TestSourceIPBehindTrustedProxy(t *testing.T) {
	targets := newTargets(t, 3)
	y := strings.Replace(groupYAML(targets, "    stickiness: {type: source_ip}\n"), "[10.0.0.0/8]", "[127.0.0.0/8]", 1)
	l := ts.StartLB(t, y)
	waitHealthy(t, l, 3)
	c := plainClient()
	bound := map[string]string{}
	count := map[string]int{}
	for i := 0; i < 90; i++ {
		ip := "198.51.100." + itoa(i)
		id, _, _ := get(t, c, l.URL+"/", "X-Forwarded-For", ip)
		bound[ip] = id
		count[id]++
	}
	if len(count) != 3 {
		t.Fatalf("90 client addresses reached %d targets", len(count))
	}
	for i := 0; i < 90; i++ {
		ip := "198.51.100." + itoa(i)
		if id, _, _ := get(t, c, l.URL+"/", "X-Forwarded-For", "192.0.2.77, "+ip); id != bound[ip] {
			t.Fatalf("client %s moved from %s to %s", ip, bound[ip], id)
		}
	}
}

func TestConsistentHashKeys(t *testing.T) {
	targets := newTargets(t, 3)
	tests := []struct {
		hashKey string
		send    func(key string) (path string, hdr []string)
	}{
		{"header:X-Tenant", func(k string) (string, []string) { return "/", []string{"X-Tenant", k} }},
		{"cookie:sid", func(k string) (string, []string) { return "/", []string{"Cookie", "a=1; sid=" + k} }},
		{"query:user", func(k string) (string, []string) { return "/?user=" + k, nil }},
	}
	for _, tc := range tests {
		t.Run(tc.hashKey, func(t *testing.T) {
			l := ts.StartLB(t, groupYAML(targets, "    algorithm: consistent_hash\n    hash_key: "+tc.hashKey+"\n"))
			waitHealthy(t, l, 3)
			c := plainClient()
			seen := map[string]bool{}
			for key := 0; key < 30; key++ {
				path, hdr := tc.send("key-" + itoa(key))
				first, _, _ := get(t, c, l.URL+path, hdr...)
				seen[first] = true
				for i := 0; i < 3; i++ {
					if id, _, _ := get(t, c, l.URL+path, hdr...); id != first {
						t.Fatalf("key %d moved from %s to %s", key, first, id)
					}
				}
			}
			if len(seen) != 3 {
				t.Errorf("30 keys reached %d targets, want 3", len(seen))
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
