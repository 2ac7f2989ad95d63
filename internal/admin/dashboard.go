package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// dashboardFiles are the dashboard's page, script and style sheet: a
// static page that polls the admin API (GET /api/v1/target-groups and
// /api/v1/edges) once a second and draws what it gets.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardPolicy confines the page to its own files and the admin API:
// no inline script, no other origin, no framing.
const dashboardPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handleDashboard routes GET /dashboard/ and each of the dashboard's files
// on mux: any other path under /dashboard/ is unrouted, and gets the API's
// JSON 404.
func handleDashboard(mux *http.ServeMux) {
	h := dashboard()
	mux.Handle("GET /dashboard/{$}", h)
	entries, err := dashboardFiles.ReadDir("dashboard")
	if err != nil {
		panic(err) // the embedded directory is there at build time
	}
	for _, e := range entries {
		mux.Handle("GET /dashboard/"+e.Name(), h) // index.html: FileServer redirects it to /dashboard/
	}
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
}

// dashboard serves the files under /dashboard/.
func dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embedded directory is there at build time
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
