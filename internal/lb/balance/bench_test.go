package balance

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func BenchmarkPick(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	for _, v := range variants() {
		for _, n := range []int{10, 100} {
			b.Run(v.name+"/N="+strconv.Itoa(n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				fs := make([]*fakeBackend, n)
				for i := range fs {
					fs[i] = newFake("app-"+strconv.Itoa(i), 1+r.IntN(10))
					fs[i].outstanding.Store(int64(r.IntN(50)))
				}
				v.opts.Rand = r
				bal := mustNew(b, v.algorithm, asBackends(fs), v.opts)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, ok := bal.Pick(keys[i%len(keys)], nil); !ok {
						b.Fatal("no backend")
					}
				}
			})
		}
	}
}
