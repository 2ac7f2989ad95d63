package probe_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/probe"
)

// FuzzAnalyzeSetCookie feeds hostile Set-Cookie header values to the
// cookie analysis: it never panics, every warning names a known code and
// carries a message, a found address is printable and short, and the result
// encodes as JSON. The seed corpus is in testdata/fuzz/FuzzAnalyzeSetCookie.
func FuzzAnalyzeSetCookie(f *testing.F) {
	f.Add("TETHER=v1.abc; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax")
	f.Add("SRV=s1; path=/")
	f.Fuzz(func(t *testing.T, line string) {
		c, ws := probe.AnalyzeSetCookie(line, now)
		known := map[string]bool{probe.WarnSameSiteNoneInsecure: true, probe.WarnAffinityNoHTTPOnly: true,
			probe.WarnRevealsAddress: true, probe.WarnMalformed: true}
		for _, w := range ws {
			if !known[w.Code] || w.Message == "" {
				t.Fatalf("warning %+v: unknown code or no message", w)
			}
		}
		if (c.RevealsAddress == "") != (c.AddressEncoding == "") {
			t.Fatalf("address %q with encoding %q", c.RevealsAddress, c.AddressEncoding)
		}
		if len(c.RevealsAddress) > len(line)+64 || strings.ContainsAny(c.RevealsAddress, "\x00\r\n") {
			t.Fatalf("address %q from %q", c.RevealsAddress, line)
		}
		if c.Malformed && (c.Secure || c.HTTPOnly || c.RevealsAddress != "") {
			t.Fatalf("malformed cookie with attributes: %+v", c)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("json: %v", err)
		}
	})
}
