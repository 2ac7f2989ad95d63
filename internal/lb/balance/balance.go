// Package balance chooses which backend serves a new client.
//
// Four algorithms are offered, one per file: smooth weighted round robin,
// least outstanding requests, weighted random, and consistent hashing with
// optional bounded loads. Each works over a fixed member list given to [New]
// and asks the members for their weights and load on every pick, so health,
// draining and slow start take effect without rebuilding the balancer.
package balance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Backend is what a Balancer sees of one target. Implementations are safe
// for concurrent use.
type Backend interface {
	// ID returns the stable configured id, such as "app-1". Consistent
	// hashing places a backend on the ring by its id, never by its address.
	ID() string
	// Weight returns the configured weight, 0 to 999. It sizes a backend's
	// share of the hash ring and its bounded-load capacity.
	Weight() int
	// EffectiveWeight returns Weight scaled by slow start, between 0 and
	// Weight. A backend whose effective weight is 0 is given no new work.
	EffectiveWeight() float64
	// Outstanding returns the number of requests in flight on the backend.
	Outstanding() int64
}

// Balancer chooses a backend for a new client. Implementations are safe for
// concurrent use.
type Balancer interface {
	// Pick returns the chosen member among those for which eligible returns
	// true; a nil eligible accepts every member. key is the hash key: only
	// consistent_hash uses it, and an empty key makes consistent_hash fall
	// back to round robin, as HAProxy does when the key is missing. Members
	// whose Weight or EffectiveWeight is 0 are never chosen. Pick returns
	// false when no eligible member has a positive effective weight.
	Pick(key string, eligible func(Backend) bool) (Backend, bool)
}

// Options tunes a Balancer. The zero value is ready to use.
type Options struct {
	// BalanceFactor is the bounded-load factor c for consistent_hash: no
	// backend is given a request that would take it past c times its
	// weighted share of the requests in flight, rounded up. HAProxy's hash-balance-factor 125 is 1.25. 0, the
	// default, turns bounded loads off; any other value must be greater
	// than 1. The other algorithms ignore it.
	BalanceFactor float64
	// Rand, if non-nil, is the source of randomness for weighted_random;
	// tests pass a seeded one. A *rand.Rand is not safe for concurrent use,
	// so the balancer serializes its calls to it. If nil, the balancer uses
	// the math/rand/v2 top-level functions.
	Rand *rand.Rand
}

// Algorithm names accepted by New.
const (
	roundRobinName       = "round_robin"
	leastOutstandingName = "least_outstanding_requests"
	weightedRandomName   = "weighted_random"
	consistentHashName   = "consistent_hash"
)

// Algorithms returns the algorithm names that New accepts, in a new slice:
// "round_robin", "least_outstanding_requests", "weighted_random" and
// "consistent_hash".
func Algorithms() []string {
	return []string{roundRobinName, leastOutstandingName, weightedRandomName, consistentHashName}
}

// New returns the balancer for the named algorithm over members. The member
// list is fixed for the balancer's life; a new configuration builds a new
// balancer. New reports an error for an unknown algorithm, a nil member, a
// duplicate id, a weight outside 0 to 999, or a BalanceFactor that is
// neither 0 nor greater than 1.
func New(algorithm string, members []Backend, opts Options) (Balancer, error) {
	if err := validate(algorithm, members, opts); err != nil {
		return nil, err
	}
	members = slices.Clone(members)
	switch algorithm {
	case roundRobinName:
		return newRoundRobin(members), nil
	case leastOutstandingName:
		return newLeastOutstanding(members), nil
	case weightedRandomName:
		return newWeightedRandom(members, opts.Rand), nil
	default:
		return newConsistentHash(members, opts.BalanceFactor), nil
	}
}

// validate checks New's arguments.
func validate(algorithm string, members []Backend, opts Options) error {
	if !slices.Contains(Algorithms(), algorithm) {
		return fmt.Errorf("balance: unknown algorithm %q: want one of %s",
			algorithm, strings.Join(Algorithms(), ", "))
	}
	if f := opts.BalanceFactor; f != 0 && (math.IsNaN(f) || f <= 1 || math.IsInf(f, 1)) {
		return fmt.Errorf("balance: balance factor %v: want 0 (off) or a number greater than 1", f)
	}
	seen := make(map[string]bool, len(members))
	for i, b := range members {
		if b == nil {
			return fmt.Errorf("balance: member %d is nil", i)
		}
		id := b.ID()
		if seen[id] {
			return fmt.Errorf("balance: duplicate member id %q", id)
		}
		seen[id] = true
		if w := b.Weight(); w < 0 || w > 999 {
			return fmt.Errorf("balance: member %q: weight %d: want 0 to 999", id, w)
		}
	}
	return nil
}

// usable reports whether b may be given new work: it has a positive weight
// and effective weight, and eligible (if non-nil) accepts it.
func usable(b Backend, eligible func(Backend) bool) bool {
	return b.Weight() > 0 && b.EffectiveWeight() > 0 && (eligible == nil || eligible(b))
}

// stackMembers is the member count up to which Pick keeps its per-member
// scratch space on the stack.
const stackMembers = 128
