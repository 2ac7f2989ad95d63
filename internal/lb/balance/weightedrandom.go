package balance

import (
	"math/rand/v2"
	"sync"
)

// weightedRandom chooses a usable member at random with probability
// proportional to its effective weight.
type weightedRandom struct {
	members []Backend
	uniform func() float64 // uniform in [0, 1); safe for concurrent use
}

var _ Balancer = (*weightedRandom)(nil)

func newWeightedRandom(members []Backend, r *rand.Rand) *weightedRandom {
	w := &weightedRandom{members: members, uniform: rand.Float64}
	if r != nil {
		var mu sync.Mutex
		w.uniform = func() float64 {
			mu.Lock()
			defer mu.Unlock()
			return r.Float64()
		}
	}
	return w
}

// Pick implements Balancer. It ignores key.
func (w *weightedRandom) Pick(_ string, eligible func(Backend) bool) (Backend, bool) {
	total := 0.0
	for _, b := range w.members {
		if usable(b, eligible) {
			total += b.EffectiveWeight()
		}
	}
	if total <= 0 {
		return nil, false
	}
	x := w.uniform() * total
	var last Backend
	for _, b := range w.members {
		if !usable(b, eligible) {
			continue
		}
		last = b
		x -= b.EffectiveWeight()
		if x < 0 {
			return b, true
		}
	}
	// Weights changed between the two passes (slow start moves on, or a
	// member went unhealthy); the last usable member is as good as any.
	return last, last != nil
}
