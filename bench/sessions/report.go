package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// report is everything one run of the command measured.
type report struct {
	opts       options
	machine    machine
	started    time.Time
	contenders []*contender
	runs       []*runResult // every run, discarded ones included
	probes     []*probeResult
	mems       []*memResult
}

// summary is one contender's kept runs, combined.
type summary struct {
	c             *contender
	n             int
	rps, p50, p99 []float64 // per run; p50 and p99 in seconds
	requests      int64
	errors        int64
	mallocs       uint64
	bytes         uint64
	cpu           time.Duration
	redisCPU      float64
	sys, redisSys ioCount
	calls         map[string]int64
	maxOther      float64
}

func (s *summary) perReq(x float64) float64 { return x / float64(max(s.requests, 1)) }

// cpuPerReq is the Go process's and Redis's CPU time per request, in µs.
func (s *summary) cpuPerReq() float64 {
	return s.perReq(s.cpu.Seconds()+s.redisCPU) * 1e6
}

func (rep *report) summaries() map[string]*summary {
	out := map[string]*summary{}
	for _, r := range rep.runs {
		if r.discarded {
			continue
		}
		s := out[r.c.name]
		if s == nil {
			s = &summary{c: r.c, calls: map[string]int64{}, maxOther: r.other}
			out[r.c.name] = s
		}
		s.n++
		s.rps = append(s.rps, r.rps())
		s.p50 = append(s.p50, r.hist.quantile(0.5).Seconds())
		s.p99 = append(s.p99, r.hist.quantile(0.99).Seconds())
		s.requests += r.requests
		s.errors += r.errors
		s.mallocs += r.mallocs
		s.bytes += r.bytes
		s.cpu += r.cpu
		s.redisCPU += r.redis.cpu
		s.sys = ioCount{s.sys.reads + r.sys.reads, s.sys.writes + r.sys.writes}
		s.redisSys = ioCount{s.redisSys.reads + r.redisSys.reads, s.redisSys.writes + r.redisSys.writes}
		s.maxOther = max(s.maxOther, r.other)
		for k, v := range r.redis.calls {
			s.calls[k] += v
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtLatency(sec float64) string {
	switch {
	case sec < 1e-6:
		return fmt.Sprintf("%.0f ns", sec*1e9)
	case sec < 10e-6:
		return fmt.Sprintf("%.1f µs", sec*1e6)
	}
	if sec < 1e-3 {
		return fmt.Sprintf("%.0f µs", sec*1e6)
	}
	return fmt.Sprintf("%.2f ms", sec*1e3)
}

// fmtCalls lists Redis commands per request, most frequent first:
// "get 1.00, evalsha 1.00".
func fmtCalls(calls map[string]int64, requests int64) string {
	if len(calls) == 0 {
		return "–"
	}
	names := slices.SortedFunc(maps.Keys(calls), func(a, b string) int {
		if calls[a] != calls[b] {
			return int(calls[b] - calls[a])
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range names {
		if per := float64(calls[k]) / float64(max(requests, 1)); per >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(k), per))
		}
	}
	return strings.Join(parts, ", ")
}

// fmtSys formats read+write system calls per request of this process and
// of redis-server: "1.0+1.0 · 0.5+0.5".
func fmtSys(own, redis ioCount, requests int64) string {
	per := func(n uint64) float64 { return float64(n) / float64(max(requests, 1)) }
	out := fmt.Sprintf("%.2f+%.2f", per(own.reads), per(own.writes))
	if redis.reads+redis.writes > 0 {
		out += fmt.Sprintf(" · %.2f+%.2f", per(redis.reads), per(redis.writes))
	}
	return out
}

// commandArgs returns args without -out and its value, which only say
// where this report is written.
func commandArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-out" || a == "--out":
			i++
		case strings.HasPrefix(a, "-out=") || strings.HasPrefix(a, "--out="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// probe returns the round-trip probe of the named contender, or nil.
func (rep *report) probe(name string) *probeResult {
	for _, p := range rep.probes {
		if p.c.name == name {
			return p
		}
	}
	return nil
}

func (rep *report) markdown() string {
	var b strings.Builder
	sums := rep.summaries()
	b.WriteString("# Sessions: tether vs scs (load + save per request)\n\n")
	rep.writeHead(&b)
	b.WriteString("\n## Results\n\n")
	rep.writeResults(&b, sums)
	rep.writeRatios(&b, sums)
	rep.writeProbes(&b)
	rep.writeMemory(&b)
	rep.writeTargets(&b, sums)
	rep.writeRuns(&b)
	return b.String()
}

func (rep *report) writeHead(b *strings.Builder) {
	m, o := rep.machine, rep.opts
	mode := "in process: each request is `handler.ServeHTTP(httptest.NewRecorder(), req)`, no sockets"
	if o.HTTP {
		mode = "over loopback HTTP/1.1 (httptest.Server, kept-alive connections, one per client)"
	}
	fmt.Fprintf(b, "- Date: %s\n", rep.started.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(b, "- Command: `cd bench/sessions && go run . %s`\n", strings.Join(commandArgs(os.Args[1:]), " "))
	fmt.Fprintf(b, "- Machine: %s, %d cores (GOMAXPROCS %d), %s, %s, kernel %s\n", m.cpu, m.cores, m.maxprocs, m.ram, m.os, m.kernel)
	fmt.Fprintf(b, "- Versions: tether %s, %s; scs %s with its redisstore %s (redigo %s); tether's redisstore on rueidis %s; redis-server %s\n",
		m.tether, m.goVersion, m.modules["github.com/alexedwards/scs/v2"], m.modules["github.com/alexedwards/scs/redisstore"],
		m.modules["github.com/gomodule/redigo"], m.modules["github.com/redis/rueidis"], m.redisVersion)
	fmt.Fprintf(b, "- Load: %d clients, each with its own session, sending requests back to back (closed loop), %s; per run a %v warm-up, then %v measured; %d round(s), interleaved (contender order rotated each round); **medians** over rounds, req/s ranges (min–max) in brackets\n",
		o.Clients, mode, o.Warmup, o.Duration, o.Rounds)
	b.WriteString("- Work: *load + save*: read a counter from the session, add one, write it back (each answer is checked: it must be the previous one plus one); *read only*: read the counter of a session that does not change (checked: always 1)")
	if o.Payload > 0 {
		fmt.Fprintf(b, "; every session also holds a %d-byte string", o.Payload)
	}
	b.WriteString("\n")
	b.WriteString("- tether: `session.New(Config{IdleTimeout: 30m, AbsoluteTimeout: 12h}, …)` (other fields default: TouchInterval 1m, cookie `__Host-sid`, binding log), `StaticKey`; memory: `memstore.New(memstore.Options{})`; Redis: `redisstore.Open(ctx, \"redis://…\", redisstore.Options{})` (rueidis, one auto-pipelined connection)\n")
	fmt.Fprintf(b, "- scs: `scs.New()` defaults (gob codec, cookie `session`, token stored unhashed) with `IdleTimeout = 30m`, `Lifetime = 12h`; memory: scs's `memstore.New()`; Redis: scs's `redisstore.New(&redis.Pool{MaxIdle: %d, MaxActive: %d, Wait: true})` on the same redis-server, flushed (FLUSHALL) before every run\n", o.Clients, o.Clients)
	b.WriteString("- **floor**: the same harness with a handler that keeps no session: what the request, the recorder and the timing cost on their own\n")
	b.WriteString("- Per request: *allocs* and *KiB* are the whole process's heap allocations (client loop included, see the floor); *CPU µs* is this Go process's user+system time (clients included); *Redis CPU µs* is redis-server's (`INFO cpu`); *Redis commands* come from `INFO commandstats`, which also counts the calls a Lua script makes: tether's compare-and-swap is one EVALSHA that runs a GET and a SET inside Redis, so its load + save shows GET 2, SET 1, EVALSHA 1 for two commands sent. *Syscalls*: read and write system calls per request (`/proc/PID/io`), of this process (in process, that is its Redis clients' socket I/O) and of redis-server: under load, pipelining shows as fewer than one per command. *Other cores*: CPU used by anything else on the machine during the run (other tenants); much above 0.1 means a disturbed run.\n")
}

func (rep *report) writeResults(b *strings.Builder, sums map[string]*summary) {
	b.WriteString("| contender | manager | store | work | req/s | p50 | p99 | errors | allocs/req | KiB/req | CPU µs/req (Go) | Redis CPU µs/req | Redis commands/req | syscalls/req r+w (Go · Redis) | other cores (max) |\n")
	b.WriteString("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, c := range rep.contenders {
		s := sums[c.name]
		if s == nil {
			continue
		}
		rng := ""
		if s.n > 1 {
			rng = fmt.Sprintf(" [%.0f–%.0f]", slices.Min(s.rps), slices.Max(s.rps))
		}
		redisCPU, calls, sys := "–", "–", "–"
		if c.usesRedis() {
			redisCPU = fmt.Sprintf("%.1f", s.perReq(s.redisCPU)*1e6)
			calls = fmtCalls(s.calls, s.requests)
			sys = fmtSys(s.sys, s.redisSys, s.requests)
		}
		fmt.Fprintf(b, "| **%s** | %s | %s | %s | %.0f%s | %s | %s | %d | %.0f | %.1f | %.1f | %s | %s | %s | %.2f |\n",
			c.name, c.product, c.store, c.work, median(s.rps), rng, fmtLatency(median(s.p50)), fmtLatency(median(s.p99)),
			s.errors, s.perReq(float64(s.mallocs)), s.perReq(float64(s.bytes))/1024, s.perReq(s.cpu.Seconds())*1e6,
			redisCPU, calls, sys, s.maxOther)
	}
	b.WriteString("\n")
}

func (rep *report) writeRatios(b *strings.Builder, sums map[string]*summary) {
	b.WriteString("### tether ÷ scs\n\n")
	b.WriteString("req/s above 1: tether is faster; latency and CPU below 1: tether is quicker or cheaper. The req/s ratio is of the medians, with the range of the ratios within each round (the two runs nearest in time) in brackets. CPU counts this process and redis-server. The issue's target is req/s ≥ 1.5.\n\n")
	b.WriteString("| store | work | req/s | p50 | p99 | CPU µs/req (Go + Redis) | Redis round trips/req | ≥ 1.5× scs |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, c := range rep.contenders {
		t, s := sums[c.name], sums[c.peer]
		if c.product != "tether" || t == nil || s == nil {
			continue
		}
		ratio := median(t.rps) / median(s.rps)
		met := "**yes**"
		if ratio < 1.5 {
			met = "**no**"
		}
		if rr := rep.roundRatios(c); len(rr) > 1 {
			met += fmt.Sprintf(" (%d of %d rounds)", countAtLeast(rr, 1.5), len(rr))
		}
		trips := "–"
		if pt, ps := rep.probe(c.name), rep.probe(c.peer); pt != nil && ps != nil {
			trips = fmt.Sprintf("%.2f ÷ %.2f", pt.writes, ps.writes)
		}
		store := c.store
		if c.experiment != "" {
			store += ", experiment: " + c.experiment
		}
		fmt.Fprintf(b, "| %s | %s | **%.2f**%s | %s | %s | %s (%.1f ÷ %.1f) | %s | %s |\n",
			store, c.work, trunc2(ratio), fmtRange(rep.roundRatios(c)), fmtRatio(median(t.p50)/median(s.p50)),
			fmtRatio(median(t.p99)/median(s.p99)), fmtRatio(t.cpuPerReq()/s.cpuPerReq()), t.cpuPerReq(), s.cpuPerReq(), trips, met)
	}
	b.WriteString("\n")
}

// roundRatios returns, for each round where both have a kept run, c's
// req/s divided by its peer's.
func (rep *report) roundRatios(c *contender) []float64 {
	kept := map[string]map[int]float64{}
	for _, r := range rep.runs {
		if r.discarded {
			continue
		}
		if kept[r.c.name] == nil {
			kept[r.c.name] = map[int]float64{}
		}
		kept[r.c.name][r.round] = r.rps()
	}
	var out []float64
	for round := 1; round <= rep.opts.Rounds; round++ {
		t, ok1 := kept[c.name][round]
		s, ok2 := kept[c.peer][round]
		if ok1 && ok2 && s > 0 {
			out = append(out, t/s)
		}
	}
	return out
}

func countAtLeast(xs []float64, bound float64) int {
	n := 0
	for _, x := range xs {
		if x >= bound {
			n++
		}
	}
	return n
}

func fmtRange(xs []float64) string {
	if len(xs) < 2 {
		return ""
	}
	return fmt.Sprintf(" [%.2f–%.2f]", trunc2(slices.Min(xs)), trunc2(slices.Max(xs)))
}

// trunc2 drops the digits after the second decimal of a throughput
// ratio, so that a ratio shown as 1.50 is at least 1.5.
func trunc2(x float64) float64 { return math.Floor(x*100) / 100 }

// fmtRatio shows two decimals, or three for ratios below 0.1.
func fmtRatio(r float64) string {
	if r < 0.1 {
		return fmt.Sprintf("%.3f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

func (rep *report) writeProbes(b *strings.Builder) {
	if len(rep.probes) == 0 {
		return
	}
	fmt.Fprintf(b, "### Redis round trips per request\n\n")
	fmt.Fprintf(b, "One client sends %d requests one at a time (after 100 unmeasured; p50 and p99 are of these requests, without contention) over connections that count their socket writes and reads. With one request in flight, each write is a round trip: the client flushes its commands, then waits for the replies (redigo sends scs's MULTI/SET/PEXPIREAT/EXEC in one write; rueidis writes each call as it is made). Under concurrency rueidis also pipelines different requests' commands into one write, which this does not show.\n\n", rep.opts.Probe)
	b.WriteString("| contender | work | round trips/req | socket reads/req | Redis commands/req | p50 | p99 |\n")
	b.WriteString("|---|---|---:|---:|---|---:|---:|\n")
	for _, p := range rep.probes {
		fmt.Fprintf(b, "| %s | %s | **%.2f** | %.2f | %s | %s | %s |\n", p.c.name, p.c.work, p.writes, p.reads,
			fmtCalls(p.redis.calls, int64(p.requests)), fmtLatency(p.hist.quantile(0.5).Seconds()), fmtLatency(p.hist.quantile(0.99).Seconds()))
	}
	b.WriteString("\n")
}

func (rep *report) writeMemory(b *strings.Builder) {
	if len(rep.mems) == 0 {
		return
	}
	b.WriteString("### Memory per session (memory stores)\n\n")
	fmt.Fprintf(b, "%d sessions created through each manager's middleware, each holding one 100-byte value (tether: a JSON string; scs: a Go string); live heap growth after GC per session, minus the 100 bytes. Includes the manager's own record (timestamps, binding signals for tether) and the store's index.\n\n", rep.mems[0].sessions)
	b.WriteString("| contender | bytes per session beyond the value |\n|---|---:|\n")
	for _, m := range rep.mems {
		fmt.Fprintf(b, "| %s | %.0f |\n", m.c.name, m.overhead)
	}
	b.WriteString("\n")
}

// writeTargets checks the targets against what this run measured.
func (rep *report) writeTargets(b *strings.Builder, sums map[string]*summary) {
	b.WriteString("### Targets\n\n")
	for _, p := range rep.probes {
		if p.c.product == "tether" && p.c.work == readOnly && p.c.experiment == "" {
			fmt.Fprintf(b, "- At most one Redis round trip to read an unchanged session: **%.2f** (%s) → %s. tether writes an unchanged session back only to extend its idle deadline, at most once per TouchInterval (1m) per session, which no session reaches in a run this short.\n",
				p.writes, fmtCalls(p.redis.calls, int64(p.requests)), verdict(p.writes <= 1.005))
		}
	}
	for _, c := range rep.contenders {
		t, s := sums[c.name], sums[c.peer]
		if c.product != "tether" || t == nil || s == nil {
			continue
		}
		r := median(t.rps) / median(s.rps)
		if c.experiment != "" {
			fmt.Fprintf(b, "- (experiment, not the default: %s, %s: %.2f× scs)\n", c.name, c.experiment, trunc2(r))
			continue
		}
		rr := rep.roundRatios(c)
		fmt.Fprintf(b, "- ≥ 1.5× scs's throughput, %s, %s: **%.2f×** (rounds:%s) → %s\n", c.store, c.work, trunc2(r), fmtList(rr), verdict(r >= 1.5))
	}
	for _, m := range rep.mems {
		if m.c.product == "tether" {
			fmt.Fprintf(b, "- ≤ 300 bytes per session beyond its data, memory store, through the Manager: **%.0f B** → %s\n", m.overhead, verdict(m.overhead <= 300))
		}
	}
	b.WriteString("\n")
}

func fmtList(xs []float64) string {
	var b strings.Builder
	for _, x := range xs {
		fmt.Fprintf(&b, " %.2f", trunc2(x))
	}
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// writeRuns lists every run, the discarded ones too.
func (rep *report) writeRuns(b *strings.Builder) {
	b.WriteString("## Every run\n\n")
	b.WriteString("| round | contender | req/s | requests | p50 | p99 | errors | allocs/req | CPU µs/req (Go) | Redis CPU µs/req | Redis commands/req | syscalls/req r+w (Go · Redis) | other cores | kept |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n")
	for _, r := range rep.runs {
		kept := "yes"
		if r.discarded {
			kept = "discarded (other cores)"
		}
		redisCPU, calls, sys := "–", "–", "–"
		if r.c.usesRedis() {
			redisCPU = fmt.Sprintf("%.1f", r.perReq(r.redis.cpu)*1e6)
			calls = fmtCalls(r.redis.calls, r.requests)
			sys = fmtSys(r.sys, r.redisSys, r.requests)
		}
		fmt.Fprintf(b, "| %d | %s | %.0f | %d | %s | %s | %d | %.0f | %.1f | %s | %s | %s | %.2f | %s |\n",
			r.round, r.c.name, r.rps(), r.requests, fmtLatency(r.hist.quantile(0.5).Seconds()), fmtLatency(r.hist.quantile(0.99).Seconds()),
			r.errors, r.perReq(float64(r.mallocs)), r.perReq(r.cpu.Seconds())*1e6, redisCPU, calls, sys, r.other, kept)
	}
	b.WriteString("\nCaveats: everything (clients, managers, redis-server) shares the same cores, so req/s mostly says how much CPU each manager and its Redis traffic leave to the rest; latency is closed-loop (coordinated omission: p99 is optimistic under overload). Compare ratios within one report, not absolute numbers across machines.\n")
}
