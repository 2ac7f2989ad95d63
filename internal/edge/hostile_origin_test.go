package edge_test

import (
	"net/http"
	"testing"
)

// bothTransports runs test against an edge reaching its origin through
// each transport tether uses: the load balancer's (plain http origins)
// and Go's (https origins).
func bothTransports(t *testing.T, test func(t *testing.T, e *env)) {
	t.Run("the load balancer's transport", func(t *testing.T) { test(t, newEnv(t, defaultBehavior)) })
	t.Run("Go's transport", func(t *testing.T) {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		test(t, newEnvTransport(t, defaultBehavior, tr))
	})
}

// rawAnswer is an origin handler that writes head, raw bytes, as the
// whole response and closes the connection.
func rawAnswer(t *testing.T, head string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		brw.WriteString(head)
		brw.Flush()
	}
}

// TestOriginFieldNameWithSpace: an origin response with white space
// between a field name and its colon ("Set-Cookie : session=…") is
// refused with 502, whichever transport reaches the origin. Go's client
// keeps such a name as it came, where the edge's Set-Cookie, Cache-Control
// and Vary rules do not see it: stored, the line went to every user on
// every hit (RFC 9112 §5.1 has a proxy remove the space or refuse).
func TestOriginFieldNameWithSpace(t *testing.T) {
	bothTransports(t, func(t *testing.T, e *env) {
		for _, line := range []string{"Set-Cookie : session=alice", "Cache-Control : private"} {
			e.origin.set(rawAnswer(t, "HTTP/1.1 200 OK\r\n"+line+"\r\nCache-Control: max-age=60\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"))
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

// TestUnsolicitedSwitchingProtocols: an origin that answers 101 to a
// request that asked for no upgrade (the edge never does) gets the client
// a 502, whichever transport reaches it: relayed, the 101 would make a
// client or a proxy in front take the connection for a tunnel while the
// edge goes on speaking HTTP on it.
func TestUnsolicitedSwitchingProtocols(t *testing.T) {
	bothTransports(t, func(t *testing.T, e *env) {
		e.origin.set(rawAnswer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
		if r := e.get("/ws"); r.status != http.StatusBadGateway {
			t.Errorf("an unsolicited 101: the client got %d, want 502", r.status)
		}
	})
}
