// Package apimux gives a JSON API built on http.ServeMux the JSON answers
// the mux itself does not write: its 404 for an unknown endpoint and its
// 405 for a known one asked with another method are plain text.
package apimux

import (
	"encoding/json"
	"net/http"
)

// Routed reports whether mux has a route for r.
func Routed(mux *http.ServeMux, r *http.Request) bool {
	_, pattern := mux.Handler(r)
	return pattern != ""
}

// ServeUnrouted answers r, which mux has no route for, as mux would (404,
// or 405 with Allow), but with {"error": "…"} as JSON and Cache-Control:
// no-store. docs names where the endpoints are listed.
func ServeUnrouted(mux *http.ServeMux, w http.ResponseWriter, r *http.Request, docs string) {
	mux.ServeHTTP(&jsonErrors{ResponseWriter: w, docs: docs}, r)
}

// jsonErrors answers the status the mux writes with its own body, and
// drops the mux's text.
type jsonErrors struct {
	http.ResponseWriter
	docs  string
	wrote bool
}

func (j *jsonErrors) WriteHeader(code int) {
	if j.wrote {
		return
	}
	j.wrote = true
	msg := "no such endpoint (see " + j.docs + ")"
	if code == http.StatusMethodNotAllowed {
		msg = "method not allowed here (allowed: " + j.Header().Get("Allow") + ")"
	}
	h := j.Header()
	h.Del("X-Content-Type-Options")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	j.ResponseWriter.WriteHeader(code)
	json.NewEncoder(j.ResponseWriter).Encode(map[string]string{"error": msg}) //nolint:errcheck // the client went away
}

func (j *jsonErrors) Write(p []byte) (int, error) {
	if !j.wrote {
		j.WriteHeader(http.StatusNotFound)
	}
	return len(p), nil
}
