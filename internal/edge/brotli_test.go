package edge_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// The edge compresses with brotli when the behavior compresses, the cache
// policy keys brotli and the client accepts it; else with gzip.
func TestEdgeCompressesWithBrotli(t *testing.T) {
	body := strings.Repeat("tether brotli ", 300)
	for _, tc := range []struct {
		name, policy, accept, want string
	}{
		{"brotli keyed, both accepted", "gzip: true, brotli: true", "gzip, br", "br"},
		{"brotli keyed, gzip only", "gzip: true, brotli: true", "gzip", "gzip"},
		{"brotli not keyed", "gzip: true, brotli: false", "br, gzip", "gzip"},
		{"br refused with q=0", "gzip: true, brotli: true", "br;q=0, gzip", "gzip"},
		{"identity", "gzip: true, brotli: true", "identity", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, `
behaviors:
  - path: "*"
    compress: true
    cache: {min_ttl: 0s, default_ttl: 24h, max_ttl: 8760h, `+tc.policy+`}
`)
			e.origin.set(answer(200, body, "Cache-Control: max-age=600", "Content-Type: text/plain"))
			for range 2 { // the miss, then the hit
				r := e.get("/doc.txt", "Accept-Encoding: "+tc.accept)
				if got := r.header.Get("Content-Encoding"); got != tc.want {
					t.Fatalf("Content-Encoding %q, want %q (%s)", got, tc.want, r.cacheStatus())
				}
				var dec io.Reader = strings.NewReader(r.body)
				switch tc.want {
				case "br":
					dec = brotli.NewReader(dec)
				case "gzip":
					zr, err := gzip.NewReader(dec)
					if err != nil {
						t.Fatal(err)
					}
					dec = zr
				}
				got, err := io.ReadAll(dec)
				if err != nil || !bytes.Equal(got, []byte(body)) {
					t.Fatalf("decoded body: %d bytes, %v; want the original %d", len(got), err, len(body))
				}
				if tc.want != "" && len(r.body) >= len(body) {
					t.Errorf("%s body of %d bytes is not smaller than the original %d", tc.want, len(r.body), len(body))
				}
			}
		})
	}
}
