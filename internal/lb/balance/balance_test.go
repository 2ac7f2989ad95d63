package balance

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeBackend is a Backend whose weights and load tests set directly.
type fakeBackend struct {
	id          string
	weight      int
	effective   atomic.Uint64 // math.Float64bits of the effective weight
	outstanding atomic.Int64
}

var _ Backend = (*fakeBackend)(nil)

func newFake(id string, weight int) *fakeBackend {
	f := &fakeBackend{id: id, weight: weight}
	f.setEffective(float64(weight))
	return f
}

func (f *fakeBackend) ID() string               { return f.id }
func (f *fakeBackend) Weight() int              { return f.weight }
func (f *fakeBackend) EffectiveWeight() float64 { return math.Float64frombits(f.effective.Load()) }
func (f *fakeBackend) Outstanding() int64       { return f.outstanding.Load() }
func (f *fakeBackend) setEffective(w float64)   { f.effective.Store(math.Float64bits(w)) }

// fakes returns backends app-0, app-1, … with the given weights.
func fakes(weights ...int) []*fakeBackend {
	fs := make([]*fakeBackend, len(weights))
	for i, w := range weights {
		fs[i] = newFake("app-"+strconv.Itoa(i), w)
	}
	return fs
}

// equalFakes returns n backends of weight 1.
func equalFakes(n int) []*fakeBackend {
	weights := make([]int, n)
	for i := range weights {
		weights[i] = 1
	}
	return fakes(weights...)
}

func asBackends(fs []*fakeBackend) []Backend {
	bs := make([]Backend, len(fs))
	for i, f := range fs {
		bs[i] = f
	}
	return bs
}

func mustNew(tb testing.TB, algorithm string, members []Backend, opts Options) Balancer {
	tb.Helper()
	b, err := New(algorithm, members, opts)
	if err != nil {
		tb.Fatalf("New(%q): %v", algorithm, err)
	}
	return b
}

// countPicks picks n times with keys "key-0", "key-1", … and returns how
// often each id was chosen; it fails the test if a pick fails.
func countPicks(tb testing.TB, b Balancer, n int, eligible func(Backend) bool) map[string]int {
	tb.Helper()
	counts := make(map[string]int)
	for i := range n {
		got, ok := b.Pick("key-"+strconv.Itoa(i), eligible)
		if !ok {
			tb.Fatalf("pick %d: no backend", i)
		}
		counts[got.ID()]++
	}
	return counts
}

// variant is one algorithm with its options, for tests every algorithm must pass.
type variant struct {
	name      string
	algorithm string
	opts      Options
}

func variants() []variant {
	var vs []variant
	for _, a := range Algorithms() {
		vs = append(vs, variant{name: a, algorithm: a})
	}
	return append(vs, variant{name: "consistent_hash_bounded", algorithm: "consistent_hash", opts: Options{BalanceFactor: 1.25}})
}

func TestNewRejectsBadInput(t *testing.T) {
	dup := fakes(1, 1)
	dup[1].id = dup[0].id
	tests := []struct {
		name      string
		algorithm string
		members   []Backend
		opts      Options
		want      string
	}{
		{name: "unknown algorithm", algorithm: "fastest", want: `unknown algorithm "fastest": want one of round_robin, least_outstanding_requests, weighted_random, consistent_hash`},
		{name: "factor of 1", algorithm: "consistent_hash", opts: Options{BalanceFactor: 1}, want: "balance factor 1"},
		{name: "factor below 1", algorithm: "consistent_hash", opts: Options{BalanceFactor: 0.5}, want: "balance factor 0.5"},
		{name: "negative factor", algorithm: "consistent_hash", opts: Options{BalanceFactor: -1.25}, want: "balance factor -1.25"},
		{name: "NaN factor", algorithm: "consistent_hash", opts: Options{BalanceFactor: math.NaN()}, want: "balance factor NaN"},
		{name: "infinite factor", algorithm: "consistent_hash", opts: Options{BalanceFactor: math.Inf(1)}, want: "balance factor +Inf"},
		{name: "nil member", algorithm: "round_robin", members: []Backend{newFake("a", 1), nil}, want: "member 1 is nil"},
		{name: "duplicate id", algorithm: "consistent_hash", members: asBackends(dup), want: `duplicate member id "app-0"`},
		{name: "weight too high", algorithm: "weighted_random", members: asBackends(fakes(1000)), want: `member "app-0": weight 1000: want 0 to 999`},
		{name: "negative weight", algorithm: "weighted_random", members: asBackends(fakes(-1)), want: "weight -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.algorithm, tt.members, tt.opts)
			if err == nil {
				t.Fatalf("New succeeded with %T, want error containing %q", b, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "balance: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want prefix %q and containing %q", err, "balance: ", tt.want)
			}
		})
	}
}

