package edge_test

import (
	"net/http"
	"testing"
)

// TestOriginFieldNameWithSpace: an origin response with white space
// between a field name and its colon ("Set-Cookie : session=…") is
// refused with 502, whichever transport reaches the origin. Go's client
// keeps such a name as it came, where the edge's Set-Cookie, Cache-Control
// and Vary rules do not see it: stored, the line went to every user on
// every hit (RFC 9112 §5.1 has a proxy remove the space or refuse).
func TestOriginFieldNameWithSpace(t *testing.T) {
	for name, newE := range map[string]func(t *testing.T) *env{
		"the load balancer's transport": func(t *testing.T) *env { return newEnv(t, defaultBehavior) },
		"Go's transport": func(t *testing.T) *env {
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			return newEnvTransport(t, defaultBehavior, tr)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newE(t)
			for _, line := range []string{"Set-Cookie : session=alice", "Cache-Control : private"} {
				e.origin.set(func(w http.ResponseWriter, r *http.Request) {
					c, brw, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					brw.WriteString("HTTP/1.1 200 OK\r\n" + line + "\r\nCache-Control: max-age=60\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
					brw.Flush()
				})
				for i := range 2 {
					r := e.get("/p")
					if r.status != http.StatusBadGateway || r.header.Get("Set-Cookie") != "" {
						t.Errorf("%q, request %d: %d, Set-Cookie %q; want 502 and no cookie", line, i+1, r.status, r.header.Get("Set-Cookie"))
					}
					expectNot(t, line, r, "hit", "stored")
				}
			}
		})
	}
}

// TestUnsolicitedSwitchingProtocols: an origin that answers 101 to a
// request that asked for no upgrade (the edge never does) gets the client
// a 502, whichever transport reaches it: relayed, the 101 would make a
// client or a proxy in front take the connection for a tunnel while the
// edge goes on speaking HTTP on it.
func TestUnsolicitedSwitchingProtocols(t *testing.T) {
	for name, newE := range map[string]func(t *testing.T) *env{
		"the load balancer's transport": func(t *testing.T) *env { return newEnv(t, defaultBehavior) },
		"Go's transport": func(t *testing.T) *env {
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			return newEnvTransport(t, defaultBehavior, tr)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newE(t)
			e.origin.set(func(w http.ResponseWriter, r *http.Request) {
				c, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				brw.Flush()
			})
			if r := e.get("/ws"); r.status != http.StatusBadGateway {
				t.Errorf("an unsolicited 101: the client got %d, want 502", r.status)
			}
		})
	}
}
