package httpcache

import (
	"net/http"
	"testing"
)

// TestCacheStatusRows renders every row of spec §2.13's table.
func TestCacheStatusRows(t *testing.T) {
	tests := []struct {
		name string
		p    StatusParams
		want string
	}{
		{"fresh hit", StatusParams{Hit: true, TTL: 287 * s, HasTTL: true}, "edge; hit; ttl=287"},
		{"stale hit under swr", StatusParams{Hit: true, TTL: -4 * s, HasTTL: true, Detail: ReasonStaleWhileRevalidate},
			"edge; hit; ttl=-4; detail=stale-while-revalidate"},
		{"miss, stored", StatusParams{Fwd: FwdURIMiss, FwdStatus: 200, Stored: Yes, TTL: 300 * s, HasTTL: true},
			"edge; fwd=uri-miss; fwd-status=200; stored; ttl=300"},
		{"miss, not stored", StatusParams{Fwd: FwdURIMiss, FwdStatus: 200, Stored: No, Detail: ReasonSetCookie},
			"edge; fwd=uri-miss; fwd-status=200; stored=?0; detail=set-cookie"},
		{"variant miss", StatusParams{Fwd: FwdVary, FwdStatus: 200, Stored: Yes, TTL: 60 * s, HasTTL: true},
			"edge; fwd=vary-miss; fwd-status=200; stored; ttl=60"},
		{"collapsed waiter, reused", StatusParams{Fwd: FwdURIMiss, Collapsed: Yes, FwdStatus: 200},
			"edge; fwd=uri-miss; collapsed; fwd-status=200"},
		{"collapsed waiter, not reusable", StatusParams{Fwd: FwdURIMiss, Collapsed: No, FwdStatus: 200, Stored: No, Detail: ReasonSetCookie},
			"edge; fwd=uri-miss; collapsed=?0; fwd-status=200; stored=?0; detail=set-cookie"},
		{"revalidated", StatusParams{Fwd: FwdStale, FwdStatus: 304, TTL: 300 * s, HasTTL: true},
			"edge; fwd=stale; fwd-status=304; ttl=300"},
		{"stale-if-error", StatusParams{Fwd: FwdStale, FwdStatus: 503, Detail: ReasonStaleIfError},
			"edge; fwd=stale; fwd-status=503; detail=stale-if-error"},
		{"method bypass", StatusParams{Fwd: FwdMethod}, "edge; fwd=method"},
		{"config bypass", StatusParams{Fwd: FwdBypass, Detail: ReasonAmbiguousPath}, "edge; fwd=bypass; detail=ambiguous-path"},
		{"request bypass", StatusParams{Fwd: FwdRequest, Detail: ReasonCredential}, "edge; fwd=request; detail=credential"},
		{"debug key", StatusParams{Hit: true, Key: `GET|h|/p|session=ab12 "q"\`}, `edge; hit; key="GET|h|/p|session=ab12 \"q\"\\"`},
		{"non-token detail", StatusParams{Fwd: FwdBypass, Detail: "two words"}, `edge; fwd=bypass; detail="two words"`},
		{"non-ASCII escaped", StatusParams{Detail: "café"}, `edge; detail="caf%c3%a9"`},
		{"invalid fwd left out", StatusParams{Fwd: "not a token"}, "edge"},
		{"ttl truncated toward zero", StatusParams{TTL: -4500 * 1e6, HasTTL: true}, "edge; ttl=-4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CacheStatus("edge", tt.p)
			if got != tt.want {
				t.Errorf("CacheStatus = %s\n          want %s", got, tt.want)
			}
			if _, err := parseSFList(got); err != nil {
				t.Errorf("%s is not a valid Structured Fields List: %v", got, err)
			}
		})
	}
	if got := CacheStatus("my cache", StatusParams{Hit: true}); got != `"my cache"; hit` {
		t.Errorf("a name that is not a token: %s", got)
	}
}

func TestAppendCacheStatus(t *testing.T) {
	h := http.Header{}
	AppendCacheStatus(h, "edge; hit")
	if got := h.Values("Cache-Status"); len(got) != 1 || got[0] != "edge; hit" {
		t.Errorf("no upstream: %q", got)
	}
	h = http.Header{"Cache-Status": {"origin; fwd=miss", "shield; hit"}}
	AppendCacheStatus(h, "edge; hit")
	if got := h.Values("Cache-Status"); len(got) != 1 || got[0] != "origin; fwd=miss, shield; hit, edge; hit" {
		t.Errorf("upstream kept in order, edge last: %q", got)
	}
}
