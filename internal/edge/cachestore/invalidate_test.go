package cachestore

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tetherlb/tether/internal/glob"
)

// stored returns an object of tenant for host, path and query, in variant.
func stored(tenant, host, path, query, variant string) *Object {
	o := object(tenant+"|"+host+path+"?"+query, 10)
	o.Tenant, o.Host, o.Path, o.Query, o.Variant = tenant, host, path, query, variant
	return o
}

func TestInvalidateURIExact(t *testing.T) {
	s := New(Options{})
	objs := []*Object{
		stored("t1", "a.example", "/cart", "", ""),
		stored("t1", "a.example", "/cart", "", "gzip"), // another variant: invalidated
		stored("t2", "a.example", "/cart", "", ""),     // another tenant: kept
		stored("t1", "b.example", "/cart", "", ""),     // another host: kept
		stored("t1", "a.example", "/cart", "x=1", ""),  // another query: kept
		stored("t1", "a.example", "/cart/", "", ""),    // another path: kept
		stored("t1", "a.example", "/Cart", "", ""),     // case differs: kept
	}
	// The same URI under another behavior is another primary key.
	other := stored("t1", "a.example", "/cart", "", "")
	other.Key = key("behavior-2")
	objs = append(objs, other)
	for _, o := range objs {
		if !s.Put(o) {
			t.Fatalf("Put(%s %s) refused", o.Tenant, o.Path)
		}
	}
	if n := s.InvalidateURI(URI{"t1", "a.example", "/cart", ""}); n != 3 {
		t.Fatalf("InvalidateURI removed %d objects, want 3 (two variants and the other behavior's)", n)
	}
	for i, o := range objs {
		_, ok := s.Get(o.Ref(), func(c *Object) bool { return c == o })
		if want := !(i <= 1 || o == other); ok != want {
			t.Errorf("object %d (%s %s%s?%s %q): present %v, want %v", i, o.Tenant, o.Host, o.Path, o.Query, o.Variant, ok, want)
		}
	}
	if st := s.Stats(); st.Invalidated != 3 {
		t.Errorf("Invalidated = %d, want 3", st.Invalidated)
	}
	checkInvariants(t, s)
}

func TestInvalidatePatterns(t *testing.T) {
	paths := []struct{ tenant, path, query string }{
		{"t1", "/index.html", ""},
		{"t1", "/images/a.jpg", ""},
		{"t1", "/images/sub/b.png", ""},
		{"t1", "/images/a.jpg", "w=100"},
		{"t1", "/imagesX", ""},
		{"t1", "/caf%C3%A9", ""},
		{"t2", "/images/a.jpg", ""},
	}
	tests := []struct {
		name     string
		tenant   string
		patterns []string
		want     []int // indexes of paths removed
	}{
		{"exact file", "t1", []string{"/index.html"}, []int{0}},
		{"exact path without its query", "t1", []string{"/images/a.jpg"}, []int{1}},
		{"exact path and query", "t1", []string{"/images/a.jpg?w=100"}, []int{3}},
		{"directory", "t1", []string{"/images/*"}, []int{1, 2, 3}},
		{"prefix", "t1", []string{"/images*"}, []int{1, 2, 3, 4}},
		{"every query of a file", "t1", []string{"/images/a.jpg*"}, []int{1, 3}},
		{"star inside", "t1", []string{"/images/*.png"}, []int{2}},
		{"everything in a tenant", "t1", []string{"/*"}, []int{0, 1, 2, 3, 4, 5}},
		{"every tenant", "", []string{"/images/a.jpg"}, []int{1, 6}},
		{"leading slash optional", "t1", []string{"index.html"}, []int{0}},
		{"case-sensitive", "t1", []string{"/INDEX.HTML", "/Images/*"}, nil},
		{"escaped as stored", "t1", []string{"/caf%C3%A9"}, []int{5}},
		{"question mark is literal", "t1", []string{"/index.htm?"}, nil},
		{"several patterns", "t1", []string{"/index.html", "/images/sub/*"}, []int{0, 2}},
		{"invalid patterns match nothing", "", []string{"", "/a b"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			objs := make([]*Object, len(paths))
			for i, p := range paths {
				objs[i] = stored(p.tenant, "h", p.path, p.query, "")
				s.Put(objs[i])
			}
			if n := s.Invalidate(tt.tenant, tt.patterns); n != len(tt.want) {
				t.Errorf("Invalidate removed %d, want %d", n, len(tt.want))
			}
			gone := map[int]bool{}
			for _, i := range tt.want {
				gone[i] = true
			}
			for i, o := range objs {
				if _, ok := s.Get(o.Ref(), nil); ok == gone[i] {
					t.Errorf("%s %s?%s: present %v, want %v", o.Tenant, o.Path, o.Query, ok, !gone[i])
				}
			}
			checkInvariants(t, s)
		})
	}
}

