package admin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/admin"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// TestDashboardHungAPI: an admin API that takes a request and never
// answers shows as disconnected, with what went wrong, once the page's
// 4-second fetch timeout passes, rather than as live with old figures.
//
// Chromium's virtual time (DumpDOM) stands still while a fetch is
// pending, so this runs in real time: the page copy holds an image that
// takes 6 s, and Chromium dumps the DOM once the page has loaded.
func TestDashboardHungAPI(t *testing.T) {
	l, _ := startApp(t, 1, 1)
	api := admin.Handler(admin.Options{LB: l, Registry: l.Registry()})
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /api/v1/target-groups", func(w http.ResponseWriter, r *http.Request) {
		select { // hung: no answer until the page gives up, or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("GET /dashboard/slow.html", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", "/dashboard/", nil))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, strings.Replace(rec.Body.String(), "</body>", `<img src="/slow.gif" alt=""></body>`, 1))
	})
	mux.HandleFunc("GET /slow.gif", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(6 * time.Second): // past the page's 4 s
		case <-release:
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	dom := ts.NewBrowser(t).DumpDOMLoaded(srv.URL + "/dashboard/slow.html")
	if !strings.Contains(dom, "Cannot reach the admin API: /api/v1/target-groups: no answer within 4 s") ||
		!strings.Contains(dom, "disconnected") {
		t.Errorf("the dashboard over a hung API does not say it is disconnected; DOM:\n%s", dom)
	}
}
