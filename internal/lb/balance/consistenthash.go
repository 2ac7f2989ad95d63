package balance

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

// maxPoints is the number of ring points given to the heaviest member; a
// member of weight w gets maxPoints*w/maxWeight points, and at least one.
// 160 is the number of points per server in ketama and nginx's hash
// consistent.
const maxPoints = 160

// point is one position on the hash ring.
type point struct {
	hash   uint64
	member int // index into consistentHash.members
}

// consistentHash maps a key to the first usable member clockwise from the
// key's hash on a ring of points (Karger et al., "Consistent Hashing and
// Random Trees", STOC 1997, https://doi.org/10.1145/258533.258660). Member
// i's points are Hash(id+"#"+j) for j below its point count, so the ring
// depends only on the members' ids and weights, never on their order or
// addresses, and every replica computes the same mapping. Removing a member
// moves only the keys it held; adding one moves only the keys it takes.
// Because point counts are relative to the heaviest member, changing the
// heaviest weight reshapes the whole ring.
//
// With a balance factor c > 0 it implements consistent hashing with bounded
// loads (Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with
// Bounded Loads", https://arxiv.org/abs/1608.01350): the walk also skips a
// member whose requests in flight would exceed
// ceil(c * (total in flight + 1) * weight / total weight), totals taken
// over the eligible members, so no member carries more than about c times
// its share while keys still stay where they were whenever they can.
type consistentHash struct {
	members []Backend
	ring    []point // sorted by hash, then member id
	onRing  int     // members with at least one point
	factor  float64 // bounded-load factor c; 0 = off
	rr      *roundRobin
}

var _ Balancer = (*consistentHash)(nil)

func newConsistentHash(members []Backend, factor float64) *consistentHash {
	c := &consistentHash{members: members, factor: factor, rr: newRoundRobin(members)}
	maxWeight := 0
	for _, b := range members {
		maxWeight = max(maxWeight, b.Weight())
	}
	for i, b := range members {
		w := b.Weight()
		if w <= 0 {
			continue
		}
		c.onRing++
		id := b.ID()
		for j := range max(1, maxPoints*w/maxWeight) {
			c.ring = append(c.ring, point{hash: Hash(id + "#" + strconv.Itoa(j)), member: i})
		}
	}
	slices.SortFunc(c.ring, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash),
			cmp.Compare(members[a.member].ID(), members[b.member].ID()))
	})
	return c
}

// Pick implements Balancer. An empty key falls back to round robin.
func (c *consistentHash) Pick(key string, eligible func(Backend) bool) (Backend, bool) {
	if key == "" {
		return c.rr.Pick(key, eligible)
	}
	if len(c.ring) == 0 {
		return nil, false
	}
	start, _ := slices.BinarySearchFunc(c.ring, Hash(key), func(p point, h uint64) int {
		return cmp.Compare(p.hash, h)
	})
	if c.factor > 0 {
		return c.pickBounded(start, eligible)
	}
	return c.pickFirst(start, eligible)
}

// pickFirst returns the first usable member clockwise from ring index start.
func (c *consistentHash) pickFirst(start int, eligible func(Backend) bool) (Backend, bool) {
	var buf [stackMembers]bool
	rejected := scratch(buf[:], len(c.members))
	left := c.onRing
	for k := 0; k < len(c.ring) && left > 0; k++ {
		m := c.ring[(start+k)%len(c.ring)].member
		if rejected[m] {
			continue
		}
		if b := c.members[m]; usable(b, eligible) {
			return b, true
		}
		rejected[m] = true
		left--
	}
	return nil, false
}

// pickBounded returns the first usable member clockwise from ring index
// start that is below its bounded-load capacity. If every usable member is
// at capacity, which only concurrent picks can cause, it returns the first
// usable member on the walk.
func (c *consistentHash) pickBounded(start int, eligible func(Backend) bool) (Backend, bool) {
	var buf [stackMembers]bool
	ok := scratch(buf[:], len(c.members))
	var inFlight int64
	sumWeight, left := 0, 0
	for i, b := range c.members {
		if usable(b, eligible) {
			ok[i] = true
			inFlight += b.Outstanding()
			sumWeight += b.Weight()
			left++
		}
	}
	if left == 0 {
		return nil, false
	}
	// Per unit of weight; a member of weight w may hold ceil(perWeight*w).
	perWeight := c.factor * float64(inFlight+1) / float64(sumWeight)
	first := -1
	for k := 0; k < len(c.ring) && left > 0; k++ {
		m := c.ring[(start+k)%len(c.ring)].member
		if !ok[m] {
			continue
		}
		b := c.members[m]
		if float64(b.Outstanding()+1) <= math.Ceil(perWeight*float64(b.Weight())) {
			return b, true
		}
		if first < 0 {
			first = m
		}
		ok[m] = false
		left--
	}
	if first < 0 {
		return nil, false
	}
	return c.members[first], true
}

// scratch returns n zeroed bools, in buf when it is long enough.
func scratch(buf []bool, n int) []bool {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]bool, n)
}
