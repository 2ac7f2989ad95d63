package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// machine describes where the benchmark ran and what it ran.
type machine struct {
	cpu, os, kernel, ram string
	cores, maxprocs      int
	goVersion            string
	tether               string // git commit of the working tree
	modules              map[string]string
	redisVersion         string
}

func readMachine(admin *redisAdmin) machine {
	m := machine{
		cpu:       cpuModel(),
		os:        osName(),
		kernel:    readFirstLine("/proc/sys/kernel/osrelease"),
		ram:       ram(),
		cores:     onlineCPUs(),
		maxprocs:  runtime.GOMAXPROCS(0),
		goVersion: runtime.Version(),
		tether:    tetherRevision(),
		modules:   map[string]string{},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			m.modules[d.Path] = d.Version
		}
	}
	if admin != nil {
		m.redisVersion = admin.info("redis_version")
	} else {
		m.redisVersion = "(not used)"
	}
	return m
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func osName() string {
	data, _ := os.ReadFile("/etc/os-release")
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

func ram() string {
	data, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return fmt.Sprintf("%.1f GiB RAM", kb/(1<<20))
		}
	}
	return "unknown RAM"
}

// tetherRevision returns the short commit of the repository the command
// runs in, with "+dirty" when the working tree differs from it.
func tetherRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		rev += "+dirty"
	}
	return rev
}
