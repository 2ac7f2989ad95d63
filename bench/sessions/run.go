package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// runResult is one measured run of one contender.
type runResult struct {
	c         *contender
	round     int
	wall      time.Duration
	hist      histogram
	requests  int64
	errors    int64
	firstErr  error
	mallocs   uint64        // heap allocations of the whole process
	bytes     uint64        // heap bytes allocated by the whole process
	cpu       time.Duration // user + system time of this process
	redis     redisStats    // Redis's work: commands and CPU
	sys       ioCount       // this process's read and write system calls
	redisSys  ioCount       // redis-server's, when this command started it
	other     float64       // cores busy with anything but this process and Redis
	discarded bool
}

func (r *runResult) rps() float64 { return float64(r.requests) / r.wall.Seconds() }

// perReq divides x by the run's requests.
func (r *runResult) perReq(x float64) float64 { return x / float64(max(r.requests, 1)) }

// snapshot is the counters a run reads when measuring starts and ends.
type snapshot struct {
	at         time.Time
	mem        runtime.MemStats
	cpu        time.Duration
	redis      redisStats
	sys        ioCount
	redisSys   ioCount
	busy, idle uint64 // whole-machine jiffies from /proc/stat
}

// ioCount is the syscr and syscw lines of /proc/PID/io: how many read and
// write system calls a process made. In process (no HTTP sockets), this
// command's are its Redis clients' socket I/O, polling included.
type ioCount struct{ reads, writes uint64 }

func readIO(pid string) ioCount {
	var c ioCount
	data, _ := os.ReadFile("/proc/" + pid + "/io")
	for line := range strings.Lines(string(data)) {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			c.reads = n
		case "syscw":
			c.writes = n
		}
	}
	return c
}

func (c ioCount) sub(o ioCount) ioCount { return ioCount{c.reads - o.reads, c.writes - o.writes} }

func (b *bench) snapshot() (snapshot, error) {
	var s snapshot
	runtime.ReadMemStats(&s.mem)
	s.cpu = processCPU()
	s.busy, s.idle = boxTicks()
	s.sys = readIO("self")
	if b.redisPID != 0 {
		s.redisSys = readIO(strconv.Itoa(b.redisPID))
	}
	if b.admin != nil {
		var err error
		if s.redis, err = b.admin.stats(); err != nil {
			return s, err
		}
	}
	s.at = time.Now()
	return s, nil
}

// processCPU returns the user + system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// boxTicks returns the busy and idle jiffies of all CPUs from /proc/stat.
func boxTicks() (busy, idle uint64) {
	f := strings.Fields(readFirstLine("/proc/stat")) // "cpu user nice system idle iowait irq softirq steal ..."
	for i, v := range f {
		if i == 0 {
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		switch {
		case i == 4 || i == 5:
			idle += n
		case i <= 8:
			busy += n
		}
	}
	return busy, idle
}

// coresBusy returns how many cores were busy between two box readings.
func coresBusy(b0, i0, b1, i1 uint64) float64 {
	total := (b1 - b0) + (i1 - i0)
	if total == 0 {
		return 0
	}
	return float64(b1-b0) / float64(total) * float64(onlineCPUs())
}

// onlineCPUs counts the "cpuN" lines of /proc/stat.
func onlineCPUs() int {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "cpu") && !strings.HasPrefix(line, "cpu ") {
			n++
		}
	}
	return max(n, 1)
}

// measureOnce sets c up afresh, creates one session per client, warms up
// and measures.
func (b *bench) measureOnce(ctx context.Context, c *contender, round int) (*runResult, error) {
	if b.admin != nil {
		if err := b.admin.flush(); err != nil {
			return nil, err
		}
	}
	h, closeFn, err := c.setup(b.env(c, nil))
	if err != nil {
		return nil, fmt.Errorf("%s: setup: %w", c.name, err)
	}
	defer closeFn()
	var tr transport = inProcess{h}
	if b.opts.HTTP {
		tr = newLoopback(h, b.opts.Clients)
	}
	defer tr.close()
	reqs := make([]requester, b.opts.Clients)
	for i := range reqs {
		reqs[i] = tr.newClient()
		if err := reqs[i].seed(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	}
	results := make([]clientResult, len(reqs))
	runtime.GC()
	measureFrom := time.Now().Add(b.opts.Warmup)
	end := measureFrom.Add(b.opts.Duration)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { runClient(ctx, r, c.work, measureFrom, end, &results[i]) })
	}
	res, err := b.measureWindow(ctx, c, round, measureFrom, end)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	for i := range results {
		res.hist.merge(&results[i].hist)
		res.requests += results[i].requests
		res.errors += results[i].errors
		if res.firstErr == nil {
			res.firstErr = results[i].firstErr
		}
	}
	if res.requests == 0 {
		return nil, fmt.Errorf("%s: %w", c.name, errNoRequests)
	}
	return res, nil
}

// measureWindow reads the counters at measureFrom and at end, with a CPU
// profile in between for round 1 when asked for.
func (b *bench) measureWindow(ctx context.Context, c *contender, round int, measureFrom, end time.Time) (*runResult, error) {
	sleepUntil(ctx, measureFrom)
	s0, err := b.snapshot()
	if err != nil {
		return nil, err
	}
	stop := func() {}
	if b.opts.CPUProfile != "" && round == 1 {
		if stop, err = startProfile(filepath.Join(b.opts.CPUProfile, c.name+".pprof")); err != nil {
			return nil, err
		}
	}
	sleepUntil(ctx, end)
	stop()
	s1, err := b.snapshot()
	if err != nil {
		return nil, err
	}
	r := &runResult{
		c: c, round: round, wall: s1.at.Sub(s0.at),
		mallocs:  s1.mem.Mallocs - s0.mem.Mallocs,
		bytes:    s1.mem.TotalAlloc - s0.mem.TotalAlloc,
		cpu:      s1.cpu - s0.cpu,
		redis:    s1.redis.sub(s0.redis),
		sys:      s1.sys.sub(s0.sys),
		redisSys: s1.redisSys.sub(s0.redisSys),
	}
	busy := coresBusy(s0.busy, s0.idle, s1.busy, s1.idle)
	r.other = busy - (r.cpu.Seconds()+r.redis.cpu)/r.wall.Seconds()
	return r, nil
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// waitQuiet waits, at most opts.QuietWait, until the machine has been
// idle (less than opts.MaxOther cores busy) for a second; 0 skips the
// check.
func (b *bench) waitQuiet(ctx context.Context) {
	if b.opts.QuietWait <= 0 {
		return
	}
	deadline := time.Now().Add(b.opts.QuietWait)
	for first := true; ; first = false {
		b0, i0 := boxTicks()
		sleepUntil(ctx, time.Now().Add(time.Second))
		b1, i1 := boxTicks()
		busy := coresBusy(b0, i0, b1, i1)
		if busy <= b.opts.MaxOther || ctx.Err() != nil {
			return
		}
		if first {
			b.log.Info("the machine is busy; waiting", "cores", fmt.Sprintf("%.2f", busy), "at_most", b.opts.QuietWait)
		}
		if time.Now().After(deadline) {
			b.log.Warn("still busy; measuring anyway", "cores", fmt.Sprintf("%.2f", busy))
			return
		}
	}
}
