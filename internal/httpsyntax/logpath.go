package httpsyntax

import "strings"

// LogPath returns path as an access log may keep it: the values of its
// path parameters (RFC 3986 §3.3, the ";" parts of a segment, where
// servlet containers put ;jsessionid=… and others put tokens) replaced by
// "…", their names kept. A path without ";" is returned as it is.
//
//	/cart;jsessionid=1A2B3C/items → /cart;jsessionid=…/items
//	/p;SECRET → /p;…
func LogPath(path string) string {
	if strings.IndexByte(path, ';') < 0 {
		return path
	}
	var b strings.Builder
	b.Grow(len(path))
	for len(path) > 0 {
		i := strings.IndexByte(path, ';')
		if i < 0 {
			b.WriteString(path)
			break
		}
		b.WriteString(path[:i+1])
		path = path[i+1:]
		end := strings.IndexAny(path, ";/")
		if end < 0 {
			end = len(path)
		}
		if name, _, ok := strings.Cut(path[:end], "="); ok {
			b.WriteString(name)
			b.WriteString("=")
		}
		b.WriteString("…")
		path = path[end:]
	}
	return b.String()
}
