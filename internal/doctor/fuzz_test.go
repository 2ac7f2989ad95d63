package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDoctorRecognise feeds arbitrary JSON to the recogniser and the model
// builder: they may refuse it, but must not panic, and whatever they build
// must survive every rule.
func FuzzDoctorRecognise(f *testing.F) {
	for _, dir := range []string{"broken", "good"} {
		paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "aws", dir, "*.json"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(distJSON(elbDomain, cachingOptimized, allViewerORP)))
	f.Add([]byte(tgJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := Recognise(data)
		if err != nil {
			return
		}
		files := []NamedExport{{Name: "x.json", Export: x}}
		if x.Distribution == nil {
			files = append(files, NamedExport{Name: "d.json", Export: mustRecognise(t, distJSON(elbDomain, cachingOptimized, ""))})
		}
		if m, err := FromExports("fuzz", files); err == nil {
			Run(m)
		}
	})
}

func mustRecognise(t *testing.T, s string) *Export {
	t.Helper()
	x, err := Recognise([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// FuzzDoctorCovers checks covers against the matcher itself: when earlier
// covers later, every path later matches (its * made "", "z" or "y/z*",
// its ? made "q") matches earlier too.
func FuzzDoctorCovers(f *testing.F) {
	for _, c := range [][2]string{{"/v?/*", "/v*/*"}, {"*.css", "/account/*.css"}, {"/a*", "/a?"}, {"*", "/x?/*/y"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, earlier, later string) {
		if len(earlier) > 64 || len(later) > 64 || !covers(earlier, later) {
			return
		}
		for _, star := range []string{"", "z", "y/z*"} {
			path := strings.NewReplacer("*", star, "?", "q").Replace(normPattern(later))
			if !matchGlob(normPattern(earlier), path) {
				t.Fatalf("covers(%q, %q), but %q matches only the second", earlier, later, path)
			}
		}
	})
}
