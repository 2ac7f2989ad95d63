package testsupport

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisStartTimeout bounds how long a Redis process, or a topology of
// them, may take to become ready before the test fails.
const redisStartTimeout = 15 * time.Second

// Redis is a redis-server (or Sentinel) process that a test started. It
// listens on 127.0.0.1 only, keeps no data on disk, and is killed when the
// test ends. Stop and Start let a test take it down and bring it back on
// the same address, with its data gone; Pause and Resume freeze it like a
// hung host. The methods must be called from the test's goroutine.
type Redis struct {
	// Addr is the server's address, "127.0.0.1:port". It stays the same
	// across Stop and Start.
	Addr string

	t       testing.TB
	name    string                // "redis", "sentinel", … for messages
	args    func(*Redis) []string // the command line after the binary
	prepare func(*Redis) error    // writes a config file, if set
	cluster bool                  // a cluster node, with a bus port
	dir     string                // the working directory
	port    int                   // the port of Addr
	busPort int                   // a cluster node's bus port
	log     SyncBuffer            // the output of every run
	tls     *tls.Config           // set for a server that speaks only TLS
	cmd     *exec.Cmd             // nil while stopped
	exited  chan error            // receives cmd's exit
}

// RedisServer returns the path of redis-server. A missing Redis fails the
// test rather than skipping it: scripts/test-deps.sh (run by `make test`)
// installs it.
func RedisServer(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run `make test` (scripts/test-deps.sh installs it)")
	}
	return p
}

// StartRedis starts a standalone redis-server on a free loopback port,
// without persistence, and returns once it answers PING. The server is
// killed when the test ends. Tests that share one server keep apart by
// key prefix.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedis(t, &Redis{name: "redis", args: (*Redis).baseArgs})
}

// StartRedisTLS is StartRedis for a server that speaks only TLS, with the
// certificate and key in certFile and keyFile (see TLSFiles), and that asks
// clients for no certificate.
func StartRedisTLS(t testing.TB, certFile, keyFile string) *Redis {
	t.Helper()
	return startRedis(t, &Redis{
		name: "redis (TLS)",
		tls:  &tls.Config{InsecureSkipVerify: true}, // only for the helper's own PING
		args: func(r *Redis) []string {
			args := r.baseArgs()
			args[1] = "0" // no plain-text port
			return append(args, "--tls-port", strconv.Itoa(r.port), "--tls-cert-file", certFile,
				"--tls-key-file", keyFile, "--tls-ca-cert-file", certFile, "--tls-auth-clients", "no")
		},
	})
}

// baseArgs are the options every data server runs with: loopback only, no
// persistence, the log on stdout, and a replica served at once rather than
// after the default 5s wait for more replicas.
func (r *Redis) baseArgs() []string {
	return []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", "",
		"--repl-diskless-sync-delay", "0",
	}
}

// startRedis starts r, whose name, args and prepare are set, on fresh
// ports, retrying when another process took a port in between.
func startRedis(t testing.TB, r *Redis) *Redis {
	t.Helper()
	r.t, r.dir = t, t.TempDir()
	t.Cleanup(r.Stop)
	var err error
	for range 5 {
		logged := len(r.log.String())
		r.port = freePort(t)
		if r.cluster {
			r.busPort = freePort(t)
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
		if err = r.start(); err == nil {
			return r
		}
		if !strings.Contains(r.log.String()[logged:], "Address already in use") {
			break
		}
	}
	t.Fatalf("%v; output:\n%s", err, r.log.String())
	return nil
}

// freePort returns a loopback port where nothing listens right now.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(DeadAddress(t))
	p, _ := strconv.Atoi(port)
	return p
}

// Start starts the server again on its address after Stop, and returns
// once it answers PING. It does nothing if the server is running.
func (r *Redis) Start() {
	r.t.Helper()
	if r.cmd != nil {
		return
	}
	var err error
	for range 50 { // the port may linger briefly after Stop
		logged := len(r.log.String())
		if err = r.start(); err == nil || !strings.Contains(r.log.String()[logged:], "Address already in use") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("%v; output:\n%s", err, r.log.String())
	}
}

