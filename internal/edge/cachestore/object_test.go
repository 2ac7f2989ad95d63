package cachestore

import (
	"testing"
	"time"
)

func TestObjectAges(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	o := &Object{Stored: t0, InitialAge: 30 * time.Second, FreshFor: 70 * time.Second,
		StaleWhileRevalidate: 10 * time.Second, StaleIfError: 60 * time.Second}
	tests := []struct {
		at                   time.Duration
		fresh, inSWR, inSIE  bool
		ttl, age, currentAge time.Duration
	}{
		{0, true, false, true, 70 * time.Second, 0, 30 * time.Second},
		{69 * time.Second, true, false, true, time.Second, 69 * time.Second, 99 * time.Second},
		{70 * time.Second, false, true, true, 0, 70 * time.Second, 100 * time.Second},
		{80 * time.Second, false, true, true, -10 * time.Second, 80 * time.Second, 110 * time.Second},
		{81 * time.Second, false, false, true, -11 * time.Second, 81 * time.Second, 111 * time.Second},
		{131 * time.Second, false, false, false, -61 * time.Second, 131 * time.Second, 161 * time.Second},
		{-time.Second, true, false, true, 70 * time.Second, 0, 30 * time.Second}, // a clock step back
	}
	for _, tt := range tests {
		now := t0.Add(tt.at)
		if o.Fresh(now) != tt.fresh || o.WithinStaleWhileRevalidate(now) != tt.inSWR || o.WithinStaleIfError(now) != tt.inSIE {
			t.Errorf("at %v: fresh %v swr %v sie %v; want %v %v %v", tt.at, o.Fresh(now),
				o.WithinStaleWhileRevalidate(now), o.WithinStaleIfError(now), tt.fresh, tt.inSWR, tt.inSIE)
		}
		if o.TTL(now) != tt.ttl || o.Age(now) != tt.age || o.CurrentAge(now) != tt.currentAge {
			t.Errorf("at %v: ttl %v age %v current %v; want %v %v %v", tt.at, o.TTL(now), o.Age(now),
				o.CurrentAge(now), tt.ttl, tt.age, tt.currentAge)
		}
	}
	if (&Object{Stored: t0}).Fresh(t0) {
		t.Error("an object with FreshFor 0 is fresh")
	}
}

func TestSizeCountsEverything(t *testing.T) {
	base := (&Object{}).Size()
	o := &Object{Body: make([]byte, 100), Variant: "v", Tenant: "tt", Host: "hhh", Path: "/pppp", Query: "q",
		Header: PackHeader(map[string][]string{"X": {"12345"}}, nil), VaryHeaders: []string{"ab"}}
	if got, min := o.Size()-base, int64(100+1+2+3+5+1+1+5+2); got < min {
		t.Fatalf("Size grew by %d, want at least %d (body, strings, header, vary)", got, min)
	}
}
