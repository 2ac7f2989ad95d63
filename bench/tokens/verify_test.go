package tokens

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkVerifyCold compares a full verification, signature and claims,
// of one token: tether's Verifier with its cache off, and golang-jwt v5
// with strict options into typed claims (golang-jwt) and into a map
// (golang-jwt-map). All verify the same token bytes with the same key.
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range algs {
		raw := mint(b, benchKeys()[alg], accessClaims(time.Now()))
		for _, c := range contenders {
			b.Run(alg+"/"+c.name, func(b *testing.B) {
				verify := c.new(b, alg)
				benchVerify(b, verify, raw)
			})
		}
	}
}

// BenchmarkVerifyCached measures tether's verification of a token it has
// verified before: a cache hit. serial runs on one goroutine; parallel
// runs b.RunParallel, one goroutine per GOMAXPROCS (-cpu).
func BenchmarkVerifyCached(b *testing.B) {
	raw := mint(b, benchKeys()["ES256"], accessClaims(time.Now()))
	verify := newTether(b, 0)
	if err := verify(raw); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		benchVerify(b, verify, raw)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := verify(raw); err != nil {
					b.Error(err)
					return
				}
			}
		})
		cpu.report(b)
	})
}

// benchVerify verifies raw b.N times after one unmeasured verification,
// which also waits for tether's first key-set load.
func benchVerify(b *testing.B, verify verifyFunc, raw string) {
	if err := verify(raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := verify(raw); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// cpuClock measures the CPU time the process uses, user and system, all
// threads: unlike ns/op, it does not grow while other work on the machine
// keeps the benchmark waiting for a core.
type cpuClock time.Duration

func startCPU() cpuClock { return cpuClock(processCPU()) }

// report adds the CPU time per operation since c started, cpu-ns/op: 1e9
// divided by it is operations per second per core, whatever -cpu is.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-time.Duration(c))/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
