package lb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/memstore"
)

// switchStore fails every call while down is set.
type switchStore struct {
	session.Store
	down atomic.Bool
}

func (s *switchStore) Get(ctx context.Context, tenant, id string) (session.Entry, bool, error) {
	if s.down.Load() {
		return session.Entry{}, false, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	return s.Store.Get(ctx, tenant, id)
}

func gatewayYAML(targets []*ts.Target) string {
	var b strings.Builder
	b.WriteString(`admin: {address: "off"}
sessions: {store: memory}
listeners:
  - name: web
    address: 127.0.0.1:0
    default_target_group: app
    rules:
      - {path: /login, target_group: app}
      - path: /app/*
        target_group: app
        authorizer: {type: session, login_url: /login}
target_groups:
  - name: app
    target_header: X-Tether-Target
    targets:
`)
	for _, t := range targets {
		fmt.Fprintf(&b, "      - {id: %s, address: %q}\n", t.ID, t.Addr)
	}
	return b.String()
}

// eventLog records the session events of newGateway's Manager.
type eventLog struct {
	mu     sync.Mutex
	events []session.Event
}

func (l *eventLog) add(e session.Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }
func (l *eventLog) reset()              { l.mu.Lock(); l.events = nil; l.mu.Unlock() }

// count returns how many events of type typ with reason were recorded.
func (l *eventLog) count(typ session.EventType, reason string) (n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Type == typ && e.Reason == reason {
			n++
		}
	}
	return n
}

var gatewayEvents eventLog

func newGateway(t *testing.T) (*ts.LB, *session.Manager, *switchStore, []*ts.Target) {
	return newGatewayBinding(t, "")
}

// newGatewayBinding is newGateway with the sessions' binding policy.
func newGatewayBinding(t *testing.T, binding session.BindingPolicy) (*ts.LB, *session.Manager, *switchStore, []*ts.Target) {
	ms := memstore.New(memstore.Options{})
	t.Cleanup(func() { ms.Close() })
	store := &switchStore{Store: ms}
	keys, _ := session.StaticKey([]byte(strings.Repeat("g", 32)))
	gatewayEvents.reset()
	m, err := session.New(session.Config{InsecureDevCookies: true, Binding: binding}, session.Options{Store: store, Keys: keys, OnEvent: gatewayEvents.add})
	if err != nil {
		t.Fatal(err)
	}
	targets := newTargets(t, 2)
	l := ts.StartLB(t, gatewayYAML(targets), ts.WithSessions(m))
	// The first health checks must be done, or one may land on a target
	// after a test request and hide it.
	waitHealthy(t, l, len(targets))
	return l, m, store, targets
}

