package httpsyntax

import (
	"strings"
	"testing"
)

func TestLogPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                             "/",
		"/a/b.css":                      "/a/b.css",
		"/cart;jsessionid=1A2B3C/items": "/cart;jsessionid=…/items",
		"/p;SECRET":                     "/p;…",
		"/p;a=1;b=2":                    "/p;a=…;b=…",
		"/p;;x":                         "/p;…;…",
		"/a;=v/b;k=":                    "/a;=…/b;k=…",
		"/x;jsessionid=S/y;token=T?q=1": "/x;jsessionid=…/y;token=…",
		";lead":                         ";…",
	} {
		if got := LogPath(in); got != want {
			t.Errorf("LogPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLogPath checks LogPath against the rule segment by segment: the
// part before the first ";" is kept, each parameter becomes "name=…" or
// "…", and nothing else changes.
func FuzzLogPath(f *testing.F) {
	for _, s := range []string{"/cart;jsessionid=1A2B3C/items", "/p;SECRET", "/a;b=c;d", ";;", "/plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := LogPath(path)
		in, out := strings.Split(path, "/"), strings.Split(got, "/")
		if len(in) != len(out) {
			t.Fatalf("LogPath(%q) = %q: %d segments, want %d", path, got, len(out), len(in))
		}
		for i := range in {
			ip, op := strings.Split(in[i], ";"), strings.Split(out[i], ";")
			if len(ip) != len(op) || ip[0] != op[0] {
				t.Fatalf("LogPath(%q) = %q: segment %q became %q", path, got, in[i], out[i])
			}
			for j := 1; j < len(ip); j++ {
				want := "…"
				if name, _, ok := strings.Cut(ip[j], "="); ok {
					want = name + "=…"
				}
				if op[j] != want {
					t.Fatalf("LogPath(%q) = %q: parameter %q became %q, want %q", path, got, ip[j], op[j], want)
				}
			}
		}
	})
}
