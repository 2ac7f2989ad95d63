package lb

import (
	"crypto/tls"
	"strconv"
	"time"

	"github.com/tetherlb/tether/internal/certs"
	"github.com/tetherlb/tether/internal/config"
)

// serverTLS builds the TLS config of an https listener; certificates come
// from hs.certs at each handshake.
func serverTLS(t *config.TLS, hs *httpServer) *tls.Config {
	return certs.ServerConfig(t, hs.certs.Load)
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
		if cur == nil {
			continue
		}
		next, changed, err := certs.Reload(cur, "listener "+name, hs.cfg.TLS, dir)
		hs.certs.Store(next) // on an error, the running set, not retried until the files change again
		switch {
		case err != nil:
			s.log.Error("certificate files changed but do not load; keeping the running ones", "listener", name, "err", err)
		case changed:
			s.log.Info("certificates reloaded from disk", "listener", name, "certificates", next.Len())
		}
	}
}
