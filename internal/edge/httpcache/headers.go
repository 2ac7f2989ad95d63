package httpcache

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// VaryHeaders returns the field names the Vary header nominates,
// lowercased, deduplicated and sorted, and whether it contains "*". A
// member that is not a field name (`"Accept-Language"`, `a;b`) counts as
// "*": what the origin meant to vary on is unknown, so no response may
// stand for another.
func VaryHeaders(h http.Header) (names []string, star bool) {
	for _, line := range h.Values("Vary") {
		for _, n := range strings.Split(line, ",") {
			switch n = strings.ToLower(strings.Trim(n, " \t")); {
			case n == "*" || n != "" && !httpsyntax.IsToken(n):
				star = true
			case n != "" && !slices.Contains(names, n):
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names, star
}

// SplitSetCookie partitions the response's Set-Cookie lines into those
// whose cookie name isInfra reports as a load-balancer (infrastructure)
// cookie and the others (spec §2.9). A line without a valid name=value
// pair counts as other, so it can only make a response less storable.
// isInfra nil means no cookie is infrastructure.
func SplitSetCookie(h http.Header, isInfra func(name string) bool) (infra, other []string) {
	for _, line := range h.Values("Set-Cookie") {
		name, _, ok := strings.Cut(line, "=")
		name = strings.Trim(name, " \t")
		if ok && isInfra != nil && httpsyntax.IsToken(name) && isInfra(name) {
			infra = append(infra, line)
		} else {
			other = append(other, line)
		}
	}
	return infra, other
}

// StoredHeader returns a copy of h without the fields in omit (canonical
// names, such as Decision.OmitFields). Hop-by-hop fields are the caller's
// to remove.
func StoredHeader(h http.Header, omit []string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, name := range omit {
		delete(out, name)
	}
	return out
}
