package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
)

// redisServer is a redis-server process the benchmark started: loopback
// only, no persistence. Stop kills it.
type redisServer struct {
	addr   string
	cmd    *exec.Cmd
	exited chan error // receives cmd's exit
	log    *os.File
}

// startRedis runs bin on a free 127.0.0.1 port, with a working directory
// and log file under dir, and returns once it answers PING. The process
// is also killed by the kernel if this program dies first (Pdeathsig).
func startRedis(ctx context.Context, bin, dir string) (*redisServer, error) {
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("start redis: %w", err)
		}
		s, err := runRedis(ctx, bin, dir, port)
		if err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			return nil, err
		}
	}
	return nil, errors.New("start redis: no free port after 5 attempts")
}

func runRedis(ctx context.Context, bin, dir string, port int) (*redisServer, error) {
	logf, err := os.CreateTemp(dir, "redis-*.log")
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	s := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: logf}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start redis: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for {
		if err := ping(s.addr); err == nil {
			return s, nil
		}
		select {
		case err := <-s.exited:
			out, _ := os.ReadFile(logf.Name())
			logf.Close()
			os.Remove(logf.Name())
			return nil, fmt.Errorf("start redis: redis-server exited (%v): %s", err, out)
		case <-deadline:
			s.Stop()
			return nil, errors.New("start redis: no answer to PING within 15s")
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the server (by its PID) and waits for it to exit.
func (s *redisServer) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	s.log.Close()
	os.Remove(s.log.Name())
	s.cmd = nil
}

// freePort returns a loopback port where nothing listens right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ping(addr string) error {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("PING")
	return err
}

// redisAdmin is the benchmark's own connection to Redis, for FLUSHALL and
// INFO; its INFO calls are left out of the command counts.
type redisAdmin struct{ conn redis.Conn }

func dialAdmin(addr string) (*redisAdmin, error) {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(2*time.Second),
		redis.DialReadTimeout(30*time.Second), redis.DialWriteTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("redis admin: %w", err)
	}
	return &redisAdmin{conn: c}, nil
}

func (a *redisAdmin) Close() error { return a.conn.Close() }

// flush deletes every key (FLUSHALL, synchronous). Cached scripts stay.
func (a *redisAdmin) flush() error {
	if _, err := a.conn.Do("FLUSHALL", "SYNC"); err != nil {
		return fmt.Errorf("redis flushall: %w", err)
	}
	return nil
}

// redisStats is what INFO says about the work Redis did so far.
type redisStats struct {
	calls map[string]int64 // command name (lowercase) → calls
	cpu   float64          // used_cpu_user + used_cpu_sys, seconds
}

func (a *redisAdmin) stats() (redisStats, error) {
	s, err := redis.String(a.conn.Do("INFO", "commandstats", "cpu"))
	if err != nil {
		return redisStats{}, fmt.Errorf("redis info: %w", err)
	}
	return parseInfo(s), nil
}

// info returns one field of INFO server (such as redis_version).
func (a *redisAdmin) info(field string) string {
	s, err := redis.String(a.conn.Do("INFO", "server"))
	if err != nil {
		return "unknown"
	}
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return "unknown"
}

// parseInfo reads the commandstats and cpu sections of an INFO reply:
//
//	cmdstat_get:calls=12,usec=30,usec_per_call=2.50,...
//	used_cpu_sys:1.234
func parseInfo(s string) redisStats {
	st := redisStats{calls: map[string]int64{}}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(key, "cmdstat_"):
			for field := range strings.SplitSeq(val, ",") {
				if n, ok := strings.CutPrefix(field, "calls="); ok {
					calls, _ := strconv.ParseInt(n, 10, 64)
					st.calls[strings.TrimPrefix(key, "cmdstat_")] = calls
				}
			}
		case key == "used_cpu_sys" || key == "used_cpu_user":
			f, _ := strconv.ParseFloat(val, 64)
			st.cpu += f
		}
	}
	return st
}

// sub returns the work done between before and s, without the admin
// connection's own INFO calls.
func (s redisStats) sub(before redisStats) redisStats {
	d := redisStats{calls: map[string]int64{}, cpu: s.cpu - before.cpu}
	for k, v := range s.calls {
		if n := v - before.calls[k]; n > 0 && k != "info" {
			d.calls[k] = n
		}
	}
	return d
}

// connCounter counts the socket writes and reads of the connections it
// wraps. On a connection used by one request at a time, a write is a
// round trip: a client flushes its commands and then waits for replies.
type connCounter struct{ writes, reads atomic.Int64 }

// dial opens a TCP connection to addr that counts into c.
func (c *connCounter) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: conn, c: c}, nil
}

type countedConn struct {
	net.Conn
	c *connCounter
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.c.writes.Add(1)
	return c.Conn.Write(b)
}

func (c *countedConn) Read(b []byte) (int, error) {
	c.c.reads.Add(1)
	return c.Conn.Read(b)
}

// readFirstLine returns the first line of a file, or "".
func readFirstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	return strings.TrimSpace(sc.Text())
}
