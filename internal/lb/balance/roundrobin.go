package balance

import "sync"

// roundRobin is nginx's smooth weighted round robin
// (https://github.com/nginx/nginx/commit/52327e0627f49dbda1e8db695e63a4b0af4448b1).
// On each pick every usable member's current weight grows by its effective
// weight, the member with the largest current weight is chosen, and the
// chosen member's current weight drops by the total. Over any run of picks
// whose length is the total weight, each member is chosen in proportion to
// its weight, and a heavy member's turns are interleaved with the others
// rather than bunched together.
type roundRobin struct {
	members []Backend

	mu      sync.Mutex
	current []float64 // current weight per member, guarded by mu
}

var _ Balancer = (*roundRobin)(nil)

func newRoundRobin(members []Backend) *roundRobin {
	return &roundRobin{members: members, current: make([]float64, len(members))}
}

// Pick implements Balancer. It ignores key.
func (r *roundRobin) Pick(_ string, eligible func(Backend) bool) (Backend, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	total := 0.0
	for i, b := range r.members {
		if !usable(b, eligible) {
			continue
		}
		w := b.EffectiveWeight()
		r.current[i] += w
		total += w
		if best < 0 || r.current[i] > r.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	r.current[best] -= total
	return r.members[best], true
}
