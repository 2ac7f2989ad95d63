package testsupport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles writes a self-signed certificate for 127.0.0.1 and localhost
// and its key as PEM files in a temporary directory, and returns their
// paths.
func TLSFiles(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	return TLSFilesFor(t, "localhost")
}

// TLSFilesFor is TLSFiles for the given DNS names (and 127.0.0.1).
func TLSFilesFor(t testing.TB, names ...string) (certFile, keyFile string) {
	t.Helper()
	return tlsFiles(t, time.Now().Add(24*time.Hour), names)
}

// ExpiredTLSFiles is TLSFiles for a certificate that expired an hour ago.
func ExpiredTLSFiles(t testing.TB, names ...string) (certFile, keyFile string) {
	t.Helper()
	return tlsFiles(t, time.Now().Add(-time.Hour), names)
}

func tlsFiles(t testing.TB, notAfter time.Time, names []string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		DNSNames:     names,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
