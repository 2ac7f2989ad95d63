package lb_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/affinity"
	"github.com/tetherlb/tether/internal/keyring"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

func TestLBCookieSticksAndHidesItself(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, duration: 1h}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	first, code, resp := get(t, c, l.URL+"/", "Cookie", "theme=dark")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	sc := setCookie(resp, "TETHER")
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=3600", "Expires="} {
		if !strings.Contains(sc, attr) {
			t.Errorf("Set-Cookie %q lacks %s", sc, attr)
		}
	}
	if strings.Contains(sc, "Secure") || setCookie(resp, "TETHERCORS") != "" {
		t.Errorf("plain-HTTP response got a Secure cookie or the CORS twin: %v", resp.Header.Values("Set-Cookie"))
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), `no-cache="Set-Cookie"`) {
		t.Errorf("Cache-Control %q does not keep shared caches from storing the token", resp.Header.Get("Cache-Control"))
	}
	for i := 0; i < 20; i++ {
		if got, _, _ := get(t, c, l.URL+"/", "Cookie", "theme=dark"); got != first {
			t.Fatalf("request %d served by %s, want sticky %s", i, got, first)
		}
	}
	// The target sees the client's own cookies but never tether's token.
	for _, tg := range targets {
		if r := tg.LastRequest(); r != nil {
			if ck := r.Header.Get("Cookie"); strings.Contains(ck, "TETHER") || !strings.Contains(ck, "theme=dark") {
				t.Errorf("target %s got Cookie %q", tg.ID, ck)
			}
		}
	}
	if n := decisions(t, l, "kept", "none"); n != 20 {
		t.Errorf("kept decisions = %v, want 20", n)
	}
	// Other clients spread over the targets.
	seen := map[string]bool{}
	for i := 0; i < 12; i++ {
		id, _, _ := get(t, ts.Client(t), l.URL+"/")
		seen[id] = true
	}
	if len(seen) != 3 {
		t.Errorf("12 new clients reached %d targets, want 3", len(seen))
	}
}

// A browser sends two cookies of one name when they differ in domain or
// path (after cookie_domain changed, the old host-only one first): a stale
// one sent first does not rebind the client on every request; the first
// token that opens wins, the cross-site twin's too.
func TestDuplicateAffinityCookies(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, duration: 1h}\n"))
	waitHealthy(t, l, 3)
	bound, _, resp := get(t, ts.Client(t), l.URL+"/")
	token := strings.TrimPrefix(strings.Split(setCookie(resp, "TETHER"), ";")[0], "TETHER=")
	stale := "AAAA" + token[4:] // sealed, but not by tether: it does not open
	for _, cookie := range []string{
		"TETHER=" + stale + "; TETHER=" + token,
		"TETHER=garbage; TETHERCORS=" + token,
		"TETHER=" + token + "; TETHER=" + stale,
	} {
		for range 3 {
			id, code, resp := get(t, plainClient(), l.URL+"/", "Cookie", cookie)
			if code != 200 || id != bound || setCookie(resp, "TETHER") != "" {
				t.Errorf("Cookie %.40s…: served by %s (status %d, Set-Cookie %q); want %s, kept, no new token", cookie, id, code, setCookie(resp, "TETHER"), bound)
			}
		}
	}
	if n := decisions(t, l, "rebound", "invalid"); n != 0 {
		t.Errorf("%v rebound decisions for a client that sent a valid token too", n)
	}
}

// TestFailover kills the bound target while a client keeps requesting: no
// request fails, the client is rebound once and stays on its new target.
func TestFailover(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	var moved []string
	last := bound
	for i := 0; i < 30; i++ {
		if i == 10 {
			for _, tg := range targets {
				if tg.ID == bound {
					tg.Kill()
				}
			}
		}
		id, code, _ := get(t, c, l.URL+"/")
		if code != 200 {
			t.Fatalf("request %d failed with %d during failover", i, code)
		}
		if id != last {
			moved = append(moved, id)
			last = id
		}
	}
	if len(moved) != 1 || moved[0] == bound {
		t.Fatalf("client moved %v times from %s, want exactly once to another target", moved, bound)
	}
	if n := decisions(t, l, "rebound", "unhealthy"); n != 1 {
		t.Errorf("rebound{unhealthy} = %v, want 1", n)
	}
	if n := ts.Metric(t, l.Registry(), "tether_retries_total", map[string]string{"reason": "connect"}); n != 1 {
		t.Errorf("retries = %v, want 1", n)
	}
}