// TestInvalidateDuringStores checks that a pattern invalidation does not
// hold the store while it scans: halfway through, a miss's object is
// stored (Add returns while the scan is still running). An object whose
// fetch began before the invalidation is refused, and objects whose fetch
// began after it are kept, in the shards scanned before and after.
func TestInvalidateDuringStores(t *testing.T) {
	s := New(Options{})
	var old []*Object
	for i := range 2000 {
		o := stored("", "h", fmt.Sprint("/a/", i), "", "")
		o.Generation = s.Generation()
		old = append(old, o)
		s.Put(o)
	}
	kept := stored("", "h", "/b", "", "")
	s.Put(kept)
	before := s.Generation()
	var late []*Object
	s.scanned = func(shard int) {
		if shard != shardCount/2 {
			return
		}
		done := make(chan error, 1)
		go func() {
			pre := stored("", "h", "/a/pre", "", "")
			pre.Generation = before // fetched before the invalidation
			if err := s.Add(pre); !errors.Is(err, ErrInvalidated) {
				done <- fmt.Errorf("Add of an object fetched before the invalidation: %v, want ErrInvalidated", err)
				return
			}
			for i := range 64 {
				o := stored("", "h", fmt.Sprint("/a/late", i), "", "")
				o.Generation = s.Generation() // fetched after it
				if err := s.Add(o); err != nil {
					done <- fmt.Errorf("Add of an object fetched after the invalidation: %v", err)
					return
				}
				late = append(late, o)
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Add waited for the whole invalidation scan")
		}
	}
	if n := s.Invalidate("", []string{"/a/*"}); n != len(old) {
		t.Errorf("Invalidate removed %d, want %d", n, len(old))
	}
	for _, o := range old {
		if _, ok := s.Get(o.Ref(), nil); ok {
			t.Fatalf("%s survived the invalidation", o.Path)
		}
	}
	if len(late) != 64 {
		t.Fatalf("%d late objects stored, want 64", len(late))
	}
	for _, o := range append(late, kept) {
		if _, ok := s.Get(o.Ref(), nil); !ok {
			t.Errorf("%s was removed; it was fetched after the invalidation, or does not match", o.Path)
		}
	}
	if st := s.Stats(); st.Invalidated != uint64(len(old)) || st.Objects != 65 {
		t.Errorf("stats %+v, want %d invalidated and 65 objects", st, len(old))
	}
	checkInvariants(t, s)
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"/a", "/a", true},
		{"/a", "/ab", false},
		{"/*", "/", true},
		{"/*", "/x/y?z", true},
		{"/a*", "/a", true},
		{"/a*c", "/abbbc", true},
		{"/a*c", "/abbbcd", false},
		{"/*/*.jpg", "/x/y/z.jpg", true},
		{"/*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"**", "", true},
		{"", "", true},
		{"", "/", false},
	}
	for _, tt := range tests {
		if got := glob.MatchStar(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchStar(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"/*", "/a%20b", "index.html", "/x?y=1", strings.Repeat("a", MaxPatternLen-1)} {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	long := "/" + string(make([]byte, MaxPatternLen))
	// Without its leading slash, a pattern of MaxPatternLen bytes would be
	// one longer once it has it.
	for _, p := range []string{"", "/a b", "/a\nb", long, strings.Repeat("a", MaxPatternLen)} {
		if ValidatePattern(p) == nil {
			t.Errorf("ValidatePattern(%.20q) accepted it", p)
		}
	}
}

// FuzzGlobMatch checks the invalidation matcher against a regular
// expression built from the same pattern: "*" is ".*", every other byte
// itself.
func FuzzGlobMatch(f *testing.F) {
	for _, seed := range [][2]string{{"/images/*", "/images/a.jpg"}, {"/*a*a*b", "/aaaa"}, {"*", ""}, {"/a?b", "/a?b"}, {"/x*y*", "/xyzy"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 || !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return // regexp needs UTF-8; paths are escaped ASCII anyway
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if got, want := glob.MatchStar(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("MatchStar(%q, %q) = %v, regexp says %v", pattern, s, got, want)
		}
	})
}

// TestInvalidateMatchesWithoutShardLock: the patterns are matched with no
// shard lock held (thousands of patterns against a large shard took
// seconds), so an object of the very shard being matched can be stored
// and found meanwhile.
func TestInvalidateMatchesWithoutShardLock(t *testing.T) {
	s := New(Options{})
	for i := range 500 {
		s.Put(stored("", "h", fmt.Sprint("/a/", i), "", ""))
	}
	s.listed = func(shard int) {
		if shard != shardCount/2 {
			return
		}
		var o *Object
		for i := 0; o == nil; i++ { // an object of the shard being matched
			c := stored("", "h", fmt.Sprint("/b/", i), "", "")
			c.Generation = s.Generation()
			if s.shard(s.uriHash(c.Ref().URI)) == &s.shards[shard] {
				o = c
			}
		}
		done := make(chan bool, 1)
		go func() {
			err := s.Add(o)
			_, found := s.Get(o.Ref(), nil)
			done <- err == nil && found
		}()
		select {
		case ok := <-done:
			if !ok {
				t.Error("an object of the shard being matched was not stored")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Add to the shard being matched waited for the match")
		}
	}
	if n := s.Invalidate("", []string{"/a/*"}); n != 500 {
		t.Errorf("Invalidate removed %d, want 500", n)
	}
	checkInvariants(t, s)
}