func TestNewAcceptsEveryAlgorithm(t *testing.T) {
	for _, a := range Algorithms() {
		t.Run(a, func(t *testing.T) {
			b := mustNew(t, a, asBackends(fakes(1, 2)), Options{BalanceFactor: 1.5})
			if _, ok := b.Pick("k", nil); !ok {
				t.Error("Pick found no backend among two healthy ones")
			}
		})
	}
}

func TestNewCopiesMembers(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			members := asBackends(fakes(1, 1))
			b := mustNew(t, v.algorithm, members, v.opts)
			members[0], members[1] = newFake("intruder-0", 1), newFake("intruder-1", 1)
			counts := countPicks(t, b, 100, nil)
			if counts["intruder-0"]+counts["intruder-1"] > 0 {
				t.Errorf("balancer picked members swapped into the caller's slice after New: %v", counts)
			}
		})
	}
}

// TestPickSkipsUnusable checks, for every algorithm, that Pick honours the
// eligible filter and never chooses a member with no weight or no effective
// weight.
func TestPickSkipsUnusable(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		drained  []int // indices whose effective weight is set to 0
		eligible func(Backend) bool
		want     []string // ids that must share the picks; empty = Pick fails
	}{
		{name: "nil eligible accepts all", weights: []int{1, 1, 1}, want: []string{"app-0", "app-1", "app-2"}},
		{name: "filter excludes a member", weights: []int{1, 1, 1}, eligible: notID("app-1"), want: []string{"app-0", "app-2"}},
		{name: "none eligible", weights: []int{1, 1}, eligible: func(Backend) bool { return false }},
		{name: "zero weight never picked", weights: []int{0, 1, 1}, want: []string{"app-1", "app-2"}},
		{name: "zero effective weight never picked", weights: []int{1, 1, 1}, drained: []int{2}, want: []string{"app-0", "app-1"}},
		{name: "all weights zero", weights: []int{0, 0}},
		{name: "all effective weights zero", weights: []int{1, 1}, drained: []int{0, 1}},
		{name: "no members"},
	}
	for _, v := range variants() {
		for _, tt := range tests {
			t.Run(v.name+"/"+tt.name, func(t *testing.T) {
				fs := fakes(tt.weights...)
				for _, i := range tt.drained {
					fs[i].setEffective(0)
				}
				b := mustNew(t, v.algorithm, asBackends(fs), v.opts)
				if len(tt.want) == 0 {
					if got, ok := b.Pick("key", tt.eligible); ok {
						t.Fatalf("Pick = %s, true; want false", got.ID())
					}
					return
				}
				counts := countPicks(t, b, 1000, tt.eligible)
				for _, id := range tt.want {
					if counts[id] == 0 {
						t.Errorf("%s was never picked: %v", id, counts)
					}
				}
				if len(counts) != len(tt.want) {
					t.Errorf("picked %v, want only %v", counts, tt.want)
				}
			})
		}
	}
}

func notID(id string) func(Backend) bool {
	return func(b Backend) bool { return b.ID() != id }
}

// TestPickConcurrent runs many picks at once, so that go test -race checks
// that every algorithm is safe for concurrent use.
func TestPickConcurrent(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			fs := fakes(1, 2, 3, 4)
			b := mustNew(t, v.algorithm, asBackends(fs), v.opts)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 500 {
						got, ok := b.Pick(fmt.Sprintf("g%d-%d", g, i%50), nil)
						if !ok {
							t.Error("Pick found no backend")
							return
						}
						f := got.(*fakeBackend)
						f.outstanding.Add(1)
						fs[i%len(fs)].setEffective(float64(fs[i%len(fs)].weight) / 2)
						f.outstanding.Add(-1)
					}
				})
			}
			wg.Wait()
		})
	}
}
