package lb_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ts "github.com/tetherlb/tether/internal/testsupport"
)

// BenchmarkProxy measures a whole round trip client → tether → target on
// loopback, in one process (client, proxy and target share the CPUs), for
// each stickiness mode on its "kept binding" path. Compare with
// BenchmarkDirect for the cost tether adds. bench/run.sh compares against
// HAProxy, NGINX and Caddy.
func BenchmarkProxy(b *testing.B) {
	for _, mode := range []string{"none", "lb_cookie", "header", "source_ip"} {
		b.Run(mode, func(b *testing.B) {
			var targets []*ts.Target
			for i := 1; i <= 3; i++ {
				targets = append(targets, leanTarget(b, "t"+string(rune('0'+i))))
			}
			y := groupYAML(targets, "    stickiness: {type: "+mode+", header_name: X-Affinity}\n")
			y = strings.Replace(y, "    target_header: X-Tether-Target\n", "", 1)
			l := ts.StartLB(b, y)
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			c := &http.Client{Transport: tr}
			resp, err := c.Get(l.URL + "/")
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			var hdr, val string
			if ck := resp.Header.Get("Set-Cookie"); ck != "" {
				hdr, val = "Cookie", strings.Split(ck, ";")[0]
			}
			if v := resp.Header.Get("X-Affinity"); v != "" {
				hdr, val = "X-Affinity", v
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", l.URL+"/", nil)
					if hdr != "" {
						req.Header.Set(hdr, val)
					}
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// leanTarget is a target that answers "ok" and records nothing, so that
// the benchmark measures the proxy, not the test target's bookkeeping.
func leanTarget(b *testing.B, id string) *ts.Target {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	return &ts.Target{ID: id, Addr: srv.Listener.Addr().String()}
}

// BenchmarkDirect is the same round trip without tether.
func BenchmarkDirect(b *testing.B) {
	tg := leanTarget(b, "t1")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get("http://" + tg.Addr + "/")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
