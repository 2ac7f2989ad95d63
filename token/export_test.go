package token

import "time"

// SignatureChecks returns how many signatures v has verified (or tried to).
func SignatureChecks(v *Verifier) int64 { return v.sigChecks.Load() }

// NextRefresh returns when v's key set is next due for a refresh.
func NextRefresh(v *Verifier) time.Time { return time.Unix(0, v.nextRefresh.Load()).UTC() }

// WaitFetch waits for the key-set fetch in progress, if any, to finish.
func WaitFetch(v *Verifier) {
	v.mu.Lock()
	f := v.flight
	v.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// CacheLen returns the number of entries in v's verified-token cache.
func CacheLen(v *Verifier) int { return v.cache.len() }

// MemoizedHeaders returns the number of headers v has memoized.
func MemoizedHeaders(v *Verifier) int {
	v.headers.mu.RLock()
	defer v.headers.mu.RUnlock()
	return len(v.headers.m)
}