func TestSessionGateway(t *testing.T) {
	l, m, store, targets := newGateway(t)
	id, _, err := m.CreateSession(t.Context(), "", "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	anon, _, _ := m.CreateSession(t.Context(), "", "", nil)
	requests := func() int64 { return targets[0].Requests.Load() + targets[1].Requests.Load() }

	t.Run("valid session reaches a target with identity headers", func(t *testing.T) {
		_, code, _ := get(t, plainClient(), l.URL+"/app/orders",
			"Cookie", "sid="+id+"; theme=dark", "X-Tether-User", "mallory", "X-Tether-Admin", "1",
			"X_Tether_User", "admin", "X-Tether_Session", "zz") // WSGI and CGI read _ as -
		if code != 200 {
			t.Fatalf("status %d, want 200", code)
		}
		var last *http.Request
		for _, tg := range targets {
			if r := tg.LastRequest(); r != nil && r.URL.Path == "/app/orders" {
				last = r
			}
		}
		if last == nil {
			t.Fatal("no target received /app/orders")
		}
		if got := last.Header.Get("X-Tether-User"); got != "alice" {
			t.Errorf("target saw X-Tether-User %q, want alice (the client's forged value replaced)", got)
		}
		if last.Header.Get("X-Tether-Admin") != "" {
			t.Error("a client's X-Tether-Admin header reached the target")
		}
		for k := range last.Header {
			if strings.EqualFold(strings.ReplaceAll(k, "_", "-")[:min(len(k), 9)], "X-Tether-") && strings.Contains(k, "_") {
				t.Errorf("a client's %s header reached the target", k)
			}
		}
		if h := last.Header.Get("X-Tether-Session"); h != m.HashOf(id) || h == "" {
			t.Errorf("X-Tether-Session = %q, want the session's hash", h)
		}
		if c := last.Header.Get("Cookie"); strings.Contains(c, id) || !strings.Contains(c, "theme=dark") {
			t.Errorf("target saw Cookie %q; want the app's cookies without the session ID", c)
		}
	})

	before := requests()
	t.Run("API client without a session gets 401", func(t *testing.T) {
		_, code, resp := get(t, plainClient(), l.URL+"/app/orders", "Accept", "application/json")
		if code != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "sid") {
			t.Errorf("status %d, WWW-Authenticate %q; want 401 naming the cookie", code, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("browser without a session is sent to log in", func(t *testing.T) {
		c := plainClient()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		_, code, resp := get(t, c, l.URL+"/app/orders?page=2", "Accept", "text/html,*/*")
		if code != 303 || resp.Header.Get("Location") != "/login?next=%2Fapp%2Forders%3Fpage%3D2" {
			t.Errorf("status %d, Location %q; want 303 to /login?next=…", code, resp.Header.Get("Location"))
		}
	})
	t.Run("anonymous or unknown sessions are not logins", func(t *testing.T) {
		unknown, malformed := gatewayEvents.count(session.EventRejected, "unknown"), gatewayEvents.count(session.EventRejected, "malformed")
		for _, c := range []string{"sid=" + anon, "sid=" + strings.Repeat("A", 43), "sid=garbage"} {
			if _, code, _ := get(t, plainClient(), l.URL+"/app/orders", "Cookie", c); code != 401 {
				t.Errorf("Cookie %.20s…: status %d, want 401", c, code)
			}
		}
		// Guessing IDs at the gateway leaves a trace, as at LoadAndSave.
		if n := gatewayEvents.count(session.EventRejected, "unknown") - unknown; n != 1 {
			t.Errorf("rejected/unknown events: %d, want 1 (the 43 A's)", n)
		}
		if n := gatewayEvents.count(session.EventRejected, "malformed") - malformed; n != 1 {
			t.Errorf("rejected/malformed events: %d, want 1 (garbage)", n)
		}
	})
	t.Run("store down answers 503, not a logout", func(t *testing.T) {
		store.down.Store(true)
		defer store.down.Store(false)
		_, code, resp := get(t, plainClient(), l.URL+"/app/orders", "Cookie", "sid="+id, "Accept", "text/html")
		if code != 503 || resp.Header.Get("Retry-After") != "5" {
			t.Errorf("status %d, Retry-After %q; want 503 with Retry-After: 5 (as documented, and as the session API)", code, resp.Header.Get("Retry-After"))
		}
	})
	if n := requests() - before; n != 0 {
		t.Errorf("%d refused requests reached a target", n)
	}
	t.Run("rules without an authorizer stay open", func(t *testing.T) {
		if _, code, _ := get(t, plainClient(), l.URL+"/login"); code != 200 {
			t.Errorf("/login status %d, want 200", code)
		}
	})
	for result, want := range map[string]float64{"allowed": 1, "unauthenticated": 4, "redirected": 1, "store_unavailable": 1} {
		if got := ts.Metric(t, l.Registry(), "tether_authorizer_decisions_total", map[string]string{"result": result}); got != want {
			t.Errorf("tether_authorizer_decisions_total{result=%s} = %v, want %v", result, got, want)
		}
	}
}

// TestSessionGatewayBinding: the gateway applies the sessions' binding
// policy as LoadAndSave does, to the client as the listener sees it
// (here 127.0.0.1), for sessions whose app gave the session API the
// browser's address and User-Agent. A session used from another network
// is a binding_mismatch event; with binding: revoke it ends, and the
// request is not let through.
func TestSessionGatewayBinding(t *testing.T) {
	for _, policy := range []session.BindingPolicy{session.BindingLog, session.BindingRevoke} {
		t.Run(string(policy), func(t *testing.T) {
			l, m, _, _ := newGatewayBinding(t, policy)
			const ua = "Mozilla/5.0 (phone)"
			home, _, err := m.CreateSessionFor(t.Context(), "", "alice", nil, session.Client{IP: netip.MustParseAddr("127.0.0.9"), UserAgent: ua})
			if err != nil {
				t.Fatal(err)
			}
			away, _, _ := m.CreateSessionFor(t.Context(), "", "alice", nil, session.Client{IP: netip.MustParseAddr("203.0.113.7"), UserAgent: ua})
			if _, code, _ := get(t, plainClient(), l.URL+"/app/a", "Cookie", "sid="+home, "User-Agent", ua); code != 200 {
				t.Errorf("the session from its own network and browser: %d, want 200", code)
			}
			if n := gatewayEvents.count(session.EventBindingMismatch, "ip") + gatewayEvents.count(session.EventBindingMismatch, "user_agent"); n != 0 {
				t.Fatalf("%d binding_mismatch events for a matching client", n)
			}
			if _, code, _ := get(t, plainClient(), l.URL+"/app/a", "Cookie", "sid="+home, "User-Agent", "curl/8.0"); code != 200 && policy == session.BindingLog {
				t.Errorf("another User-Agent under binding: log: %d, want 200", code)
			}
			if n := gatewayEvents.count(session.EventBindingMismatch, "user_agent"); n != 1 {
				t.Errorf("binding_mismatch user_agent events: %d, want 1", n)
			}
			unknown := gatewayEvents.count(session.EventRejected, "unknown")
			_, code, _ := get(t, plainClient(), l.URL+"/app/a", "Cookie", "sid="+away, "User-Agent", ua)
			if gatewayEvents.count(session.EventBindingMismatch, "ip") != 1 {
				t.Error("a session used from another network emitted no binding_mismatch ip event")
			}
			switch policy {
			case session.BindingLog:
				if code != 200 {
					t.Errorf("binding: log, another network: %d, want 200", code)
				}
			case session.BindingRevoke:
				if code != 401 || gatewayEvents.count(session.EventRevoked, "binding_ip") != 1 {
					t.Errorf("binding: revoke, another network: %d, %d revoked events; want 401 and 1", code, gatewayEvents.count(session.EventRevoked, "binding_ip"))
				}
				if gatewayEvents.count(session.EventRejected, "unknown") != unknown {
					t.Error("the session the policy ended was also counted as an unknown ID")
				}
				if _, err := m.Lookup(t.Context(), "", away, false); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("the ended session is still stored: %v", err)
				}
			}
		})
	}
}

// TestSessionGatewayTenants replays the source documents' incident at the
// gateway: a session of acme-corp presented at betaco's host is not a login,
// and the target only ever learns the tenant from tether.
func TestSessionGatewayTenants(t *testing.T) {
	ms := memstore.New(memstore.Options{})
	t.Cleanup(func() { ms.Close() })
	keys, _ := session.StaticKey([]byte(strings.Repeat("g", 32)))
	m, err := session.New(session.Config{InsecureDevCookies: true}, session.Options{
		Store: ms, Keys: keys,
		Tenant: session.TenantByHost(map[string]string{"acme.example": "acme-corp", "betaco.example": "betaco"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	targets := newTargets(t, 1)
	l := ts.StartLB(t, gatewayYAML(targets), ts.WithSessions(m))
	waitHealthy(t, l, 1)
	acme, _, err := m.CreateSession(t.Context(), "acme-corp", "1042", nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(host, cookie string, hdr ...string) int {
		req, _ := http.NewRequest("GET", l.URL+"/app/employees", nil)
		req.Host = host
		req.Header.Set("Cookie", "sid="+cookie)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := plainClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("acme.example", acme); code != 200 {
		t.Fatalf("acme-corp's own session at acme.example: %d, want 200", code)
	}
	if got := targets[0].LastRequest().Header.Get("X-Tether-Tenant"); got != "acme-corp" {
		t.Errorf("target saw tenant %q, want acme-corp", got)
	}
	if code := get("betaco.example", acme, "X-Tether-Tenant", "betaco"); code != 401 {
		t.Errorf("acme-corp's session at betaco.example: %d, want 401", code)
	}
	if code := get("unknown.example", acme); code != 421 {
		t.Errorf("a host with no tenant: %d, want 421", code)
	}
}
