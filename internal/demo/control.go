package demo

import (
	"errors"
	"net/http"
)

// targetStatus is one element of the GET /targets response.
type targetStatus struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Alive   bool   `json:"alive"`
}

// control serves the demo control API.
type control struct {
	targets []*Target
	byID    map[string]*Target
	origin  string // "" when cross-origin access is disabled
}

// NewControl serves the demo control API so a person (or the page's buttons)
// can kill and revive targets:
//
//	GET  /targets              -> 200 [{"id":"app-1","address":"127.0.0.1:9001","alive":true}, ...]
//	POST /targets/{id}/kill    -> 204, 404 for an unknown id
//	POST /targets/{id}/revive  -> 204, 404 for an unknown id, 409 once the target is closed
//
// Targets are listed in the order given; when two share an id, the first
// wins. allowOrigin is the origin of the load balancer's page, such as
// "http://127.0.0.1:8080": every response carries CORS headers that let that
// origin call the API with GET and POST, and OPTIONS answers preflight
// requests. A POST from any other browser origin is refused with 403 (see
// [http.CrossOriginProtection]); clients that send no Origin, such as curl,
// are allowed. An empty or malformed allowOrigin disables cross-origin
// access. The handler is safe for concurrent use.
func NewControl(targets []*Target, allowOrigin string) http.Handler {
	c := &control{targets: targets, byID: make(map[string]*Target, len(targets))}
	for _, t := range targets {
		if _, dup := c.byID[t.ID()]; !dup {
			c.byID[t.ID()] = t
		}
	}
	cop := http.NewCrossOriginProtection()
	if allowOrigin != "" && cop.AddTrustedOrigin(allowOrigin) == nil {
		c.origin = allowOrigin
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /targets", c.list)
	mux.HandleFunc("POST /targets/{id}/kill", c.act((*Target).Kill))
	mux.HandleFunc("POST /targets/{id}/revive", c.act((*Target).Revive))
	mux.HandleFunc("OPTIONS /", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return c.cors(cop.Handler(mux))
}

// cors adds the CORS headers for the allowed origin to every response.
func (c *control) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if c.origin != "" {
			h.Set("Access-Control-Allow-Origin", c.origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
		}
		next.ServeHTTP(w, r)
	})
}

func (c *control) list(w http.ResponseWriter, _ *http.Request) {
	out := make([]targetStatus, 0, len(c.targets))
	for _, t := range c.targets {
		out = append(out, targetStatus{ID: t.ID(), Address: t.Address(), Alive: t.Alive()})
	}
	writeJSON(w, out)
}

// act returns a handler that applies op to the target named in the path.
func (c *control) act(op func(*Target) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, ok := c.byID[r.PathValue("id")]
		if !ok {
			http.Error(w, "unknown target", http.StatusNotFound)
			return
		}
		if err := op(t); err != nil {
			http.Error(w, err.Error(), errorStatus(err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// errorStatus maps a Target lifecycle error to an HTTP status.
func errorStatus(err error) int {
	if errors.Is(err, ErrClosed) {
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
