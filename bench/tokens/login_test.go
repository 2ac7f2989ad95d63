package tokens

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tetherlb/tether/internal/users"
	"github.com/tetherlb/tether/internal/users/filestore"
)

const password = "correct horse battery staple"

// newLogin returns an Authenticator at users.DefaultParams() (what tether
// hashes with) over a file store in a temporary directory, holding the
// user "alice" with a hash at those parameters.
func newLogin(tb testing.TB) *users.Authenticator {
	tb.Helper()
	s, err := filestore.Open(filepath.Join(tb.TempDir(), "users.json"), filestore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := users.HashPassword(password, users.DefaultParams())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Create(context.Background(), users.User{Username: "alice", PasswordHash: h}); err != nil {
		tb.Fatal(err)
	}
	a, err := users.NewAuthenticator(s, users.AuthOptions{Params: users.DefaultParams()})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// loginIP is the client address of successful logins.
var loginIP = netip.MustParseAddr("192.0.2.1")

// loginOK logs alice in.
func loginOK(a *users.Authenticator) error {
	_, err := a.Login(context.Background(), "alice", password, loginIP)
	return err
}

// loginUnknown tries the i-th unknown username. Every try has its own
// username and no address, so that the lockouts (5 failures per username,
// 20 per address) never cut a try short of its dummy hash check.
func loginUnknown(a *users.Authenticator, i int) error {
	_, err := a.Login(context.Background(), "mallory-"+strconv.Itoa(i), password, netip.Addr{})
	if !errors.Is(err, users.ErrInvalidCredentials) {
		return errors.New("login of an unknown user: want ErrInvalidCredentials, got " + errString(err))
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

// BenchmarkLogin measures users.Authenticator.Login at the default argon2id
// parameters (19 MiB, 2 iterations, 1 lane): ok is a successful login,
// unknown-user the failure path, which checks a dummy hash so as to take
// as long.
func BenchmarkLogin(b *testing.B) {
	a := newLogin(b)
	b.Run("ok", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			if err := loginOK(a); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
	b.Run("unknown-user", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU()
		i := 0
		for b.Loop() {
			if err := loginUnknown(a, i); err != nil {
				b.Fatal(err)
			}
			i++
		}
		cpu.report(b)
	})
}
