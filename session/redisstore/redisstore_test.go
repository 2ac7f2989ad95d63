package redisstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/testsupport"
	"github.com/tetherlb/tether/session"
	"github.com/tetherlb/tether/session/storetest"
)

// openStore opens a store on url with a key prefix of its own, unless opts
// names one, and closes it when the test ends.
func openStore(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "test:" + storetest.NewID()[:12] + ":"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// harness runs the conformance suite on stores that share the server at
// url, each under its own key prefix. Redis keeps the time, so the suite
// sleeps to let records expire.
func harness(url string) storetest.Harness {
	return storetest.Harness{
		New:     func(t *testing.T) session.Store { return openStore(t, url, Options{}) },
		Now:     time.Now,
		Advance: time.Sleep,
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newEntry(user string, ttl time.Duration) session.Entry {
	return session.Entry{
		Tenant:  "acme",
		ID:      storetest.NewID(),
		UserID:  user,
		Version: 1,
		Expires: time.Now().Add(ttl),
		Value:   []byte("value"),
	}
}

func mustCreate(t testing.TB, s *Store, e session.Entry) {
	t.Helper()
	if ok, err := s.Create(testCtx(t), e); err != nil || !ok {
		t.Fatalf("Create = %v, %v; want true, nil", ok, err)
	}
}

func TestStandalone(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	storetest.Run(t, harness("redis://"+r.Addr))
}

func TestCluster(t *testing.T) {
	t.Parallel()
	c := testsupport.StartRedisCluster(t)
	storetest.Run(t, harness("redis+cluster://"+strings.Join(c.Addrs(), ",")))
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	sn := testsupport.StartRedisSentinel(t)
	url := "redis+sentinel://" + strings.Join(sn.SentinelAddrs(), ",") + "/" + sn.MasterName
	t.Run("Conformance", func(t *testing.T) { storetest.Run(t, harness(url)) })
	t.Run("Failover", func(t *testing.T) { testFailover(t, sn, url) })
}

// testFailover promotes the replica and checks that the same store
// follows: it reads what it wrote before and writes again.
func testFailover(t *testing.T, sn *testsupport.RedisSentinel, url string) {
	s := openStore(t, url, Options{Timeout: 2 * time.Second})
	e := newEntry("alice", time.Hour)
	mustCreate(t, s, e)
	sn.Master.Do("WAIT", "1", "2000") // the record is on the replica
	oldMaster := sn.Master.Addr
	sn.Failover(t)
	if sn.Master.Addr == oldMaster {
		t.Fatal("the failover kept the old master")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Until the client switches, the demoted master refuses writes.
		cur, ok, err := s.Get(testCtx(t), e.Tenant, e.ID)
		if err == nil && !ok {
			t.Fatal("the record written before the failover is gone")
		}
		if err == nil {
			next := cur
			next.Version++
			next.Value = []byte("after failover")
			if ok, err = s.Update(testCtx(t), next); err == nil && ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not write to the new master within 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := sn.Master.Do("EXISTS", s.recordKey(e.Tenant, e.ID)); got != "1" {
		t.Fatalf("the new master does not hold the record (EXISTS = %s)", got)
	}
	mustCreate(t, s, newEntry("alice", time.Hour))
}

// TestReconnect stops the server, then pauses it: calls fail within the
// timeout instead of hanging, and once the server is back the same store
// works again.
func TestReconnect(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	const timeout = 300 * time.Millisecond
	s := openStore(t, "redis://"+r.Addr, Options{Timeout: timeout})
	mustCreate(t, s, newEntry("alice", time.Hour))

	for _, down := range []struct {
		name       string
		stop, back func()
	}{
		{"stopped", r.Stop, r.Start},
		{"paused", r.Pause, r.Resume},
	} {
		down.stop()
		e := newEntry("alice", time.Hour)
		calls := map[string]func() error{
			"Get":        func() error { _, _, err := s.Get(context.Background(), e.Tenant, e.ID); return err },
			"Create":     func() error { _, err := s.Create(context.Background(), e); return err },
			"ListUser":   func() error { _, err := s.ListUser(context.Background(), e.Tenant, e.UserID); return err },
			"DeleteUser": func() error { _, err := s.DeleteUser(context.Background(), e.Tenant, e.UserID); return err },
		}
		for name, call := range calls {
			start := time.Now()
			err := call()
			if err == nil {
				t.Errorf("%s server: %s succeeded", down.name, name)
			}
			// Far more than the timeout, far less than a hang.
			if d := time.Since(start); d > 10*timeout {
				t.Errorf("%s server: %s returned after %v; the timeout is %v", down.name, name, d, timeout)
			}
		}
		down.back()
		waitWorks(t, s, e)
	}
}

// waitWorks retries creating e until the store works again.
func waitWorks(t *testing.T, s *Store, e session.Entry) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.Create(context.Background(), e)
		if err == nil {
			if _, found, err := s.Get(context.Background(), e.Tenant, e.ID); err != nil || !found {
				t.Fatalf("after reconnecting, Get = %v, %v; want the record", found, err)
			}
			return
		}
		if ok || time.Now().After(deadline) {
			t.Fatalf("the store did not work again within 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	s := openStore(t, "redis://"+r.Addr, Options{})
	valid := string(encodeRecord(newEntry("alice", time.Hour)))
	flipped := []byte(valid)
	flipped[len(flipped)-6] ^= 1
	tests := []struct {
		name    string
		write   []string // the command that spoils the key, after SET/HSET key
		updates bool     // Update replaces it: its framing is intact
	}{
		{"garbage", []string{"SET", "not a record"}, false},
		{"empty", []string{"SET", ""}, false},
		{"unknown format", []string{"SET", "\x02" + valid[1:]}, false},
		{"truncated", []string{"SET", valid[:len(valid)-1]}, false},
		{"extended", []string{"SET", valid + "x"}, false},
		{"hash", []string{"HSET", "field", "value"}, false},
		{"bad checksum", []string{"SET", string(flipped)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEntry(tt.name, time.Hour)
			mustCreate(t, s, e)
			key := s.recordKey(e.Tenant, e.ID)
			r.Do("DEL", key)
			r.Do(append([]string{tt.write[0], key}, tt.write[1:]...)...)

			_, ok, err := s.Get(testCtx(t), e.Tenant, e.ID)
			if !errors.Is(err, session.ErrCorrupt) || ok {
				t.Fatalf("Get = %v, %v; want an error wrapping session.ErrCorrupt", ok, err)
			}
			if got, err := s.ListUser(testCtx(t), e.Tenant, e.UserID); err != nil || len(got) != 0 {
				t.Fatalf("ListUser = %d records, %v; want none: the corrupt record is unreadable", len(got), err)
			}
			next := e
			next.Version = 2
			if ok, err := s.Update(testCtx(t), next); ok != tt.updates || err != nil {
				t.Fatalf("Update of a corrupt record = %v, %v; want %v, nil", ok, err, tt.updates)
			}
			if tt.updates {
				return
			}
			if got, err := s.ListUser(testCtx(t), e.Tenant, e.UserID); err != nil || len(got) != 0 {
				t.Fatalf("ListUser = %d records, %v; want none: the corrupt record is unreadable", len(got), err)
			}
			if err := s.Delete(testCtx(t), e.Tenant, e.ID); err != nil {
				t.Fatalf("Delete of a corrupt record: %v", err)
			}
			if got := r.Do("EXISTS", key); got != "0" {
				t.Fatal("Delete left the corrupt record")
			}
		})
	}
}

// TestIndexExpires checks that a user's index lives as long as its
// longest-lived session and then disappears by itself.
func TestIndexExpires(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	s := openStore(t, "redis://"+r.Addr, Options{})
	short, long := newEntry("alice", 500*time.Millisecond), newEntry("alice", 900*time.Millisecond)
	mustCreate(t, s, long)
	mustCreate(t, s, short) // expires first: must not shorten the index
	key := s.indexKey("acme", "alice")
	if got, want := r.Do("PEXPIRETIME", key), strconv.FormatInt(long.Expires.UnixMilli(), 10); got != want {
		t.Fatalf("index PEXPIRETIME = %s, want %s (the longest session's expiry)", got, want)
	}
	renewed := short
	renewed.Version = 2
	renewed.Expires = time.Now().Add(1200 * time.Millisecond)
	if ok, err := s.Update(testCtx(t), renewed); err != nil || !ok {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if got, want := r.Do("PEXPIRETIME", key), strconv.FormatInt(renewed.Expires.UnixMilli(), 10); got != want {
		t.Fatalf("after a renewal, index PEXPIRETIME = %s, want %s", got, want)
	}
	time.Sleep(time.Until(renewed.Expires) + 100*time.Millisecond)
	if got := r.Do("EXISTS", key); got != "0" {
		t.Fatalf("the index outlived all its sessions (EXISTS = %s)", got)
	}
	if keys := r.Do("KEYS", s.prefix+"*"); keys != "" {
		t.Fatalf("keys left after every session expired: %q", keys)
	}
}

// TestKeys checks the key layout: the prefix begins every key, the
// default is "tether:", and stores with different prefixes do not see
// each other's records.
func TestKeys(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	def, err := Open(testCtx(t), "redis://"+r.Addr, Options{}) // the server is this test's alone
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	other := openStore(t, "redis://"+r.Addr, Options{KeyPrefix: "other:"})
	e := newEntry("alice", time.Hour)
	mustCreate(t, def, e)
	keys := strings.Split(r.Do("KEYS", "*"), "\n")
	slices.Sort(keys)
	// "acme" and "alice" in unpadded base64url.
	want := []string{"tether:s:{YWNtZQ:" + e.ID + "}", "tether:u:{YWNtZQ.YWxpY2U}"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	if _, ok, err := other.Get(testCtx(t), e.Tenant, e.ID); ok || err != nil {
		t.Fatalf("a store with another prefix found the record (%v, %v)", ok, err)
	}
	if got, err := other.ListUser(testCtx(t), e.Tenant, e.UserID); len(got) != 0 || err != nil {
		t.Fatalf("a store with another prefix listed %d records (%v)", len(got), err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	r := testsupport.StartRedis(t)
	r.Do("CONFIG", "SET", "requirepass", "right-password")
	dead := testsupport.DeadAddress(t)
	tests := []struct {
		name, url, want string
	}{
		{"wrong password", "redis://:wrong-password@" + r.Addr, "WRONGPASS"},
		{"nothing listens", "redis://" + dead, "connection refused"},
		{"not a cluster", "redis+cluster://:right-password@" + r.Addr, "not in cluster mode"},
		{"bad url", "redis://:wrong-password@" + r.Addr + "/x", "database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(testCtx(t), tt.url, Options{Timeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), "right-password") {
				t.Errorf("Open error %q shows the password", err)
			}
		})
	}
}

// TestTLS reaches a server that speaks only TLS through a rediss URL, and
// checks that the server's certificate is verified.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := testsupport.TLSFiles(t)
	r := testsupport.StartRedisTLS(t, certFile, keyFile)
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	s := openStore(t, "rediss://"+r.Addr, Options{TLSConfig: &tls.Config{RootCAs: roots}})
	e := newEntry("alice", time.Hour)
	mustCreate(t, s, e)
	if _, ok, err := s.Get(testCtx(t), e.Tenant, e.ID); err != nil || !ok {
		t.Fatalf("Get over TLS = %v, %v", ok, err)
	}
	if s, err := Open(testCtx(t), "rediss://"+r.Addr, Options{}); err == nil {
		s.Close()
		t.Fatal("Open trusted a self-signed certificate without being told to")
	}
	if s, err := Open(testCtx(t), "redis://"+r.Addr, Options{Timeout: 500 * time.Millisecond}); err == nil {
		s.Close()
		t.Fatal("Open spoke plain text to a TLS server")
	}
}
