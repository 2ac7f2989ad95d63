package edge

import "github.com/tetherlb/tether/internal/edge/httpcache"

// statusMember is the edge's Cache-Status member for x (RFC 9211), with the
// debug key (values HMAC'd) when debug_key is on.
func (e *Edge) statusMember(x *exchange) string {
	return string(e.appendStatusMember(nil, x))
}

// appendStatusMember appends statusMember to dst.
func (e *Edge) appendStatusMember(dst []byte, x *exchange) []byte {
	p := x.status
	if e.debugKey && x.b != nil && x.key != "" {
		p.Key = e.displayKey(x)
	}
	return httpcache.AppendCacheStatusMember(dst, e.name, p)
}
