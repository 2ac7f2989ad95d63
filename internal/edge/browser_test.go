package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// appPage is what every app server answers /app with: its name, and a
// script that fetches a cached stylesheet and then asks twice which server
// answers, as a page's own requests would, each line with the response's
// Cache-Status.
const appPage = `<!doctype html>
<html><head><title>app</title></head><body>
<p id="served">%s</p>
<pre id="log"></pre>
<script>
(async () => {
  const lines = [];
  for (const path of ["/static/app.css", "/whoami", "/whoami"]) {
    const r = await fetch(path);
    lines.push(path + " " + (await r.text()).trim() + " | " + (r.headers.get("Cache-Status") || ""));
  }
  document.getElementById("log").textContent = lines.join("\n");
})();
</script>
</body></html>
`

// appServer is one target of the browser test: an app that says which
// server it is on its page and at /whoami, and serves a stylesheet a
// CDN may cache for an hour.
func appServer(t *testing.T, id string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			io.WriteString(w, "ok")
		case "/app":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprintf(w, appPage, id)
		case "/whoami":
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, id)
		case "/static/app.css":
			w.Header().Set("Content-Type", "text/css")
			w.Header().Set("Cache-Control", "max-age=3600")
			fmt.Fprintf(w, "/* served by %s */ body { margin: 0 }", id)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

var (
	servedRE = regexp.MustCompile(`<p id="served">(\w+)</p>`)
	logRE    = regexp.MustCompile(`(?s)<pre id="log">(.*?)</pre>`)
	cssRE    = regexp.MustCompile(`served by (\w+)`)
)

// pageLoad is what one load of /app showed in the browser.
type pageLoad struct {
	served string   // the server that rendered the page
	css    string   // the server whose stylesheet the page got
	status string   // the stylesheet's Cache-Status
	whoami []string // the servers that answered the page's /whoami requests
}

func parsePageLoad(t *testing.T, dom string) pageLoad {
	t.Helper()
	m, lg := servedRE.FindStringSubmatch(dom), logRE.FindStringSubmatch(dom)
	if m == nil || lg == nil {
		t.Fatalf("the page did not render:\n%s", dom)
	}
	p := pageLoad{served: m[1]}
	lines := strings.Split(strings.TrimSpace(lg[1]), "\n")
	if len(lines) != 3 {
		t.Fatalf("the page's script did not finish its three requests: %q", lg[1])
	}
	for _, line := range lines {
		path, rest, _ := strings.Cut(line, " ")
		body, status, _ := strings.Cut(rest, " | ")
		switch path {
		case "/static/app.css":
			if c := cssRE.FindStringSubmatch(body); c != nil {
				p.css = c[1]
			}
			p.status = status
		case "/whoami":
			p.whoami = append(p.whoami, body)
		}
	}
	return p
}

// TestAffinityThroughTheEdgeInChromium is TestAffinityThroughTheEdge in a
// real browser: headless Chromium, one profile per person, loads a page
// through the edge in front of a sticky load balancer. Each browser stays
// on the server it was first sent to, for the page's own requests and
// across page loads (the browser keeps the load balancer's cookie), while
// the stylesheet they all get is one cached copy: the cached response
// neither carries one browser's cookie to the others nor moves the browser
// that fetches it.
func TestAffinityThroughTheEdgeInChromium(t *testing.T) {
	addrs := map[string]string{}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("s%d", i)
		addrs[id] = appServer(t, id)
	}
	url := stickyEdgeAt(t, addrs) + "/app"

	const people = 4
	seen := map[string]bool{}
	cssFrom := ""
	for i := range people {
		b := ts.NewBrowser(t)
		first := parsePageLoad(t, b.DumpDOM(url, 2*time.Second))
		t.Logf("browser %d: page from %s, stylesheet from %s (%s), /whoami from %v", i, first.served, first.css, first.status, first.whoami)
		for _, w := range first.whoami {
			if w != first.served {
				t.Errorf("browser %d: the page came from %s, its own request from %s", i, first.served, w)
			}
		}
		if cssFrom == "" {
			cssFrom = first.css
		}
		if first.css != cssFrom {
			t.Errorf("browser %d got the stylesheet of %s, not the copy of %s the edge stored", i, first.css, cssFrom)
		}
		if i > 0 && !strings.Contains(first.status, "hit") {
			t.Errorf("browser %d: the stylesheet was not a hit: Cache-Status %q", i, first.status)
		}
		again := parsePageLoad(t, b.DumpDOM(url, 2*time.Second))
		if again.served != first.served || strings.Join(again.whoami, ",") != first.served+","+first.served {
			t.Errorf("browser %d moved on its next page load: from %s to %s (/whoami %v)", i, first.served, again.served, again.whoami)
		}
		seen[first.served] = true
	}
	if len(seen) < 2 {
		t.Errorf("%d browsers all landed on %v: something pinned them to one server", people, seen)
	}
}
