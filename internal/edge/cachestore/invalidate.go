package cachestore

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tetherlb/tether/internal/glob"
)

// URI names the URI an object was stored for: every behavior, variant
// and keyed cookie or header value of one URI shares it. Path is the raw
// escaped path, Query the raw query as keyed ("" for none).
type URI struct {
	Tenant, Host, Path, Query string
}

// Ref returns what finds o in a Store: its key and its URI.
func (o *Object) Ref() Ref {
	return Ref{Key: o.Key, URI: URI{o.Tenant, o.Host, o.Path, o.Query}}
}

// InvalidateURI removes every object stored for exactly this tenant, host,
// raw path and raw query, across behaviors and variants, and returns how
// many it removed: the invalidation RFC 9111 §4.4 requires after a
// successful unsafe request. Objects of another tenant with the same host
// and path are kept.
func (s *Store) InvalidateURI(u URI) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	uh := s.uriHash(u)
	s.fenceURILocked(uh)
	sh := s.shard(uh)
	var doomed []*entry
	sh.mu.RLock()
	for e := range sh.m[uh].all() {
		if e.obj.Ref().URI == u {
			doomed = append(doomed, e)
		}
	}
	sh.mu.RUnlock()
	for _, e := range doomed {
		s.removeLocked(e)
	}
	s.invalidated.Add(uint64(len(doomed)))
	return len(doomed)
}

// matchesAny reports whether one of the invalidation patterns ps matches
// u's raw path, followed by "?" and its raw query when it has one.
func matchesAny(ps []*glob.Star, u URI) bool {
	target := u.Path
	if u.Query != "" {
		target += "?" + u.Query
	}
	for _, p := range ps {
		if p.Match(target) {
			return true
		}
	}
	return false
}

// MaxPatternLen is the longest invalidation path Invalidate accepts, as in
// CloudFront.
const MaxPatternLen = 4000

// ValidatePattern reports whether p is an invalidation path Invalidate
// accepts: non-empty, at most MaxPatternLen bytes, without control
// characters or spaces. A missing leading slash is allowed (CloudFront's
// console adds it).
func ValidatePattern(p string) error {
	if p == "" {
		return errors.New("invalidation path is empty")
	}
	if n := len(p) + btoi(!strings.HasPrefix(p, "/")); n > MaxPatternLen { // with the "/" it gets
		return fmt.Errorf("invalidation path is %d bytes with its leading slash (at most %d)", n, MaxPatternLen)
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] == 0x7f {
			return fmt.Errorf("invalidation path %q contains a control character or space at byte %d (URL-encode it)", p, i)
		}
	}
	return nil
}

// Invalidate removes the objects whose URI matches one of patterns, in
// tenant ("" means every tenant), and returns how many it removed.
//
// Patterns are CloudFront invalidation paths, matched case-sensitively
// against the object's raw escaped path followed by "?" and its raw query
// when it has one: "/index.html" removes the object stored for
// /index.html without a query; "/search?q=a" one query string; "/images/*"
// everything under /images/ whatever its query; "/*" everything. A "*"
// matches any run of bytes, "/" and "?" included. CloudFront accepts "*"
// only as the last character; here it may appear anywhere
// ("/img/*.jpg"). "?" is literal (the query separator), unlike in behavior
// path patterns. A pattern without a leading "/" gets one. Patterns that
// fail ValidatePattern match nothing.
//
// Invalidate visits every stored object once, a shard at a time. It
// holds a shard's lock only to list the shard's objects (no pattern is
// matched under it) and the policy lock only to record the invalidation
// (see fence.go) and to remove each shard's matches, so misses are stored
// and hits served while it matches thousands of patterns against a large
// store. An object stored meanwhile from a fetch that started after the
// invalidation is the origin's content since, and is kept; one from an
// earlier fetch is refused by the fence.
func (s *Store) Invalidate(tenant string, patterns []string) int {
	ps := make([]*glob.Star, 0, len(patterns))
	for _, p := range patterns {
		if ValidatePattern(p) != nil {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		ps = append(ps, glob.CompileStar(escapeNonASCII(p)))
	}
	if len(ps) == 0 {
		return 0
	}
	s.mu.Lock()
	gen := s.fencePatternsLocked(tenant, ps)
	s.mu.Unlock()
	removed := 0
	var listed, doomed []listedEntry
	for i := range s.shards {
		sh := &s.shards[i]
		listed, doomed = listed[:0], doomed[:0]
		sh.mu.RLock()
		for _, sl := range sh.m {
			for e := range sl.all() {
				if o := e.obj; o.Generation < gen && (tenant == "" || o.Tenant == tenant) {
					listed = append(listed, listedEntry{e, o})
				}
			}
		}
		sh.mu.RUnlock()
		if s.listed != nil {
			s.listed(i)
		}
		for _, st := range listed {
			if matchesAny(ps, st.obj.Ref().URI) { // an object's URI never changes
				doomed = append(doomed, st)
			}
		}
		if len(doomed) > 0 {
			removed += s.removeStored(doomed)
		}
		clear(listed) // the next shard's list holds no object of this one
		if s.scanned != nil {
			s.scanned(i)
		}
	}
	s.invalidated.Add(uint64(removed))
	return removed
}

// listedEntry is an entry with the object it held when it was listed.
type listedEntry struct {
	e   *entry
	obj *Object
}

// removeStored removes the entries of es that still hold the object they
// were listed with (an eviction, a deletion or a newer version may have
// taken one since) and returns how many it removed.
func (s *Store) removeStored(es []listedEntry) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range es {
		if st.e.obj == st.obj { // every write of e.obj holds s.mu
			s.removeLocked(st.e)
			n++
		}
	}
	return n
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// escapeNonASCII writes each byte of p above 0x7F as %XX, upper case,
// as the path of a request that sent it raw is stored (and as CloudFront
// asks invalidation paths to be written): "/café" is "/caf%C3%A9".
func escapeNonASCII(p string) string {
	i := strings.IndexFunc(p, func(r rune) bool { return r >= utf8.RuneSelf })
	if i < 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	b := []byte(p[:i])
	for j := i; j < len(p); j++ {
		if c := p[j]; c >= utf8.RuneSelf {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
