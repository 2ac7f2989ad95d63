package balance

import (
	"maps"
	"testing"
)

func TestRoundRobinDistribution(t *testing.T) {
	tests := []struct {
		name      string
		weights   []int
		effective []float64 // effective weights; nil = the weights
		picks     int
		want      map[string]int
	}{
		{
			name: "weights 1 2 3", weights: []int{1, 2, 3}, picks: 6000,
			want: map[string]int{"app-0": 1000, "app-1": 2000, "app-2": 3000},
		},
		{
			name: "equal weights", weights: []int{5, 5, 5}, picks: 300,
			want: map[string]int{"app-0": 100, "app-1": 100, "app-2": 100},
		},
		{
			name: "slow start halves a member's share", weights: []int{4, 4}, effective: []float64{4, 2}, picks: 3000,
			want: map[string]int{"app-0": 2000, "app-1": 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakes(tt.weights...)
			for i, w := range tt.effective {
				fs[i].setEffective(w)
			}
			b := mustNew(t, "round_robin", asBackends(fs), Options{})
			if got := countPicks(t, b, tt.picks, nil); !maps.Equal(got, tt.want) {
				t.Errorf("picks = %v, want exactly %v", got, tt.want)
			}
		})
	}
}

// TestRoundRobinIsSmooth checks that a heavy member's turns are spread out:
// every run of 6 picks over weights 1, 2, 3 holds each member in proportion,
// and the heaviest never gets more than two picks in a row.
func TestRoundRobinIsSmooth(t *testing.T) {
	b := mustNew(t, "round_robin", asBackends(fakes(1, 2, 3)), Options{})
	want := map[string]int{"app-0": 1, "app-1": 2, "app-2": 3}
	var seq []string
	for range 600 {
		got, _ := b.Pick("", nil)
		seq = append(seq, got.ID())
	}
	for start := 0; start+6 <= len(seq); start += 6 {
		got := map[string]int{}
		for _, id := range seq[start : start+6] {
			got[id]++
		}
		if !maps.Equal(got, want) {
			t.Fatalf("picks %d..%d = %v, want %v", start, start+5, seq[start:start+6], want)
		}
	}
	for i := 2; i < len(seq); i++ {
		if seq[i] == seq[i-1] && seq[i] == seq[i-2] {
			t.Fatalf("picks %d..%d all went to %s", i-2, i, seq[i])
		}
	}
}
