package main

import (
	"context"
	"fmt"
	"time"
)

// measureAll measures memory per session first (while the heap holds
// nothing else), then runs every round, then the round-trip probe, and
// returns the report.
func (b *bench) measureAll(ctx context.Context) (*report, error) {
	rep := &report{opts: b.opts, machine: b.machine, started: time.Now().UTC(), contenders: b.contenders}
	if b.opts.MemSessions > 0 {
		for _, c := range b.contenders {
			if c.store != "memory" || c.work != loadSave {
				continue
			}
			b.log.Info("measuring memory per session", "contender", c.name, "sessions", b.opts.MemSessions)
			m, err := b.memoryPerSession(c, b.opts.MemSessions, 100)
			if err != nil {
				return nil, err
			}
			rep.mems = append(rep.mems, m)
		}
	}
	n := len(b.contenders)
	for round := 1; round <= b.opts.Rounds; round++ {
		for j := range n {
			c := b.contenders[(j+round-1)%n]
			if err := b.measure(ctx, c, round, rep); err != nil {
				return nil, err
			}
		}
	}
	if b.opts.Probe > 0 {
		for _, c := range b.contenders {
			if !c.usesRedis() {
				continue
			}
			b.log.Info("counting round trips", "contender", c.name, "requests", b.opts.Probe)
			p, err := b.probe(ctx, c, b.opts.Probe)
			if err != nil {
				return nil, err
			}
			rep.probes = append(rep.probes, p)
		}
	}
	return rep, ctx.Err()
}

// measure measures c once, and again (at most opts.Retries times) while
// other processes disturb the run; disturbed runs are kept in the report
// as discarded.
func (b *bench) measure(ctx context.Context, c *contender, round int, rep *report) error {
	for attempt := 0; ; attempt++ {
		b.waitQuiet(ctx)
		b.log.Info("measuring", "round", fmt.Sprintf("%d/%d", round, b.opts.Rounds), "contender", c.name)
		r, err := b.measureOnce(ctx, c, round)
		if err != nil {
			return err
		}
		b.log.Info("measured", "contender", c.name, "req/s", fmt.Sprintf("%.0f", r.rps()),
			"p50", r.hist.quantile(0.5), "p99", r.hist.quantile(0.99), "errors", r.errors,
			"other_cores", fmt.Sprintf("%.2f", r.other))
		if r.firstErr != nil {
			b.log.Warn("requests failed", "contender", c.name, "errors", r.errors, "first", r.firstErr)
		}
		rep.runs = append(rep.runs, r)
		if r.other > b.opts.MaxOther && attempt < b.opts.Retries {
			r.discarded = true
			b.log.Warn("discarded: other processes were busy; measuring again", "other_cores", fmt.Sprintf("%.2f", r.other))
			continue
		}
		return nil
	}
}
