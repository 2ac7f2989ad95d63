package certs_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/config"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// served returns the certificate s serves by default, DER-encoded, to
// tell two sets apart.
func served(t *testing.T, s *certs.Set) string {
	t.Helper()
	return string(s.Pick(&tls.ClientHelloInfo{}).Certificate[0])
}

// copyFile writes src's bytes over dst, as a renewal does.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// installPair writes a new certificate for localhost and its key to
// cert.pem and key.pem in a new directory, and returns their paths.
func installPair(t *testing.T) (dir, certFile, keyFile string) {
	t.Helper()
	dir = t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	srcCert, srcKey := ts.TLSFilesFor(t, "localhost")
	copyFile(t, srcCert, certFile)
	copyFile(t, srcKey, keyFile)
	return dir, certFile, keyFile
}

// TestReloadCertificateBeforeKey: a renewal that writes the certificate
// and then its key, with a check in between, is picked up at the next
// check. The check in between fails (the new certificate does not match
// the old key) and keeps the running set; the key written after it is a
// change even though a new P-256 key is the same size as the old one and
// may carry the same modification time.
func TestReloadCertificateBeforeKey(t *testing.T) {
	dir, certFile, keyFile := installPair(t)
	cfg := &config.TLS{CertFile: "cert.pem", KeyFile: "key.pem"}

	cur, err := certs.Load("listener web", cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	first := served(t, cur)
	if next, changed, err := certs.Reload(cur, "listener web", cfg, dir); next != cur || changed || err != nil {
		t.Fatalf("files as they were: Reload = %p, %v, %v; want the running set, false, nil", next, changed, err)
	}

	newCert, newKey := ts.TLSFilesFor(t, "localhost")
	copyFile(t, newCert, certFile)
	kept, changed, err := certs.Reload(cur, "listener web", cfg, dir)
	if err == nil || !changed {
		t.Fatalf("new certificate, old key: Reload = %v, %v; want a changed set that fails to load", changed, err)
	}
	if served(t, kept) != first {
		t.Fatal("a set that failed to load replaced the running one")
	}
	if again, changed, err := certs.Reload(kept, "listener web", cfg, dir); again != kept || changed || err != nil {
		t.Errorf("the same failed files again: Reload = %v, %v; want them not retried", changed, err)
	}

	copyFile(t, newKey, keyFile)
	next, changed, err := certs.Reload(kept, "listener web", cfg, dir)
	if err != nil || !changed {
		t.Fatalf("the key written after the failed check: Reload = %v, %v; want the new set", changed, err)
	}
	if served(t, next) == first {
		t.Error("the renewed certificate is not served")
	}
}

// TestReloadMissingFile: a file that disappears is an error that keeps
// the running set; once it is back, the set loads again.
func TestReloadMissingFile(t *testing.T) {
	_, certFile, keyFile := installPair(t)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.TLS{CertFile: certFile, KeyFile: keyFile}
	cur, err := certs.Load("edge cdn", cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	kept, changed, err := certs.Reload(cur, "edge cdn", cfg, "")
	if err == nil || !changed || kept.Len() != 1 {
		t.Fatalf("key removed: Reload = %v, %v (%d certificates); want an error and the running set", changed, err, kept.Len())
	}
	if want := "edge cdn: loading certificate " + certFile + ": open " + keyFile; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := certs.Reload(kept, "edge cdn", cfg, ""); err != nil || !changed {
		t.Errorf("key back: Reload = %v, %v; want the set loaded again", changed, err)
	}
}
