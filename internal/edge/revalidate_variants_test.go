package edge_test

import (
	"net/http"
	"testing"
	"time"
)

// TestRevalidationKeepsOtherVariants: a revalidation of one variant of a
// key that gets a new response (or a 304 that makes it unstorable)
// replaces or drops that variant alone; the key's other variants, fresh
// ones included, stay.
func TestRevalidationKeepsOtherVariants(t *testing.T) {
	for _, answerEN := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"a new response", answer(200, "en-2", "Cache-Control: public, max-age=60", "Vary: Accept-Language")},
		{"a 304 that is no longer storable", answer(304, "", "Cache-Control: no-store", "Vary: Accept-Language")},
	} {
		t.Run(answerEN.name, func(t *testing.T) {
			e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 1h}
    origin_request: {headers: [Accept-Language]}
`)
			e.origin.set(answer(200, "en-1", "Cache-Control: public, max-age=1", "Vary: Accept-Language", `ETag: "en1"`))
			expect(t, "en", e.get("/p", "Accept-Language: en"), "stored")
			e.origin.set(answer(200, "fr-1", "Cache-Control: public, max-age=100", "Vary: Accept-Language"))
			expect(t, "fr", e.get("/p", "Accept-Language: fr"), "stored")
			e.clk.Advance(2 * time.Second)
			e.origin.set(answerEN.handler)
			expect(t, "en, stale", e.get("/p", "Accept-Language: en"), "fwd=stale")
			if r := e.get("/p", "Accept-Language: fr"); r.body != "fr-1" {
				t.Errorf("fr after en was revalidated: %q, want the stored fr-1", r.body)
			} else {
				expect(t, "fr after en was revalidated", r, "hit")
			}
		})
	}
}
