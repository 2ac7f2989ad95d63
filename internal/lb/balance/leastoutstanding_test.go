package balance

import (
	"maps"
	"testing"
)

func TestLeastOutstandingPrefersLeastLoaded(t *testing.T) {
	tests := []struct {
		name        string
		weights     []int
		outstanding []int64
		want        string
	}{
		{name: "fewest in flight", weights: []int{1, 1, 1}, outstanding: []int64{5, 2, 9}, want: "app-1"},
		{name: "idle member wins", weights: []int{1, 1, 1}, outstanding: []int64{3, 3, 0}, want: "app-2"},
		{name: "weight scales load", weights: []int{1, 4}, outstanding: []int64{1, 5}, want: "app-1"},
		{name: "heavier idle member wins", weights: []int{1, 3}, outstanding: []int64{0, 0}, want: "app-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakes(tt.weights...)
			for i, o := range tt.outstanding {
				fs[i].outstanding.Store(o)
			}
			b := mustNew(t, "least_outstanding_requests", asBackends(fs), Options{})
			want := map[string]int{tt.want: 100}
			if got := countPicks(t, b, 100, nil); !maps.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}

func TestLeastOutstandingSpreadsLoad(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		hold    bool // picked requests stay in flight
		picks   int
		want    map[string]int
	}{
		{
			name: "ties rotate among idle members", weights: []int{1, 1, 1}, picks: 300,
			want: map[string]int{"app-0": 100, "app-1": 100, "app-2": 100},
		},
		{
			name: "held requests fill members by weight", weights: []int{1, 3}, hold: true, picks: 4000,
			want: map[string]int{"app-0": 1000, "app-1": 3000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, "least_outstanding_requests", asBackends(fakes(tt.weights...)), Options{})
			got := map[string]int{}
			for range tt.picks {
				p, _ := b.Pick("", nil)
				got[p.ID()]++
				if tt.hold {
					p.(*fakeBackend).outstanding.Add(1)
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("picks = %v, want %v", got, tt.want)
			}
		})
	}
}
