// Package certs loads the server certificates of tether's TLS listeners
// (https listeners and edges), picks one per handshake by SNI, and notices
// when their files change on disk so that a renewed certificate is used
// without a restart.
package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"os"

	"github.com/tetherlb/tether/internal/config"
)

// Set is the certificates of one listener. It is immutable; a reload or a
// change of the files on disk makes a new one.
type Set struct {
	certs []*tls.Certificate // the default first
	stamp [sha256.Size]byte  // digest of the files the set was loaded from
}

// Load reads the certificates of t; relative paths are resolved against
// dir. owner names the listener in errors ("listener web", "edge cdn").
func Load(owner string, t *config.TLS, dir string) (*Set, error) {
	files := readFiles(t, dir)
	return files.load(owner)
}

// Reload reads t's files again, as Load does, and returns the set they
// now hold and whether they changed since cur was loaded: cur itself when
// they did not. When they changed
// but do not load (a certificate written before its key, say), it returns
// the error and cur marked with the files' new state, to be kept: the
// files are not retried until they change again.
//
// A change is noticed by the files' contents, not their sizes and times,
// which a renewal may leave as they were (a new key of the same type is
// the same size, and file times tick only every few milliseconds). Each
// check reads the files once and loads those same bytes, so a file
// written while they are read is picked up at the next check.
func Reload(cur *Set, owner string, t *config.TLS, dir string) (*Set, bool, error) {
	files := readFiles(t, dir)
	if files.stamp == cur.stamp {
		return cur, false, nil
	}
	next, err := files.load(owner)
	if err != nil {
		return &Set{certs: cur.certs, stamp: files.stamp}, true, err
	}
	return next, true, nil
}

// fileSet is the bytes of a listener's certificate and key files, read
// once, and their digest.
type fileSet struct {
	pairs []filePair
	stamp [sha256.Size]byte
}

type filePair struct {
	certFile, keyFile string
	cert, key         []byte
	err               error // reading either file
}

// readFiles reads the certificate and key files of t, the default pair
// first. A file that cannot be read is recorded with its error, which
// load reports, and counts in the digest as its error.
func readFiles(t *config.TLS, dir string) fileSet {
	files := t.Certificates
	if t.CertFile != "" {
		files = append([]config.CertFiles{{CertFile: t.CertFile, KeyFile: t.KeyFile}}, files...)
	}
	var fs fileSet
	h := sha256.New()
	for _, f := range files {
		p := filePair{certFile: config.Resolve(dir, f.CertFile), keyFile: config.Resolve(dir, f.KeyFile)}
		if p.cert, p.err = os.ReadFile(p.certFile); p.err == nil {
			p.key, p.err = os.ReadFile(p.keyFile)
		}
		for _, b := range [][]byte{[]byte(p.certFile), p.cert, []byte(p.keyFile), p.key} {
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		if p.err != nil {
			fmt.Fprintf(h, "error:%v;", p.err)
		}
		fs.pairs = append(fs.pairs, p)
	}
	h.Sum(fs.stamp[:0])
	return fs
}

// load parses the pairs read into a Set.
func (fs fileSet) load(owner string) (*Set, error) {
	s := &Set{stamp: fs.stamp}
	for _, p := range fs.pairs {
		if p.err != nil {
			return nil, fmt.Errorf("%s: loading certificate %s: %w", owner, p.certFile, p.err)
		}
		cert, err := tls.X509KeyPair(p.cert, p.key)
		if err != nil {
			return nil, fmt.Errorf("%s: loading certificate %s: %w", owner, p.certFile, err)
		}
		s.certs = append(s.certs, &cert)
	}
	return s, nil
}

// Len returns the number of certificates.
func (s *Set) Len() int { return len(s.certs) }

// Pick chooses the certificate for a handshake: the first whose names
// match the client's SNI (and whose key the client supports), else the
// default.
func (s *Set) Pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	if len(s.certs) > 1 {
		for _, c := range s.certs {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return s.certs[0]
}

// ServerConfig builds the TLS config of a listener with t's settings;
// certificates come from current at each handshake, so that swapping the
// set takes effect for new connections at once.
func ServerConfig(t *config.TLS, current func() *Set) *tls.Config {
	min := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		min = tls.VersionTLS13
	}
	protos := []string{"http/1.1"}
	if t.HTTP2 == nil || *t.HTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		MinVersion: min,
		NextProtos: protos,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return current().Pick(hello), nil
		},
	}
}
