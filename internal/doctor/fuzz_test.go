package doctor

import (
	"os"
	"path/filepath"
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
