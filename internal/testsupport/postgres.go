//go:build linux

package testsupport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresStartTimeout bounds how long a PostgreSQL server may take to
// accept connections, or to shut down.
const postgresStartTimeout = 30 * time.Second

// Postgres is a real PostgreSQL server, run from a throwaway data directory
// and listening on a free loopback port (and a Unix socket in that
// directory) with trust authentication for the superuser "postgres". It is
// tuned for tests, not durability: fsync, full-page writes and synchronous
// commit are off.
//
// When the test runs as root the server runs as the "postgres" system user,
// since PostgreSQL refuses to run as root; otherwise it runs as the current
// user. The server gets SIGINT (a fast shutdown) if the test binary dies, so
// a test that times out leaves no server behind.
//
// A Postgres is safe for concurrent use, except that Stop and Start must
// not race each other.
type Postgres struct {
	// Addr is the loopback address, host:port, the server listens on. It
	// stays the same across Stop and Start.
	Addr string

	bin  string // the directory holding initdb and postgres
	dir  string // the data directory (data/) and the socket live here
	cred *syscall.Credential
	log  SyncBuffer
	dbs  atomic.Int64

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
}

// StartPostgres initializes and starts a PostgreSQL server of the test's
// own, and stops it and deletes its files when the test ends. Tests that
// only need an empty database share one server instead (SharedPostgres);
// a server of one's own is for a test that stops and restarts it. A
// missing PostgreSQL fails the test rather than skipping it:
// scripts/test-deps.sh (run by `make test`) installs it.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// NewPostgres is StartPostgres for code without a testing.TB, such as
// TestMain. The caller must call Close.
func NewPostgres() (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	p := &Postgres{bin: bin}
	if p.cred, err = postgresCredential(); err != nil {
		return nil, err
	}
	if p.dir, err = os.MkdirTemp("", "tether-postgres-"); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := p.initdb(); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(p.dir)
		return nil, fmt.Errorf("postgres: finding a free port: %w", err)
	}
	p.Addr = ln.Addr().String()
	ln.Close() // the server takes the port a moment later
	if err := p.start(); err != nil {
		os.RemoveAll(p.dir)
		return nil, err
	}
	return p, nil
}

// postgresBin returns the directory of the newest PostgreSQL server
// programs: Debian keeps them, one directory per major version, under
// /usr/lib/postgresql/VERSION/bin, out of the PATH. Elsewhere initdb is
// looked up in the PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return int(major(a)*100 - major(b)*100) })
	for _, dir := range slices.Backward(dirs) {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("postgres: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb in PATH): " +
		"run `make test` (scripts/test-deps.sh installs it)")
}

// postgresCredential returns the user the server runs as: nil (the current
// user) unless the test runs as root, which PostgreSQL refuses.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root, and PostgreSQL refuses root: no postgres user to run it as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres: user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command returns an exec.Cmd for the server program name, run as the
// server's user and sent SIGINT should the test binary die first.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGINT}
	return cmd
}

func (p *Postgres) initdb() error {
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	cmd := p.command("initdb", "-D", filepath.Join(p.dir, "data"), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("postgres: initdb: %v; output:\n%s", err, out)
	}
	return nil
}

// start runs the server and waits until it accepts connections.
func (p *Postgres) start() error {
	host, port, _ := net.SplitHostPort(p.Addr)
	cmd := p.command("postgres", "-D", filepath.Join(p.dir, "data"),
		"-h", host, "-p", port, "-k", p.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "shared_buffers=16MB", "-c", "log_checkpoints=off")
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: starting the server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	for {
		select {
		case err := <-exited:
			exited <- err // for stop
			return fmt.Errorf("postgres: the server exited before accepting connections (%v); log:\n%s", err, p.log.String())
		case <-ctx.Done():
			p.stop()
			return fmt.Errorf("postgres: the server did not accept connections on %s within %v; log:\n%s",
				p.Addr, postgresStartTimeout, p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if c, err := p.connect(ctx, "postgres"); err == nil {
			c.Close(ctx)
			return nil
		}
	}
}

// stop shuts the server down (SIGINT: a fast shutdown, which disconnects
// the clients) and waits until it has exited. It does nothing when the
// server is not running.
func (p *Postgres) stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd, p.exited = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		return nil
	case <-time.After(postgresStartTimeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("postgres: the server ignored SIGINT for %v; log:\n%s", postgresStartTimeout, p.log.String())
	}
}

// Stop shuts the server down, as an operator or a crash would: clients see
// their connections closed, then connection refused. The data stays.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
}

// Start starts a stopped server again on the same address with the same
// data, and returns once it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// Close stops the server and deletes its data directory.
func (p *Postgres) Close() error {
	err := p.stop()
	return errors.Join(err, os.RemoveAll(p.dir))
}

// Log returns what the server has logged so far.
func (p *Postgres) Log() string { return p.log.String() }

// DSN returns the URL that connects to database as the superuser over TCP.
func (p *Postgres) DSN(database string) string {
	return "postgres://postgres@" + p.Addr + "/" + database + "?sslmode=disable"
}

func (p *Postgres) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pgx.Connect(ctx, p.DSN(database))
}

// NewDatabase creates an empty database with a name no other call uses and
// returns its DSN, so that tests sharing a server never see each other's
// rows. The database is not dropped: it goes with the server.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), postgresStartTimeout)
	defer cancel()
	c, err := p.connect(ctx, "postgres")
	if err != nil {
		t.Fatalf("postgres: connecting to %s: %v; log:\n%s", p.Addr, err, p.log.String())
	}
	defer c.Close(ctx)
	name := fmt.Sprintf("test%d", p.dbs.Add(1))
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("postgres: creating database %s: %v", name, err)
	}
	return p.DSN(name)
}

// SharedPostgres is one PostgreSQL server that the tests of a test binary
// share, started by the first Get: initdb takes a second or more, a fresh
// database (NewDatabase) a few milliseconds. The zero value is ready; the
// binary's TestMain calls Close after m.Run:
//
//	var pg testsupport.SharedPostgres
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Close()
//		os.Exit(code)
//	}
//
// It is safe for concurrent use. Tests that stop the server use a
// StartPostgres of their own.
type SharedPostgres struct {
	mu  sync.Mutex
	p   *Postgres
	err error
}

// Get returns the shared server, starting it on the first call. A server
// that failed to start fails every test that asks for it.
func (s *SharedPostgres) Get(t testing.TB) *Postgres {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil && s.err == nil {
		s.p, s.err = NewPostgres()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.p
}

// Close stops the shared server, if Get started it, and deletes its files.
func (s *SharedPostgres) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil
	}
	err := s.p.Close()
	s.p, s.err = nil, errors.New("postgres: the shared server is closed")
	return err
}
