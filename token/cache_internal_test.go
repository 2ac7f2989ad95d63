package token

import (
	"testing"
	"time"
)

// A hash collision in the verified-token cache is a miss, never another
// token's claims.
func TestCacheCollisionIsAMiss(t *testing.T) {
	c := newCache(100)
	now := time.Unix(1_800_000_000, 0)
	k := c.key("token-a")
	c.put(k, &cacheEntry{raw: "token-a", claims: &Claims{Subject: "alice"}, expires: now.Add(time.Minute)})
	if e := c.get(k, "token-a", now); e == nil || e.claims.Subject != "alice" {
		t.Fatalf("get of the stored token = %v", e)
	}
	if e := c.get(k, "token-b", now); e != nil {
		t.Errorf("a different token under the same key got %q's claims", e.claims.Subject)
	}
	if e := c.get(k, "token-a", now.Add(time.Minute)); e != nil {
		t.Error("an expired entry was served")
	}
	if c.key("token-a") == newCache(100).key("token-a") {
		t.Error("two caches hash with the same seed")
	}
}
