//go:build linux

package testsupport

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	p := StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exec := func(dsn, sql string) error {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}

	a, b := p.NewDatabase(t), p.NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase returned %s twice", a)
	}
	if err := exec(a, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := exec(b, "SELECT n FROM kept"); err == nil {
		t.Fatal("a table created in one database is visible in another")
	}

	p.Stop(t)
	if c, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("the stopped server still accepts connections on %s", p.Addr)
	}
	p.Start(t)
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatalf("after Stop and Start: %v", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 42 {
		t.Fatalf("after Stop and Start, the row reads %d, %v; want 42", n, err)
	}
}

func TestSharedPostgres(t *testing.T) {
	var s SharedPostgres
	if err := s.Close(); err != nil {
		t.Fatalf("Close before any Get: %v", err)
	}
	p := s.Get(t)
	if s.Get(t) != p {
		t.Fatal("a second Get started another server")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("the closed shared server still accepts connections on %s", p.Addr)
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Fatalf("Close left the data directory %s behind (%v)", p.dir, err)
	}
}
