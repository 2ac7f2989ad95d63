package balance

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestWeightedRandomIsProportional(t *testing.T) {
	tests := []struct {
		name      string
		weights   []int
		effective []float64 // nil = the weights
	}{
		{name: "weights 1 2 3 4", weights: []int{1, 2, 3, 4}},
		{name: "equal weights", weights: []int{7, 7, 7}},
		{name: "slow start", weights: []int{10, 10}, effective: []float64{10, 2.5}},
	}
	const picks = 100_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakes(tt.weights...)
			for i, w := range tt.effective {
				fs[i].setEffective(w)
			}
			opts := Options{Rand: rand.New(rand.NewPCG(1, 2))}
			counts := countPicks(t, mustNew(t, "weighted_random", asBackends(fs), opts), picks, nil)
			total := 0.0
			for _, f := range fs {
				total += f.EffectiveWeight()
			}
			for _, f := range fs {
				want := picks * f.EffectiveWeight() / total
				if got := float64(counts[f.id]); math.Abs(got-want) > 0.03*want {
					t.Errorf("%s: %v picks, want %.0f ± 3%%", f.id, got, want)
				}
			}
		})
	}
}

// TestWeightedRandomSeeded checks that a seeded source makes the picks
// reproducible.
func TestWeightedRandomSeeded(t *testing.T) {
	build := func() Balancer {
		return mustNew(t, "weighted_random", asBackends(fakes(1, 2, 3)),
			Options{Rand: rand.New(rand.NewPCG(7, 7))})
	}
	a, b := build(), build()
	for i := range 1000 {
		x, _ := a.Pick("", nil)
		y, _ := b.Pick("", nil)
		if x.ID() != y.ID() {
			t.Fatalf("pick %d: %s and %s from the same seed", i, x.ID(), y.ID())
		}
	}
}
