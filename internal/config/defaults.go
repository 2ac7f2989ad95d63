package config

import "time"

// Defaults of the keys that have one; docs/configuration.md lists them too.
const (
	DefaultAdminAddress        = "127.0.0.1:9901"
	DefaultKeysFile            = "tether-keys.json"
	DefaultMaxHeaderBytes      = 32 << 10
	DefaultReadHeaderTimeout   = 10 * time.Second
	DefaultIdleTimeout         = 60 * time.Second
	DefaultSendTimeout         = 60 * time.Second  // as NGINX's send_timeout
	DefaultBodyTimeout         = 60 * time.Second  // as NGINX's client_body_timeout
	DefaultTCPIdleTimeout      = 350 * time.Second // tcp listeners, as AWS NLB
	DefaultAlgorithm           = "round_robin"
	DefaultHashKey             = "source_ip"
	DefaultBalanceFactor       = 1.25
	DefaultDeregistrationDelay = 300 * time.Second
	DefaultWeight              = 1
	DefaultHealthPath          = "/"
	DefaultHealthInterval      = 10 * time.Second
	DefaultHealthTimeout       = 5 * time.Second
	DefaultHealthyThreshold    = 3
	DefaultUnhealthyThreshold  = 2
	DefaultSuccessCodes        = "200-399"
	DefaultPassive5xx          = 5
	DefaultStickinessDuration  = 24 * time.Hour
	DefaultCookieName          = "TETHER"
	DefaultHeaderName          = "X-Tether-Affinity"
	DefaultShutdownTimeout     = 30 * time.Second
)

// SetDefaults fills every key left out of the file with its default. It is
// idempotent.
func (c *Config) SetDefaults() {
	setString(&c.Admin.Address, DefaultAdminAddress)
	setString(&c.Keys.File, DefaultKeysFile)
	setString(&c.Log.Level, "info")
	setString(&c.Log.Access, "stdout")
	if c.ShutdownTimeout == nil {
		c.ShutdownTimeout = ptr(Duration(DefaultShutdownTimeout))
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		setString(&l.Protocol, "http")
		if l.MaxHeaderBytes == 0 {
			l.MaxHeaderBytes = DefaultMaxHeaderBytes
		}
		setDuration(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
		if l.Protocol == "tcp" {
			setDuration(&l.IdleTimeout, DefaultTCPIdleTimeout)
		}
		setDuration(&l.IdleTimeout, DefaultIdleTimeout)
		setDuration(&l.SendTimeout, DefaultSendTimeout)
		setDuration(&l.BodyTimeout, DefaultBodyTimeout)
		if l.TLS != nil {
			setString(&l.TLS.MinVersion, "1.2")
			if l.TLS.HTTP2 == nil {
				l.TLS.HTTP2 = ptr(true)
			}
		}
	}
	for i := range c.TargetGroups {
		c.TargetGroups[i].setDefaults()
	}
	if c.Sessions != nil {
		c.Sessions.setDefaults()
	}
	if c.Tokens != nil {
		c.Tokens.setDefaults(c)
	}
	for i := range c.Edges {
		c.Edges[i].setDefaults(c)
	}
}

func (g *TargetGroup) setDefaults() {
	setString(&g.Protocol, "http")
	if g.Protocol == "https" {
		if g.TLS == nil {
			g.TLS = &UpstreamTLS{}
		}
		if g.TLS.HTTP2 == nil {
			g.TLS.HTTP2 = ptr(true)
		}
	}
	setString(&g.Algorithm, DefaultAlgorithm)
	setString(&g.HashKey, DefaultHashKey)
	if g.BalanceFactor == nil {
		g.BalanceFactor = ptr(DefaultBalanceFactor)
	}
	if g.DeregistrationDelay == nil {
		g.DeregistrationDelay = ptr(Duration(DefaultDeregistrationDelay))
	}
	for i := range g.Targets {
		if g.Targets[i].Weight == nil {
			g.Targets[i].Weight = ptr(DefaultWeight)
		}
	}
	h := &g.HealthCheck
	if h.Enabled == nil {
		h.Enabled = ptr(true)
	}
	setString(&h.Path, DefaultHealthPath)
	setDuration(&h.Interval, DefaultHealthInterval)
	setDuration(&h.Timeout, DefaultHealthTimeout)
	setInt(&h.HealthyThreshold, DefaultHealthyThreshold)
	setInt(&h.UnhealthyThreshold, DefaultUnhealthyThreshold)
	setString(&h.SuccessCodes, DefaultSuccessCodes)
	if h.Passive5xx == nil {
		h.Passive5xx = ptr(DefaultPassive5xx)
	}
	s := &g.Stickiness
	setString(&s.Type, "none")
	setDuration(&s.Duration, DefaultStickinessDuration)
	setString(&s.CookieName, DefaultCookieName)
	setString(&s.HeaderName, DefaultHeaderName)
	setString(&s.OnFailure, "rebind")
}

func setString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDuration(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func ptr[T any](v T) *T { return &v }
