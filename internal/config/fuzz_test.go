package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the config loader: it must return a
// config or an error, never panic, and every accepted config must validate
// again after a second SetDefaults (defaults are idempotent).
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "tether.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("listeners: [{name: a, address: ':0', default_target_group: g}]\ntarget_groups: [{name: g, targets: [{id: t, address: 'h:1'}]}]"))
	f.Add([]byte("&a [*a, *a]"))
	f.Add([]byte("target_groups: [{stickiness: {duration: 1e400h}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, ".")
		if err != nil {
			if len(Problems(err)) == 0 {
				t.Fatal("error without problems")
			}
			return
		}
		c.SetDefaults()
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config fails validation after SetDefaults: %v", err)
		}
	})
}
