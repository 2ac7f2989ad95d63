// Package certs loads the server certificates of tether's TLS listeners
// (https listeners and edges), picks one per handshake by SNI, and notices
// when their files change on disk so that a renewed certificate is used
// without a restart.
package certs

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tetherlb/tether/internal/config"
)

// Set is the certificates of one listener. It is immutable; a reload or a
// change of the files on disk makes a new one.
type Set struct {
	certs []*tls.Certificate // the default first
	paths []string           // every cert and key file
	stamp string             // sizes and modification times of paths
}

// Load reads the certificates of t; relative paths are resolved against
// dir. owner names the listener in errors ("listener web", "edge cdn").
func Load(owner string, t *config.TLS, dir string) (*Set, error) {
	files := t.Certificates
	if t.CertFile != "" {
		files = append([]config.CertFiles{{CertFile: t.CertFile, KeyFile: t.KeyFile}}, files...)
	}
	s := &Set{}
	for _, f := range files {
		cf, kf := resolve(dir, f.CertFile), resolve(dir, f.KeyFile)
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			return nil, fmt.Errorf("%s: loading certificate %s: %w", owner, cf, err)
		}
		s.certs = append(s.certs, &cert)
		s.paths = append(s.paths, cf, kf)
	}
	s.stamp = stampFiles(s.paths)
	return s, nil
}

func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// Len returns the number of certificates.
func (s *Set) Len() int { return len(s.certs) }

// Changed reports whether the files of s changed on disk since s was
// loaded (or since Unchanged made it).
func (s *Set) Changed() bool { return stampFiles(s.paths) != s.stamp }

// Unchanged returns s with the files' current state as its stamp: a set
// kept after its changed files failed to load, so that they are not
// retried until they change again.
func (s *Set) Unchanged() *Set {
	return &Set{certs: s.certs, paths: s.paths, stamp: stampFiles(s.paths)}
}

// stampFiles summarises the size and modification time of files, to notice
// a renewed certificate.
func stampFiles(paths []string) string {
	var b []byte
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			b = strconv.AppendInt(b, fi.Size(), 10)
			b = append(b, '@')
			b = strconv.AppendInt(b, fi.ModTime().UnixNano(), 10)
		}
		b = append(b, ';')
	}
	return string(b)
}

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
