package balance

import "sync/atomic"

// leastOutstanding chooses the usable member with the fewest requests in
// flight per unit of effective weight, (Outstanding+1)/EffectiveWeight; the
// +1 counts the request being placed, so an idle heavy member beats an idle
// light one. The scan starts at a rotating index and keeps the first of
// equal scores, so members that tie share the load instead of the first
// one taking it all.
type leastOutstanding struct {
	members []Backend
	next    atomic.Uint64 // rotating start index for the scan
}

var _ Balancer = (*leastOutstanding)(nil)

func newLeastOutstanding(members []Backend) *leastOutstanding {
	return &leastOutstanding{members: members}
}

// Pick implements Balancer. It ignores key.
func (l *leastOutstanding) Pick(_ string, eligible func(Backend) bool) (Backend, bool) {
	n := len(l.members)
	if n == 0 {
		return nil, false
	}
	start := int(l.next.Add(1) % uint64(n))
	var best Backend
	bestScore := 0.0
	for k := range n {
		b := l.members[(start+k)%n]
		if !usable(b, eligible) {
			continue
		}
		score := float64(b.Outstanding()+1) / b.EffectiveWeight()
		if best == nil || score < bestScore {
			best, bestScore = b, score
		}
	}
	return best, best != nil
}
