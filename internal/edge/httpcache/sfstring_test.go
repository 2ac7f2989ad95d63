package httpcache

import "strings"

// sfString writes s to b as a String, as AppendCacheStatusMember does (for
// the fuzz tests).
func sfString(b *strings.Builder, s string) {
	b.Write(appendSFString(nil, s))
}
