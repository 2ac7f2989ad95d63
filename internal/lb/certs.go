package lb

import (
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/tetherlb/tether/internal/config"
)

// certSet is the certificates of an https listener. It is immutable; a
// reload or a change of the files on disk swaps in a new one.
type certSet struct {
	certs []*tls.Certificate // the default first
	paths []string           // every cert and key file
	stamp string             // sizes and modification times of paths
}

// loadCertSet reads the certificates of t; relative paths are resolved
// against dir.
func loadCertSet(name string, t *config.TLS, dir string) (*certSet, error) {
	files := t.Certificates
	if t.CertFile != "" {
		files = append([]config.CertFiles{{CertFile: t.CertFile, KeyFile: t.KeyFile}}, files...)
	}
	cs := &certSet{}
	for _, f := range files {
		cf, kf := resolve(dir, f.CertFile), resolve(dir, f.KeyFile)
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			return nil, fmt.Errorf("listener %s: loading certificate %s: %w", name, cf, err)
		}
		cs.certs = append(cs.certs, &cert)
		cs.paths = append(cs.paths, cf, kf)
	}
	cs.stamp = stampFiles(cs.paths)
	return cs, nil
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

// pick chooses the certificate for a handshake: the first whose names
// match the client's SNI (and whose key the client supports), else the
// default.
func (cs *certSet) pick(hello *tls.ClientHelloInfo) *tls.Certificate {
	if len(cs.certs) > 1 {
		for _, c := range cs.certs {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return cs.certs[0]
}

// serverTLS builds the TLS config of an https listener; certificates come
// from hs.certs at each handshake.
func serverTLS(t *config.TLS, hs *httpServer) *tls.Config {
	min := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		min = tls.VersionTLS13
	}
	protos := []string{"http/1.1"}
	if *t.HTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		MinVersion: min,
		NextProtos: protos,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return hs.certs.Load().pick(hello), nil
		},
	}
}

// hstsValue is the Strict-Transport-Security header of t, or "".
func hstsValue(t *config.TLS) string {
	if t == nil || t.HSTS == nil {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(int64(t.HSTS.MaxAge.D()/time.Second), 10)
	if t.HSTS.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if t.HSTS.Preload {
		v += "; preload"
	}
	return v
}

// watchCerts reloads the certificates of https listeners whose files
// changed on disk. A set that fails to load is logged and the running one
// kept. It skips a turn while a reload or Close holds the lock.
func (s *Server) watchCerts() {
	if !s.reload.TryLock() {
		return
	}
	defer s.reload.Unlock()
	dir := s.gen.Load().cfg.Dir
	for name, hs := range s.servers {
		cur := hs.certs.Load()
		if cur == nil || stampFiles(cur.paths) == cur.stamp {
			continue
		}
		next, err := loadCertSet(name, hs.cfg.TLS, dir)
		if err != nil {
			s.log.Error("certificate files changed but do not load; keeping the running ones", "listener", name, "err", err)
			// Do not retry until the files change again.
			hs.certs.Store(&certSet{certs: cur.certs, paths: cur.paths, stamp: stampFiles(cur.paths)})
			continue
		}
		hs.certs.Store(next)
		s.log.Info("certificates reloaded from disk", "listener", name, "certificates", len(next.certs))
	}
}
