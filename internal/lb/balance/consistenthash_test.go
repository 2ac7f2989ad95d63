package balance

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

const stabilityKeys = 100_000

// mapping returns the id chosen for each of stabilityKeys keys.
func mapping(tb testing.TB, b Balancer, eligible func(Backend) bool) []string {
	tb.Helper()
	ids := make([]string, stabilityKeys)
	for i := range ids {
		got, ok := b.Pick("key-"+strconv.Itoa(i), eligible)
		if !ok {
			tb.Fatalf("key-%d: no backend", i)
		}
		ids[i] = got.ID()
	}
	return ids
}

// TestConsistentHashStability checks that a change to the target set moves
// only the keys it must, and about 1/N of them.
func TestConsistentHashStability(t *testing.T) {
	const n = 10
	base := asBackends(equalFakes(n))
	tests := []struct {
		name     string
		after    []Backend          // members after the change
		eligible func(Backend) bool // filter after the change
		changed  string             // the target removed, excluded or added
		added    bool
		share    float64 // expected fraction of keys that move
	}{
		{name: "remove a target", after: slices.Delete(slices.Clone(base), 3, 4), changed: "app-3", share: 1.0 / n},
		{name: "mark a target ineligible", after: base, eligible: notID("app-3"), changed: "app-3", share: 1.0 / n},
		{name: "add a target", after: append(slices.Clone(base), newFake("app-10", 1)), changed: "app-10", added: true, share: 1.0 / (n + 1)},
	}
	before := mapping(t, mustNew(t, "consistent_hash", base, Options{}), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := mapping(t, mustNew(t, "consistent_hash", tt.after, Options{}), tt.eligible)
			moved := 0
			for i := range before {
				if before[i] == after[i] {
					continue
				}
				moved++
				if tt.added && after[i] != tt.changed {
					t.Fatalf("key-%d moved %s -> %s, want it to stay or move to %s", i, before[i], after[i], tt.changed)
				}
				if !tt.added && before[i] != tt.changed {
					t.Fatalf("key-%d moved %s -> %s although %s was untouched", i, before[i], after[i], before[i])
				}
			}
			frac := float64(moved) / stabilityKeys
			if frac < 0.5*tt.share || frac > 1.5*tt.share {
				t.Errorf("%.2f%% of keys moved, want about %.2f%% (0.5x to 1.5x)", 100*frac, 100*tt.share)
			}
		})
	}
}

// TestConsistentHashReplicasAgree checks that balancers built separately,
// from members in any order, send every key to the same target: replicas
// need no shared state to agree.
func TestConsistentHashReplicasAgree(t *testing.T) {
	weights := []int{1, 2, 3, 1, 5, 8, 1, 1, 2, 10}
	// build returns fresh members, loaded unevenly so that bounded loads
	// skip some of them, in an order set by seed (0 = configured order).
	build := func(seed uint64) []Backend {
		fs := fakes(weights...)
		for i, f := range fs {
			f.outstanding.Store(int64(i * i))
		}
		if seed != 0 {
			rand.New(rand.NewPCG(seed, seed)).Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		}
		return asBackends(fs)
	}
	reversed := build(0)
	slices.Reverse(reversed)
	tests := []struct {
		name    string
		members []Backend
		opts    Options
	}{
		{name: "same order", members: build(0)},
		{name: "reversed", members: reversed},
		{name: "shuffled", members: build(1)},
		{name: "reversed, bounded loads", members: reversed, opts: Options{BalanceFactor: 1.25}},
		{name: "shuffled, bounded loads", members: build(2), opts: Options{BalanceFactor: 1.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, "consistent_hash", build(0), tt.opts)
			b := mustNew(t, "consistent_hash", tt.members, tt.opts)
			if !slices.Equal(mapping(t, a, nil), mapping(t, b, nil)) {
				t.Error("two balancers over the same targets map keys differently")
			}
		})
	}
}

