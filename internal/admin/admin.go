// Package admin serves tether's admin API: health, Prometheus metrics, the
// state of target groups and edge caches, draining, invalidation, reload,
// and the live dashboard over them. It listens on loopback by
// default; state-changing calls refuse cross-origin browser requests.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tetherlb/tether/internal/apimux"
	"github.com/tetherlb/tether/internal/config"
	"github.com/tetherlb/tether/internal/edge"
	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/jsonstrict"
	"github.com/tetherlb/tether/internal/lb"
)

// Balancer is what the admin API needs of the load balancer.
type Balancer interface {
	Snapshot() []lb.GroupStatus
	Drain(group, id string) (time.Duration, error)
	Undrain(group, id string) error
}

// Edge is what the admin API needs of an edge cache: its status, and
// invalidation by path pattern.
type Edge interface {
	Invalidate(tenant string, patterns []string) int
	Status() edge.Status
}

// Options configure the handler. Reload, if nil, makes POST /api/v1/reload
// answer 501.
type Options struct {
	LB       Balancer
	Registry *prometheus.Registry
	Reload   func(ctx context.Context) error
	Logger   *slog.Logger
	// Edges are the edge caches by name, for their status and
	// invalidations.
	Edges map[string]Edge
	// Loopback says the API listens on a loopback address (see
	// IsLoopback): requests must then name an IP address or localhost
	// (see hostGuard).
	Loopback bool
}

// Handler returns the admin API.
//
//	GET  /healthz                                            liveness
//	GET  /metrics                                            Prometheus text format
//	GET  /api/v1/target-groups                               groups, targets, state, weight, in-flight, requests, bindings
//	POST /api/v1/target-groups/{group}/targets/{id}/drain    start deregistration
//	POST /api/v1/target-groups/{group}/targets/{id}/undrain  cancel it
//	POST /api/v1/reload                                      re-read the config file and key ring
//	GET  /api/v1/edges                                       edge caches: size, objects, requests by result
//	POST /api/v1/edges/{name}/invalidations                  drop cached objects by path pattern
//	GET  /dashboard/                                         the live dashboard (a web page over the above)
//	GET  /debug/pprof/...                                    Go profiles (CPU, heap, goroutines)
func Handler(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.HandleFunc("GET /api/v1/target-groups", a.groups)
	mux.HandleFunc("POST /api/v1/target-groups/{group}/targets/{id}/drain", a.drain)
	mux.HandleFunc("POST /api/v1/target-groups/{group}/targets/{id}/undrain", a.undrain)
	mux.HandleFunc("POST /api/v1/reload", a.reload)
	mux.HandleFunc("GET /api/v1/edges", a.edges)
	mux.HandleFunc("POST /api/v1/edges/{name}/invalidations", a.invalidate)
	mux.HandleFunc("GET /{$}", a.index)
	handleDashboard(mux)
	// Go's profiler, as Caddy's admin API offers it: go tool pprof
	// http://127.0.0.1:9901/debug/pprof/profile?seconds=30
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	// A web page on another site must not be able to drain targets on a
	// loopback admin port with a blind cross-origin POST, nor, through
	// DNS rebinding, with a same-origin one.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused: state-changing calls come from scripts and curl, not from web pages of other sites"})
	}))
	routed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !apimux.Routed(mux, r) {
			apimux.ServeUnrouted(mux, w, r, "GET / for the list, docs/configuration.md for the API")
			return
		}
		mux.ServeHTTP(w, r)
	})
	return hostGuard(o.Loopback, cop.Handler(routed))
}

type api struct{ o Options }

// index lists the endpoints; a browser is sent to the dashboard.
func (a *api) index(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"service": "tether admin API",
		"endpoints": []string{
			"GET /healthz", "GET /metrics", "GET /api/v1/target-groups",
			"POST /api/v1/target-groups/{group}/targets/{id}/drain",
			"POST /api/v1/target-groups/{group}/targets/{id}/undrain",
			"POST /api/v1/reload",
			"GET /api/v1/edges",
			"POST /api/v1/edges/{name}/invalidations",
			"GET /dashboard/",
			"GET /debug/pprof/",
		},
	})
}

func (a *api) groups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"target_groups": a.o.LB.Snapshot()})
}

// edges reports every edge cache, by name.
func (a *api) edges(w http.ResponseWriter, r *http.Request) {
	out := make([]edge.Status, 0, len(a.o.Edges))
	for _, name := range slices.Sorted(maps.Keys(a.o.Edges)) {
		out = append(out, a.o.Edges[name].Status())
	}
	writeJSON(w, http.StatusOK, map[string]any{"edges": out})
}

func (a *api) drain(w http.ResponseWriter, r *http.Request) {
	g, id := r.PathValue("group"), r.PathValue("id")
	left, err := a.o.LB.Drain(g, id)
	if err != nil {
		writeError(w, err)
		return
	}
	a.o.Logger.Info("drain requested", "group", g, "target", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusAccepted, map[string]any{
		"group": g, "target": id, "state": lb.StateDraining, "drain_remaining_seconds": left.Seconds(),
	})
}

func (a *api) undrain(w http.ResponseWriter, r *http.Request) {
	g, id := r.PathValue("group"), r.PathValue("id")
	if err := a.o.LB.Undrain(g, id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": g, "target": id, "state": "active"})
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	if a.o.Reload == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "reload is not available"})
		return
	}
	if err := a.o.Reload(r.Context()); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": "reload refused; the running configuration is unchanged", "problems": config.Problems(err),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

// invalidationRequest is the body of POST /api/v1/edges/{name}/invalidations,
// after CloudFront's CreateInvalidation: the paths are patterns where *
// matches any run of characters, such as /images/* or /index.html.
type invalidationRequest struct {
	Paths  []string `json:"paths"`
	Tenant string   `json:"tenant"` // "" for every tenant
}

// maxInvalidationPaths bounds one invalidation request, as CloudFront's
// 3000 paths per request.
const maxInvalidationPaths = 3000

func (a *api) invalidate(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	e, ok := a.o.Edges[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no edge named " + name})
		return
	}
	var req invalidationRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil {
		err = jsonstrict.Decode(body, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error() + ` (send {"paths": ["/images/*"]})`})
		return
	}
	if len(req.Paths) == 0 || len(req.Paths) > maxInvalidationPaths {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "paths: give 1 to 3000 path patterns, such as /images/* or /index.html"})
		return
	}
	if req.Tenant != "" && e.Status().Tenant == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "tenant: edge " + name + " has no tenants (no tenant block in its config); leave tenant out"})
		return
	}
	for _, p := range req.Paths {
		if err := cachestore.ValidatePattern(p); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "paths: " + err.Error()})
			return
		}
	}
	n := e.Invalidate(req.Tenant, req.Paths)
	a.o.Logger.Info("edge invalidation", "edge", name, "paths", len(req.Paths), "objects", n, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusCreated, map[string]any{"edge": name, "paths": req.Paths, "invalidated": n})
}

// writeError is the one place that maps admin errors to statuses.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, lb.ErrUnknownGroup) || errors.Is(err, lb.ErrUnknownTarget) {
		code = http.StatusNotFound
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
