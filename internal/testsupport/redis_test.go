package testsupport

import (
	"strings"
	"testing"
)

func TestStartRedis(t *testing.T) {
	r := StartRedis(t)
	r.Do("SET", "k", "v")
	if got := r.Do("GET", "k"); got != "v" {
		t.Fatalf("GET k = %q, want v", got)
	}
	r.Stop()
	if _, err := redisDo(r.Addr, "PING"); err == nil {
		t.Fatal("a stopped server answered PING")
	}
	r.Start()
	if got := r.Do("EXISTS", "k"); got != "0" {
		t.Fatalf("after a restart EXISTS k = %s, want 0: the server kept data on disk", got)
	}
}

func TestStartRedisSentinel(t *testing.T) {
	s := StartRedisSentinel(t)
	for _, addr := range s.SentinelAddrs() {
		got, err := masterAddr(addr, s.MasterName)
		if err != nil || got != s.Master.Addr {
			t.Fatalf("sentinel %s names master %q (%v), want %s", addr, got, err, s.Master.Addr)
		}
	}
	old := s.Master.Addr
	if addr := s.Failover(t); addr == old {
		t.Fatalf("Failover kept the master at %s", addr)
	}
	s.Master.Do("SET", "k", "v")
}

func TestStartRedisCluster(t *testing.T) {
	c := StartRedisCluster(t)
	for _, n := range c.Nodes {
		if got := n.Do("CLUSTER", "INFO"); !strings.Contains(got, "cluster_slots_ok:16384") {
			t.Fatalf("node %s: CLUSTER INFO = %s", n.Addr, got)
		}
	}
}