// TestFailoverWithBody: an upload whose bound target is dead goes, body
// and all, to another target: the connection failed before any of the
// body was read, so nothing of it was sent anywhere.
func TestFailoverWithBody(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	for _, tg := range targets {
		if tg.ID == bound {
			tg.Kill()
		}
	}
	// The first request after the kill goes out on tether's kept-alive
	// connection to the dead target, and finds it closed once its head
	// has been sent: a POST is not sent twice then (as NGINX's
	// proxy_next_upstream does not), so it may get 502. The next ones
	// cannot connect, and move.
	req, _ := http.NewRequest("POST", l.URL+"/upload", strings.NewReader("first"))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
	}
	for _, expect := range []string{"", "100-continue"} {
		req, _ := http.NewRequest("POST", l.URL+"/upload", strings.NewReader("form=data"))
		if expect != "" {
			req.Header.Set("Expect", expect)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasSuffix(string(body), " 9") || resp.Header.Get("X-Tether-Target") == bound {
			t.Errorf("POST (Expect %q) with its target dead: %d %q from %s; want 200 and its 9 bytes from another target",
				expect, resp.StatusCode, body, resp.Header.Get("X-Tether-Target"))
		}
	}
}

func TestStrictAnswers503InsteadOfMoving(t *testing.T) {
	targets := newTargets(t, 2)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, on_failure: strict}\n"))
	waitHealthy(t, l, 2)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	for _, tg := range targets {
		if tg.ID == bound {
			tg.Kill()
		}
	}
	for i := 0; i < 3; i++ {
		if _, code, _ := get(t, c, l.URL+"/"); code != http.StatusServiceUnavailable {
			t.Fatalf("request %d: status %d, want 503 (strict)", i, code)
		}
	}
	// A new client is still served by the healthy target.
	if _, code, _ := get(t, ts.Client(t), l.URL+"/"); code != 200 {
		t.Errorf("new client: status %d", code)
	}
}

// TestDrain: a draining target keeps its bound clients until the
// deregistration delay ends, gets no new ones, and then its clients move.
func TestDrain(t *testing.T) {
	targets := newTargets(t, 2)
	l := ts.StartLB(t, groupYAML(targets, "    deregistration_delay: 60s\n    stickiness: {type: lb_cookie, duration: 24h}\n"))
	waitHealthy(t, l, 2)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	left, err := l.Drain("app", bound)
	if err != nil || left != 60*time.Second {
		t.Fatalf("Drain = %v, %v", left, err)
	}
	for i := 0; i < 5; i++ {
		if id, _, _ := get(t, c, l.URL+"/"); id != bound {
			t.Fatalf("bound client moved to %s while %s drains", id, bound)
		}
	}
	for i := 0; i < 10; i++ {
		if id, _, _ := get(t, ts.Client(t), l.URL+"/"); id == bound {
			t.Fatalf("new client %d sent to draining target %s", i, bound)
		}
	}
	l.Clock.Advance(61 * time.Second)
	id, code, _ := get(t, c, l.URL+"/")
	if code != 200 || id == bound {
		t.Fatalf("after the delay: served by %s (%d), want another target", id, code)
	}
	if n := decisions(t, l, "rebound", "draining"); n != 1 {
		t.Errorf("rebound{draining} = %v, want 1", n)
	}
	if st := l.Snapshot()[0].Targets; st[0].State != "drained" && st[1].State != "drained" {
		t.Errorf("no target reported drained: %+v", st)
	}
	if err := l.Undrain("app", bound); err != nil {
		t.Fatal(err)
	}
}

