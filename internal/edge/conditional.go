package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tetherlb/tether/internal/edge/cachestore"
	"github.com/tetherlb/tether/internal/edge/httpcache"
)

// Answers from a stored 200 to a client's preconditions and range (RFC
// 9110 §13 and §14), as CloudFront and NGINX give them: the edge never
// forwards If-None-Match, If-Modified-Since or Range unless a policy lists
// them, so the object is the full representation, and the edge answers
// from it:
//
//   - 304 when If-None-Match matches its ETag (weak comparison), or, with no
//     If-None-Match, when it was not modified since If-Modified-Since;
//   - 206 with one byte range (bytes=a-b, a-, -n), unless If-Range names
//     another ETag or date; 416 for a range that starts past the end;
//   - the whole object otherwise: several ranges, another unit or a range
//     that does not parse are ignored, as RFC 9110 §14.2 allows, and so is
//     any range on a response the edge compresses (stored compressed, or
//     compressed on the fly).

// wantsConditional reports whether r asks for a 304 or a range.
func wantsConditional(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	h := r.Header
	return len(h["If-None-Match"]) > 0 || len(h["If-Modified-Since"]) > 0 || len(h["Range"]) > 0
}

// serveConditional answers x from obj with 304, 206 or 416 when the
// request's headers call for it, and reports whether it did. src says
// where obj's body came from, for the byte counts: the cache, or the
// origin for an object a miss just stored.
func (e *Edge) serveConditional(w http.ResponseWriter, x *exchange, obj *cachestore.Object, age time.Duration, src source) bool {
	if obj.Status != http.StatusOK {
		return false
	}
	etag, lastModified := obj.Header.Get("ETag"), obj.Header.Get("Last-Modified")
	size := int64(len(obj.Body))
	// onTheFly: this client's 200 would be compressed by the edge, from a
	// body stored as it came.
	onTheFly := obj.Coding == "" && e.compression(x, http.Header{
		"Content-Type": {obj.Header.Get("Content-Type")}, "Content-Encoding": {obj.Header.Get("Content-Encoding")},
		"Cache-Control": {obj.Header.Get("Cache-Control")},
	}, size) != ""
	if obj.Coding != "" || onTheFly {
		etag = weakETag(etag) // as the client got it (codedFields)
	}
	if notModified(x.r.Header, etag, lastModified) {
		out := w.Header()
		vals := fillObjectHeader(out, obj, headerValues(w), 3)
		// RFC 9110 §15.4.5: no representation metadata beyond what
		// updates a cache; the ETag and Vary its 200 would carry.
		for _, k := range [...]string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range"} {
			delete(out, k)
		}
		if onTheFly {
			codedFields(out)
		}
		x.noGzip = true
		e.finishHeader(w, x, out, http.StatusNotModified, -1, int64(age/time.Second), vals)
		return true
	}
	if !strongLastModified(lastModified, obj.Header.Get("Date")) {
		lastModified = "" // If-Range takes no weak validator (RFC 9110 §13.1.5)
	}
	start, end, status := byteRange(x.r.Header, size, etag, lastModified)
	if status == http.StatusOK {
		return false
	}
	if obj.Coding != "" || onTheFly {
		return false // the range would be of the body the edge compressed: send it all
	}
	out := w.Header()
	vals := obj.Header.Fill(out, headerValues(w), 4)
	x.noGzip = true
	if status == http.StatusRequestedRangeNotSatisfiable {
		delete(out, "Content-Type")
		out["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		e.finishHeader(w, x, out, status, 0, int64(age/time.Second), vals)
		return true
	}
	out["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10) + "/" + strconv.FormatInt(size, 10)}
	e.finishHeader(w, x, out, http.StatusPartialContent, end-start+1, int64(age/time.Second), vals)
	e.writeBody(w, x, obj.Body[start:end+1], src)
	return true
}

// strongLastModified reports whether a stored Last-Modified is a strong
// validator: at least one second before the response's Date (RFC 9110
// §8.8.2.2), so that two versions written within that second cannot
// share it.
func strongLastModified(lastModified, date string) bool {
	lm, err1 := httpcache.ParseTime(lastModified)
	d, err2 := httpcache.ParseTime(date)
	return err1 == nil && err2 == nil && d.Sub(lm) >= time.Second
}

// notModified evaluates If-None-Match, or without it If-Modified-Since,
// against the stored validators (RFC 9110 §13.2.2 steps 3 and 4). "*"
// matches any stored representation, with an ETag or not (§13.1.2).
func notModified(h http.Header, etag, lastModified string) bool {
	if inm := h["If-None-Match"]; len(inm) > 0 {
		if etag == "" {
			return strings.TrimSpace(strings.Join(inm, ",")) == "*"
		}
		return anyTagMatches(inm, etag, false)
	}
	ims := h.Get("If-Modified-Since")
	if ims == "" || lastModified == "" {
		return false
	}
	since, err := httpcache.ParseTime(ims)
	if err != nil {
		return false
	}
	modified, err := httpcache.ParseTime(lastModified)
	return err == nil && !modified.After(since)
}

// anyTagMatches reports whether one of the entity-tags in the field values
// (or "*") matches etag, by weak comparison, or by strong comparison
// (both tags strong and equal) when strong is set.
func anyTagMatches(fields []string, etag string, strong bool) bool {
	want, wantWeak, ok := cutTag(strings.TrimSpace(etag))
	if !ok {
		return false
	}
	for _, f := range fields {
		for f = strings.TrimLeft(f, " \t,"); f != ""; f = strings.TrimLeft(f, " \t,") {
			if f[0] == '*' {
				return true
			}
			tag, weak, rest, ok := nextTag(f)
			if !ok {
				break // a malformed list matches nothing further
			}
			if tag == want && !(strong && (weak || wantWeak)) {
				return true
			}
			f = rest
		}
	}
	return false
}

// cutTag splits a whole entity-tag into its opaque tag and weakness.
func cutTag(s string) (opaque string, weak, ok bool) {
	tag, weak, rest, ok := nextTag(s)
	return tag, weak, ok && rest == ""
}

// nextTag reads one entity-tag (W/"x" or "x", RFC 9110 §8.8.3) from the
// start of s.
func nextTag(s string) (opaque string, weak bool, rest string, ok bool) {
	if strings.HasPrefix(s, "W/") {
		weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return "", false, "", false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", false, "", false
	}
	return s[1 : end+1], weak, s[end+2:], true
}

// byteRange reads a single byte range of a size-byte representation from
// Range, honouring If-Range. It returns 206 with the inclusive bounds, 416
// for a range that cannot be satisfied, or 200 to send everything.
func byteRange(h http.Header, size int64, etag, lastModified string) (start, end int64, status int) {
	rv := h["Range"]
	if len(rv) != 1 || size == 0 {
		return 0, 0, http.StatusOK
	}
	if ir := h.Get("If-Range"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
			if etag == "" || !anyTagMatches([]string{ir}, etag, true) {
				return 0, 0, http.StatusOK
			}
		} else if lastModified == "" || ir != lastModified {
			return 0, 0, http.StatusOK
		}
	}
	unit, spec, found := strings.Cut(strings.TrimSpace(rv[0]), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return 0, 0, http.StatusOK
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found || !digits(first) || !digits(last) || first == "" && last == "" {
		return 0, 0, http.StatusOK
	}
	if first == "" { // a suffix: the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		switch {
		case err != nil || n < 0:
			return 0, 0, http.StatusOK
		case n == 0:
			return 0, 0, http.StatusRequestedRangeNotSatisfiable
		}
		return max(size-n, 0), size - 1, http.StatusPartialContent
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, http.StatusOK
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return 0, 0, http.StatusOK
		}
	}
	if a >= size {
		return 0, 0, http.StatusRequestedRangeNotSatisfiable
	}
	return a, min(b, size-1), http.StatusPartialContent
}

// digits reports whether s is empty or only ASCII digits (no sign), at
// most 18 of them.
func digits(s string) bool {
	if len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