func TestConsistentHashWeights(t *testing.T) {
	fs := fakes(1, 2, 4)
	counts := countPicks(t, mustNew(t, "consistent_hash", asBackends(fs), Options{}), stabilityKeys, nil)
	for _, f := range fs {
		want := float64(stabilityKeys*f.weight) / 7
		if got := float64(counts[f.id]); got < 0.75*want || got > 1.25*want {
			t.Errorf("%s (weight %d) got %v keys, want %.0f ± 25%%", f.id, f.weight, got, want)
		}
	}
}

func TestConsistentHashEmptyKeyRoundRobins(t *testing.T) {
	b := mustNew(t, "consistent_hash", asBackends(equalFakes(3)), Options{})
	got := map[string]int{}
	for range 300 {
		p, _ := b.Pick("", nil)
		got[p.ID()]++
	}
	if want := map[string]int{"app-0": 100, "app-1": 100, "app-2": 100}; !maps.Equal(got, want) {
		t.Errorf("picks with no key = %v, want %v", got, want)
	}
}

// TestBoundedLoadsKeepAffinityWhenBalanced checks that bounded loads change
// nothing while no target is above its share.
func TestBoundedLoadsKeepAffinityWhenBalanced(t *testing.T) {
	members := asBackends(equalFakes(10))
	plain := mapping(t, mustNew(t, "consistent_hash", members, Options{}), nil)
	bounded := mapping(t, mustNew(t, "consistent_hash", members, Options{BalanceFactor: 1.25}), nil)
	if !slices.Equal(plain, bounded) {
		t.Error("bounded loads moved keys although every target was idle")
	}
}

// zipfLoad sends keys drawn from a seeded Zipf distribution to b, one after
// another, holding every request. After each pick it calls check with the
// chosen backend and the number of requests so far.
func zipfLoad(b Balancer, picks int, check func(f *fakeBackend, total int)) {
	r := rand.New(rand.NewPCG(42, 42))
	z := rand.NewZipf(r, 1.1, 1, 9_999)
	for i := range picks {
		p, _ := b.Pick("user-"+strconv.FormatUint(z.Uint64(), 10), nil)
		f := p.(*fakeBackend)
		f.outstanding.Add(1)
		check(f, i+1)
	}
}

// TestBoundedLoads checks the promise of consistent hashing with bounded
// loads: under a skewed workload no target holds more than
// ceil(factor × its weighted share) of the requests in flight, at any time.
func TestBoundedLoads(t *testing.T) {
	const factor, picks = 1.25, 100_000
	tests := []struct {
		name    string
		weights []int
	}{
		{name: "equal weights", weights: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{name: "mixed weights", weights: []int{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakes(tt.weights...)
			sumWeight := 0
			for _, w := range tt.weights {
				sumWeight += w
			}
			limit := func(f *fakeBackend, total int) int64 {
				return int64(math.Ceil(factor * float64(total*f.weight) / float64(sumWeight)))
			}
			b := mustNew(t, "consistent_hash", asBackends(fs), Options{BalanceFactor: factor})
			zipfLoad(b, picks, func(f *fakeBackend, total int) {
				// Only f's load grew; the others' limits only rise.
				if got, max := f.Outstanding(), limit(f, total); got > max {
					t.Fatalf("after %d requests %s holds %d, over its bound %d", total, f.id, got, max)
				}
			})
			for _, f := range fs {
				if got, max := f.Outstanding(), limit(f, picks); got > max {
					t.Errorf("%s holds %d, over its bound %d", f.id, got, max)
				}
			}
		})
	}
}

// TestUnboundedLoadsAreSkewed shows that the workload of TestBoundedLoads
// overloads a target when bounded loads are off, so that test can fail.
func TestUnboundedLoadsAreSkewed(t *testing.T) {
	const picks = 100_000
	fs := equalFakes(10)
	zipfLoad(mustNew(t, "consistent_hash", asBackends(fs), Options{}), picks, func(*fakeBackend, int) {})
	var most int64
	for _, f := range fs {
		most = max(most, f.Outstanding())
	}
	if mean := float64(picks) / 10; float64(most) < 1.5*mean {
		t.Errorf("busiest target holds %d, want well over 1.25 × mean %.0f for a skewed workload", most, mean)
	} else {
		t.Logf("busiest target holds %d = %.2f × mean", most, float64(most)/mean)
	}
}