// TestBadTokensAreIgnored: tampered, expired, foreign-key, unknown-target
// and garbage tokens never cause an error: a new token is issued and the
// cause is counted.
func TestBadTokensAreIgnored(t *testing.T) {
	targets := newTargets(t, 2)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, duration: 1h}\n"))
	waitHealthy(t, l, 2)
	_, _, resp := get(t, ts.Client(t), l.URL+"/")
	good := strings.TrimPrefix(strings.Split(setCookie(resp, "TETHER"), ";")[0], "TETHER=")

	otherRing, _ := keyring.Generate(ts.Epoch)
	foreign, _ := affinity.NewSealer(otherRing)
	foreignTok, _ := foreign.Seal(affinity.Token{Group: "app", Target: "t1", Binding: 1, IssuedAt: ts.Epoch, ExpiresAt: ts.Epoch.Add(time.Hour)})
	own, _ := affinity.NewSealer(l.Ring)
	ghostTok, _ := own.Seal(affinity.Token{Group: "app", Target: "ghost", Binding: 2, IssuedAt: ts.Epoch, ExpiresAt: ts.Epoch.Add(time.Hour)})
	expiredTok, _ := own.Seal(affinity.Token{Group: "app", Target: "t1", Binding: 3, IssuedAt: ts.Epoch.Add(-2 * time.Hour), ExpiresAt: ts.Epoch.Add(-time.Hour)})
	flipped := []byte(good)
	flipped[len(flipped)/2] ^= 1
	if flipped[len(flipped)/2] == '_' || flipped[len(flipped)/2] == '-' {
		flipped[len(flipped)/2] = 'A'
	}

	tests := []struct {
		name, cookie, cause string
	}{
		{"tampered", string(flipped), "invalid"},
		{"garbage", "%%%not-a-token", "invalid"},
		{"huge", strings.Repeat("A", 5000), "invalid"}, // too long to be a token: refused unread, and counted
		{"foreign key", foreignTok, "unknown_key"},
		{"unknown target", ghostTok, "unknown_target"},
		{"expired", expiredTok, "expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := decisions(t, l, "rebound", tc.cause)
			_, code, resp := get(t, plainClient(), l.URL+"/", "Cookie", "TETHER="+tc.cookie)
			if code != 200 {
				t.Fatalf("status %d, want 200", code)
			}
			if setCookie(resp, "TETHER") == "" {
				t.Error("no new token issued")
			}
			if n := decisions(t, l, "rebound", tc.cause) - before; n != 1 {
				t.Errorf("rebound{%s} grew by %v, want 1", tc.cause, n)
			}
		})
	}
}

// TestKeyRotation: a token sealed under the previous key still binds, and
// is re-sealed with the new active key.
func TestKeyRotation(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	rotated, err := l.Ring.Rotate(ts.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(l.Config(), rotated); err != nil {
		t.Fatal(err)
	}
	id, _, resp := get(t, c, l.URL+"/")
	if id != bound {
		t.Fatalf("after rotation served by %s, want %s", id, bound)
	}
	sc := setCookie(resp, "TETHER")
	if sc == "" {
		t.Fatal("token sealed with the old key was not re-sealed")
	}
	s, _ := affinity.NewSealer(rotated)
	val := strings.TrimPrefix(strings.Split(sc, ";")[0], "TETHER=")
	if _, stale, err := s.Open(val, l.Clock.Now()); err != nil || stale {
		t.Errorf("re-sealed token: stale=%v err=%v, want sealed with the active key", stale, err)
	}
	if id, _, _ := get(t, c, l.URL+"/"); id != bound {
		t.Errorf("after re-seal served by %s, want %s", id, bound)
	}
}

// TestSlidingExpiry: a client that keeps coming back is never unbound,
// though each token lives only the duration.
func TestSlidingExpiry(t *testing.T) {
	targets := newTargets(t, 3)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, duration: 10m}\n"))
	waitHealthy(t, l, 3)
	c := ts.Client(t)
	bound, _, _ := get(t, c, l.URL+"/")
	for i := 0; i < 6; i++ {
		l.Clock.Advance(5 * time.Minute) // 30 minutes in all: three durations
		id, _, resp := get(t, c, l.URL+"/")
		if id != bound {
			t.Fatalf("after %d min served by %s, want %s", 5*(i+1), id, bound)
		}
		if setCookie(resp, "TETHER") == "" {
			t.Fatalf("after %d min no refreshed token", 5*(i+1))
		}
	}
	if n := decisions(t, l, "rebound", "expired"); n != 0 {
		t.Errorf("rebound{expired} = %v, want 0", n)
	}
}

// TestNoCacheDirectiveLeavesAppCookiesAlone: tether asks shared caches not
// to replay its own token with no-cache="Set-Cookie", but not on a response
// that also sets the application's cookies, where that directive would let
// a cache store the application's response without them.
func TestNoCacheDirectiveLeavesAppCookiesAlone(t *testing.T) {
	targets := newTargets(t, 1)
	l := ts.StartLB(t, groupYAML(targets, "    stickiness: {type: lb_cookie, duration: 1h}\n"))
	waitHealthy(t, l, 1)
	_, _, resp := get(t, plainClient(), l.URL+"/setcookie?name=session")
	if setCookie(resp, "TETHER") == "" || setCookie(resp, "session") == "" {
		t.Fatalf("want both the token and the app cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, `no-cache="Set-Cookie"`) {
		t.Errorf("Cache-Control %q tells caches they may store the app's response without its cookie", cc)
	}
}