// start runs the process and waits until it answers PING.
func (r *Redis) start() error {
	if r.prepare != nil {
		if err := r.prepare(r); err != nil {
			return err
		}
	}
	cmd := exec.Command(RedisServer(r.t), r.args(r)...)
	cmd.Stdout, cmd.Stderr = &r.log, &r.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.name, err)
	}
	r.cmd, r.exited = cmd, make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		select {
		case err := <-r.exited:
			r.cmd = nil
			return fmt.Errorf("%s on %s exited before answering PING (%v)", r.name, r.Addr, err)
		default:
		}
		if reply, err := r.do("PING"); err == nil && reply == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return fmt.Errorf("%s did not answer PING on %s within %v", r.name, r.Addr, redisStartTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server, like a crash: clients see their connections
// closed and new ones refused. It does nothing if the server is stopped.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies only once resumed
	r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// Pause freezes the server (SIGSTOP): it keeps its connections open and
// accepts new ones but answers nothing, like a hung host, until Resume.
func (r *Redis) Pause() {
	if r.cmd != nil {
		r.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume lets a paused server run again.
func (r *Redis) Resume() {
	if r.cmd != nil {
		r.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Do sends one command to the server and returns its reply, flattened as
// redisDo does; it fails the test on an error reply.
func (r *Redis) Do(args ...string) string {
	r.t.Helper()
	reply, err := r.do(args...)
	if err != nil {
		r.t.Fatalf("%s %s: %v", r.name, strings.Join(args, " "), err)
	}
	return reply
}

// Log returns what the server has written to its log so far.
func (r *Redis) Log() string { return r.log.String() }

// waitRedis polls until ready reports true, failing the test with the
// logs of procs when it does not within redisStartTimeout.
func waitRedis(t testing.TB, what string, procs []*Redis, ready func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(redisStartTimeout)
	var ok bool
	var err error
	for time.Now().Before(deadline) {
		if ok, err = ready(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var logs strings.Builder
	for _, p := range procs {
		fmt.Fprintf(&logs, "--- %s %s:\n%s", p.name, p.Addr, p.Log())
	}
	t.Fatalf("%s: not ready within %v (last error: %v)\n%s", what, redisStartTimeout, err, logs.String())
}

// do is redisDo over TLS for a server that speaks only TLS.
func (r *Redis) do(args ...string) (string, error) {
	if r.tls == nil {
		return redisDo(r.Addr, args...)
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: r.tls}
	c, err := d.Dial("tcp", r.Addr)
	if err != nil {
		return "", err
	}
	return redisDoConn(c, args...)
}

// redisDo sends one command to addr on a fresh connection and reads the
// reply, flattened: a status or bulk string as is, an integer in decimal,
// nil as "", an array as its elements joined by newlines. An error reply
// is returned as an error.
func redisDo(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	return redisDoConn(c, args...)
}

// redisDoConn is redisDo on c, which it closes.
func redisDoConn(c net.Conn, args ...string) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", errors.New(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		_, err = io.ReadFull(r, buf)
		return string(buf[:n]), err
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", err
		}
		items := make([]string, 0, max(n, 0))
		for range n {
			item, err := readReply(r)
			if err != nil {
				return "", err
			}
			items = append(items, item)
		}
		return strings.Join(items, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// writeFile writes a config file for a process that rewrites its own
// config (Sentinel does).
func writeFile(dir, name, text string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600)
}

// RedisSentinel is a Sentinel deployment a test started: a master, one
// replica and three Sentinels that monitor the master under MasterName
// with a quorum of 2. Everything is killed when the test ends.
type RedisSentinel struct {
	// MasterName is the name the Sentinels know the master by: "tether".
	MasterName string
	// Master and Replica are the data servers as started; after Failover
	// their roles are swapped.
	Master, Replica *Redis
	// Sentinels are the three Sentinel processes.
	Sentinels []*Redis
}

// StartRedisSentinel starts a master, a replica in sync with it and three
// Sentinels, and returns once every Sentinel sees the master up and knows
// the replica (so that a failover can pick it).
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	s := &RedisSentinel{MasterName: "tether", Master: StartRedis(t)}
	s.Replica = startRedis(t, &Redis{name: "replica", args: func(r *Redis) []string {
		return append(r.baseArgs(), "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.port))
	}})
	waitRedis(t, "redis replica", []*Redis{s.Master, s.Replica}, func() (bool, error) {
		info, err := redisDo(s.Replica.Addr, "INFO", "replication")
		return strings.Contains(info, "master_link_status:up"), err
	})
	for range 3 {
		s.Sentinels = append(s.Sentinels, startRedis(t, &Redis{
			name:    "sentinel",
			prepare: s.writeSentinelConfig,
			args: func(r *Redis) []string {
				return []string{filepath.Join(r.dir, "sentinel.conf"), "--sentinel"}
			},
		}))
	}
	procs := append([]*Redis{s.Master, s.Replica}, s.Sentinels...)
	waitRedis(t, "redis sentinel", procs, func() (bool, error) {
		for _, sn := range s.Sentinels {
			state, err := sentinelMaster(sn.Addr, s.MasterName)
			if err != nil || state["flags"] != "master" || state["num-slaves"] != "1" {
				return false, err
			}
		}
		return true, nil
	})
	return s
}

// writeSentinelConfig writes the config of Sentinel r, which Sentinel
// insists on being able to rewrite.
func (s *RedisSentinel) writeSentinelConfig(r *Redis) error {
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile ""
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 5000
`, r.port, r.dir, s.MasterName, s.Master.port)
	return writeFile(r.dir, "sentinel.conf", conf)
}

// SentinelAddrs returns the addresses of the Sentinels.
func (s *RedisSentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return addrs
}

// Failover makes a Sentinel promote the replica (SENTINEL FAILOVER, which
// needs no agreement) and waits until every Sentinel names it as the
// master and it accepts writes. It asks again if a failover is aborted. It
// returns the new master's address and swaps s.Master and s.Replica.
func (s *RedisSentinel) Failover(t testing.TB) string {
	t.Helper()
	want, asked := s.Replica.Addr, s.Sentinels[0].Addr
	procs := append([]*Redis{s.Master, s.Replica}, s.Sentinels...)
	waitRedis(t, "sentinel failover", procs, func() (bool, error) {
		if addr, err := masterAddr(asked, s.MasterName); err != nil || addr != want {
			// INPROG while a failover runs; NOGOODSLAVE until the
			// Sentinel has fresh news of the replica.
			_, err := redisDo(asked, "SENTINEL", "FAILOVER", s.MasterName)
			return false, err
		}
		for _, sn := range s.Sentinels {
			if addr, err := masterAddr(sn.Addr, s.MasterName); err != nil || addr != want {
				return false, err
			}
		}
		info, err := redisDo(want, "INFO", "replication")
		return strings.Contains(info, "role:master"), err
	})
	s.Master, s.Replica = s.Replica, s.Master
	return want
}

// masterAddr returns the address a Sentinel names for master name.
func masterAddr(sentinel, name string) (string, error) {
	reply, err := redisDo(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	return strings.ReplaceAll(reply, "\n", ":"), err
}

// sentinelMaster returns a Sentinel's state of master name as a map.
func sentinelMaster(addr, name string) (map[string]string, error) {
	reply, err := redisDo(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	fields := strings.Split(reply, "\n")
	state := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		state[fields[i]] = fields[i+1]
	}
	return state, nil
}

// RedisCluster is a Redis Cluster a test started: three masters, without
// replicas, that share the 16384 hash slots. It is killed when the test
// ends.
type RedisCluster struct {
	// Nodes are the three masters, in slot order.
	Nodes []*Redis
}

// StartRedisCluster starts three cluster nodes, assigns each a third of
// the slots, introduces them to each other (CLUSTER MEET) and returns once
// every node reports cluster_state:ok. That takes about two seconds: a
// fresh master waits that long before it declares the cluster writable.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	for range 3 {
		c.Nodes = append(c.Nodes, startRedis(t, &Redis{name: "cluster node", cluster: true, args: func(r *Redis) []string {
			return append(r.baseArgs(), "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(r.busPort),
				"--cluster-config-file", filepath.Join(r.dir, "nodes.conf"), "--cluster-node-timeout", "2000")
		}}))
	}
	const slots = 16384
	for i, n := range c.Nodes {
		lo, hi := i*slots/len(c.Nodes), (i+1)*slots/len(c.Nodes)-1
		n.Do("CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		n.Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}
	for _, n := range c.Nodes[1:] {
		c.Nodes[0].Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.port), strconv.Itoa(n.busPort))
	}
	waitRedis(t, "redis cluster", c.Nodes, func() (bool, error) {
		for _, n := range c.Nodes {
			info, err := redisDo(n.Addr, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false, err
			}
		}
		return true, nil
	})
	return c
}

// Addrs returns the addresses of the nodes.
func (c *RedisCluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}
