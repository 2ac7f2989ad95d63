package main

import (
	"log/slog"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"exact below 64ns", []time.Duration{10, 20, 30}, 0.5, 20},
		{"median", []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}, 0.5, 2 * time.Millisecond},
		{"p99 of 100", spread(100, time.Microsecond), 0.99, 99 * time.Microsecond},
		{"max", []time.Duration{time.Second, time.Hour}, 1, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, d := range tt.samples {
				h.record(d)
			}
			got := h.quantile(tt.q)
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/64 {
				t.Errorf("quantile(%v) = %v, want %v within 1/64", tt.q, got, tt.want)
			}
		})
	}
}

func spread(n int, step time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * step
	}
	return out
}

func TestBucketsRoundTrip(t *testing.T) {
	for _, ns := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40, math.MaxUint64} {
		i := bucketOf(ns)
		if i < 0 || i >= len(histogram{}.counts) {
			t.Fatalf("bucketOf(%d) = %d, out of range", ns, i)
		}
		v := bucketValue(i)
		if ns >= 64 && math.Abs(float64(v)-float64(ns)) > float64(ns)/64 {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, off by more than 1/64", ns, v)
		}
		if ns < 64 && v != ns {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, want exact", ns, v)
		}
	}
}

func TestParseInfo(t *testing.T) {
	info := strings.Join([]string{
		"# CPU",
		"used_cpu_sys:1.500000",
		"used_cpu_user:2.250000",
		"used_cpu_sys_children:9.000000",
		"",
		"# Commandstats",
		"cmdstat_get:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0",
		"cmdstat_evalsha:calls=3,usec=9,usec_per_call=3.00,rejected_calls=0,failed_calls=0",
		"cmdstat_info:calls=7,usec=1,usec_per_call=0.1,rejected_calls=0,failed_calls=0",
	}, "\r\n")
	st := parseInfo(info)
	if st.cpu != 3.75 {
		t.Errorf("cpu = %v, want 3.75 (children excluded)", st.cpu)
	}
	if st.calls["get"] != 12 || st.calls["evalsha"] != 3 {
		t.Errorf("calls = %v", st.calls)
	}
	d := st.sub(parseInfo("cmdstat_get:calls=2\r\ncmdstat_info:calls=1\r\nused_cpu_sys:1.0\r\n"))
	if d.calls["get"] != 10 || d.calls["evalsha"] != 3 || d.calls["info"] != 0 {
		t.Errorf("sub: calls = %v, want get 10, evalsha 3, no info", d.calls)
	}
}

func TestFmtCalls(t *testing.T) {
	tests := []struct {
		name     string
		calls    map[string]int64
		requests int64
		want     string
	}{
		{"none", nil, 10, "–"},
		{"most first", map[string]int64{"evalsha": 10, "get": 20}, 10, "GET 2.00, EVALSHA 1.00"},
		{"ties by name", map[string]int64{"set": 10, "exec": 10}, 10, "EXEC 1.00, SET 1.00"},
		{"negligible left out", map[string]int64{"get": 1000, "ping": 1}, 1000, "GET 1.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmtCalls(tt.calls, tt.requests); got != tt.want {
				t.Errorf("fmtCalls = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSelectContenders(t *testing.T) {
	tests := []struct {
		name    string
		only    string
		want    []string
		wantErr bool
	}{
		{"default order kept", "scs-mem,tether-mem", []string{"tether-mem", "scs-mem"}, false},
		{"unknown", "tether-mem,nope", nil, true},
		{"all", "all", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := selectContenders(tt.only)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.want == nil {
				return
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestContendersArePaired(t *testing.T) {
	byName := map[string]*contender{}
	for _, c := range allContenders() {
		byName[c.name] = c
	}
	for _, c := range allContenders() {
		if c.peer == "" {
			continue
		}
		p := byName[c.peer]
		if p == nil || p.store != c.store || p.work != c.work || p.product == c.product {
			t.Errorf("%s: peer %q does the same work on the same store with another product: no", c.name, c.peer)
		}
	}
}

// TestSmoke runs every contender briefly, in process and over loopback
// HTTP, and checks that no request failed or returned a wrong counter.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	for _, mode := range []string{"in-process", "http"} {
		t.Run(mode, func(t *testing.T) {
			opts, err := parseFlags([]string{"-only", "all", "-clients", "4", "-duration", "150ms", "-warmup", "50ms",
				"-rounds", "1", "-probe", "50", "-mem-sessions", "1000", "-quiet-wait", "0s", "-retries", "0",
				"-http=" + strconv.FormatBool(mode == "http")})
			if err != nil {
				t.Fatal(err)
			}
			b := &bench{opts: opts, log: slog.New(slog.DiscardHandler), contenders: allContenders()}
			closeRedis, err := b.openRedis(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(closeRedis)
			rep, err := b.measureAll(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.runs {
				if r.errors > 0 || r.requests == 0 {
					t.Errorf("%s: %d requests, %d errors (first: %v)", r.c.name, r.requests, r.errors, r.firstErr)
				}
			}
			if len(rep.probes) != 6 || len(rep.mems) != 2 {
				t.Errorf("%d probes, %d memory figures; want 6 and 2", len(rep.probes), len(rep.mems))
			}
			if md := rep.markdown(); !strings.Contains(md, "| **tether-redis** |") {
				t.Errorf("report has no tether-redis row:\n%s", md)
			}
		})
	}
}
