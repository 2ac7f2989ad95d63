package lb

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/tetherlb/tether/internal/config"
)

// upstream is how tether talks to the targets of a group: the transport of
// the proxy and the client of the health checks. Plain-HTTP groups share
// the server's h1Transport (over the server's net/http transport); each
// distinct TLS bridging setup gets its own net/http transport, kept across
// reloads while the setup is unchanged, so that connections and TLS
// sessions to targets are reused.
type upstream struct {
	key       string // identifies the setup, CA contents included
	transport *http.Transport
	rt        http.RoundTripper // what the proxy sends through: transport, or h1Transport over it
	health    *http.Client      // nil: the checker's own plain client
}

// prepareUpstreams reads what TLS bridging needs (CA files) for every group
// of cfg. It is the only I/O of a reload besides sockets and certificates,
// and it runs before anything changes, so a bad CA file refuses the reload.
func (s *Server) prepareUpstreams(cfg *config.Config) (map[string]*upstream, error) {
	out := map[string]*upstream{}
	var errs []error
	for _, gc := range cfg.TargetGroups {
		if gc.Protocol != "https" {
			out[gc.Name] = &upstream{key: "http", transport: s.transport, rt: s.h1}
			continue
		}
		u, err := s.httpsUpstream(gc, cfg.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[gc.Name] = u
	}
	return out, errors.Join(errs...)
}

func (s *Server) httpsUpstream(gc config.TargetGroup, dir string) (*upstream, error) {
	t := gc.TLS
	var pem []byte
	if t.CAFile != "" {
		var err error
		if pem, err = os.ReadFile(config.Resolve(dir, t.CAFile)); err != nil {
			return nil, fmt.Errorf("target group %s: reading tls.ca_file: %w", gc.Name, err)
		}
	}
	sum := sha256.Sum256(pem)
	key := fmt.Sprintf("%x|%s|%t|%t", sum[:8], t.ServerName, t.InsecureSkipVerify, *t.HTTP2)
	if u := s.upstreams[key]; u != nil {
		return u, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // only when the config asks, and check warns
		ClientSessionCache: tls.NewLRUClientSessionCache(1024),
	}
	if pem != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("target group %s: tls.ca_file %s holds no PEM certificate", gc.Name, t.CAFile)
		}
		tc.RootCAs = pool
	}
	tr := newTransport()
	tr.TLSClientConfig = tc
	tr.ForceAttemptHTTP2 = *t.HTTP2
	checks := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tc.Clone(), DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &upstream{key: key, transport: tr, rt: tr, health: checks}, nil
}

// keepUpstreams remembers the TLS upstreams in use and closes the idle
// connections of those no group uses any more.
func (s *Server) keepUpstreams(used map[string]*upstream) {
	next := map[string]*upstream{}
	for _, u := range used {
		if u.key != "http" {
			next[u.key] = u
		}
	}
	for key, u := range s.upstreams {
		if next[key] == nil {
			u.transport.CloseIdleConnections()
		}
	}
	s.upstreams = next
}

// connectFailure reports whether err means the request never reached the
// target: it could not be dialled, or its certificate was refused.
func connectFailure(err error) bool {
	var de *dialError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &de) || errors.As(err, &ve)
}
