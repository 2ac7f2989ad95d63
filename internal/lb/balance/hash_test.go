package balance

import (
	"hash/fnv"
	"testing"
)

// TestHashIsFNV1aThenSplitmix64 checks Hash against its documented
// definition, which other implementations (and other languages) can follow
// to agree with tether on where a key goes.
func TestHashIsFNV1aThenSplitmix64(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "ip", in: "192.0.2.7"},
		{name: "ring point", in: "app-1#159"},
		{name: "non-ascii", in: "sessión-ключ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fnv.New64a()
			f.Write([]byte(tt.in))
			if got, want := Hash(tt.in), mix64(f.Sum64()); got != want {
				t.Errorf("Hash(%q) = %#x, want splitmix64(FNV-1a) = %#x", tt.in, got, want)
			}
		})
	}
}
