// Package config defines tether's YAML configuration: plain data types with
// a doc comment per key, strict loading (an unknown key is an error),
// defaults, and a validation that reports every problem at once.
//
// The lifecycle is Load (decode + SetDefaults + Validate) and then the
// runtime packages build their objects from the validated values. Nothing in
// this package does network I/O or knows about the load balancer.
package config

// Config is the whole tether.yaml file.
type Config struct {
	// Admin is the admin API, /metrics and /healthz listener.
	Admin Admin `yaml:"admin"`
	// Keys locates the key ring that seals affinity tokens.
	Keys Keys `yaml:"keys"`
	// Log sets the process log and the access log.
	Log Log `yaml:"log"`
	// Listeners accept client traffic. At least one is required.
	Listeners []Listener `yaml:"listeners"`
	// TargetGroups are the pools of servers that listeners route to.
	TargetGroups []TargetGroup `yaml:"target_groups"`
	// ShutdownTimeout bounds a graceful stop (SIGTERM, SIGINT): listeners
	// stop accepting at once, requests in flight get this long to finish,
	// then WebSocket clients get a close frame and what is left is closed.
	// Default 30s; allowed 0..1h.
	ShutdownTimeout *Duration `yaml:"shutdown_timeout"`
	// Sessions is the shared session store, its HTTP API and the session
	// gateway's settings. Absent: no sessions.
	Sessions *Sessions `yaml:"sessions"`
	// Edges are CDN-style caches in front of listeners or other origins.
	Edges []Edge `yaml:"edges"`
	// Tokens is the token service: user pool, login, JWT access and ID
	// tokens, rotating refresh tokens and the JWKS. Absent: no token
	// service.
	Tokens *Tokens `yaml:"tokens"`

	// Dir is the directory of the file the config was loaded from; relative
	// file paths (keys.file, tls files) are resolved against it. Not a YAML key.
	Dir string `yaml:"-"`
}

// Admin configures the admin listener.
type Admin struct {
	// Address is host:port of the admin API. Default 127.0.0.1:9901 (loopback
	// only: the admin API can drain targets and reload the config). An empty
	// string after defaults is impossible; use "off" to disable the admin API.
	Address string `yaml:"address"`
}

// Keys configures the key ring.
type Keys struct {
	// File is the key ring path. Default tether-keys.json next to the config
	// file. Created with mode 0600 on first start when absent.
	File string `yaml:"file"`
}

// Log configures logging.
type Log struct {
	// Level is the process log level: debug | info | warn | error. Default info.
	// At debug, every affinity decision that moves a client is logged.
	Level string `yaml:"level"`
	// Access is where the JSON access log goes: stdout | stderr | off.
	// Default stdout.
	Access string `yaml:"access"`
}

// Listener is one address that accepts client connections.
type Listener struct {
	// Name identifies the listener in metrics and logs. Required, unique.
	Name string `yaml:"name"`
	// Address is host:port to listen on. Required.
	Address string `yaml:"address"`
	// Protocol is http, https (TLS offload) or tcp (TLS passthrough: L4,
	// routed by the SNI of the ClientHello, never decrypted). Default http.
	Protocol string `yaml:"protocol"`
	// TLS holds the certificate for protocol https.
	TLS *TLS `yaml:"tls"`
	// Rules route requests to target groups; the first match wins.
	Rules []Rule `yaml:"rules"`
	// DefaultTargetGroup serves requests that match no rule. Required for
	// http and https; optional for tcp, where a connection whose SNI matches
	// no rule is otherwise closed with a TLS unrecognized_name alert.
	DefaultTargetGroup string `yaml:"default_target_group"`
	// TrustedProxies lists the CIDRs (or single IPs) of proxies in front of
	// tether, such as a CDN. Their X-Forwarded-* and Forwarded headers are
	// kept and appended to; from any other peer they are replaced. Default
	// none: every client-supplied forwarding header is replaced.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxHeaderBytes caps the size of request headers; larger requests get
	// 431. Default 32768; allowed 4096..1048576.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout bounds the time to read request headers (slowloris
	// protection). Default 10s; allowed 1s..5m.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle client keep-alive connections; on tcp
	// listeners, a relayed connection on which nothing moved either way.
	// Default 60s (as AWS ALB), 350s on tcp listeners (as AWS NLB);
	// allowed 1s..4000s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// SendTimeout closes a client connection once the client has taken no
	// byte of a response for this long (NGINX's send_timeout, HAProxy's
	// timeout client); a client that keeps reading is never cut. Default
	// 60s; allowed 1s..3600s. No effect on tcp listeners.
	SendTimeout Duration `yaml:"send_timeout"`
	// BodyTimeout ends a request whose client has sent no byte of its
	// body for this long (NGINX's client_body_timeout): 408, and the
	// target's connection is freed. A slow upload that keeps sending is
	// never cut. Default 60s; allowed 1s..3600s. No effect on tcp
	// listeners.
	BodyTimeout Duration `yaml:"body_timeout"`
}

// TLS configures TLS offload on an https listener.
type TLS struct {
	// CertFile is the PEM certificate chain of the default certificate.
	// Required unless Certificates is set.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the default certificate.
	KeyFile string `yaml:"key_file"`
	// Certificates are more certificates; for each connection tether picks
	// the first one (cert_file first) whose names match the client's SNI,
	// and the default one when none does. Certificate files are re-read on
	// reload and whenever they change on disk (checked every 5s).
	Certificates []CertFiles `yaml:"certificates"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3".
	// Default "1.2".
	MinVersion string `yaml:"min_version"`
	// HTTP2 offers HTTP/2 by ALPN (with HTTP/1.1). Default true.
	HTTP2 *bool `yaml:"http2"`
	// HSTS adds Strict-Transport-Security to responses that lack it.
	// Default off.
	HSTS *HSTS `yaml:"hsts"`
}

// CertFiles names one certificate chain and its key.
type CertFiles struct {
	// CertFile is the PEM certificate chain. Required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key. Required.
	KeyFile string `yaml:"key_file"`
}

// HSTS is the Strict-Transport-Security policy (RFC 6797).
type HSTS struct {
	// MaxAge is how long browsers must use HTTPS only. Required; allowed
	// 1s..2y (17520h). 8760h (a year) is common.
	MaxAge Duration `yaml:"max_age"`
	// IncludeSubdomains extends the policy to every subdomain.
	IncludeSubdomains bool `yaml:"include_subdomains"`
	// Preload asks to be put on browsers' preload lists; it requires
	// include_subdomains and a max_age of at least a year.
	Preload bool `yaml:"preload"`
}

// UpstreamTLS configures TLS bridging to the targets of an https group.
type UpstreamTLS struct {
	// CAFile is a PEM bundle of the certificate authorities that sign the
	// targets' certificates. Default: the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name verified in the targets' certificates and sent
	// as SNI. Default: the host part of each target's address.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate. Default false; `tether
	// check` warns when it is set. Use it only for tests.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// HTTP2 uses HTTP/2 to targets that offer it by ALPN. Default true.
	HTTP2 *bool `yaml:"http2"`
}

// Rule routes requests that match Host and Path to a target group. An empty
// Host or Path matches anything.
type Rule struct {
	// Host is an exact host name (api.example.com) or a wildcard for one or
	// more leading labels (*.example.com). Matched case-insensitively,
	// without the port.
	Host string `yaml:"host"`
	// Path is an exact path (/login) or a prefix ending in /* (/api/*, which
	// matches /api and everything below it).
	Path string `yaml:"path"`
	// SNI matches the server name of a TLS ClientHello, on tcp listeners
	// only: an exact name or *.example.com (one label). Case-insensitive.
	SNI string `yaml:"sni"`
	// TargetGroup names the group that serves matching requests. Required.
	TargetGroup string `yaml:"target_group"`
	// Authorizer checks matching requests before a target is chosen (http
	// and https listeners). Absent: none.
	Authorizer *Authorizer `yaml:"authorizer"`
}

// TargetGroup is a pool of targets with one balancing algorithm, one health
// check and one stickiness policy.
type TargetGroup struct {
	// Name identifies the group in rules, metrics and the admin API.
	// Required, unique.
	Name string `yaml:"name"`
	// Protocol to the targets: http (TLS offload), https (TLS bridging:
	// re-encrypted, certificates verified) or tcp (for tcp listeners: the
	// connection is relayed as it is). Default http.
	Protocol string `yaml:"protocol"`
	// ProxyProtocol sends a PROXY protocol v2 header with the client's
	// address before relaying a tcp connection. Default false.
	ProxyProtocol bool `yaml:"proxy_protocol"`
	// TLS configures certificate verification for protocol https.
	TLS *UpstreamTLS `yaml:"tls"`
	// Algorithm picks a target for a new client: round_robin |
	// least_outstanding_requests | weighted_random | consistent_hash.
	// Default round_robin.
	Algorithm string `yaml:"algorithm"`
	// HashKey is what consistent_hash hashes: source_ip | header:NAME |
	// cookie:NAME | query:NAME. Default source_ip. A request without the key
	// falls back to round robin.
	HashKey string `yaml:"hash_key"`
	// BalanceFactor bounds the load of consistent_hash and source_ip
	// stickiness: no target takes more than BalanceFactor times the mean of
	// in-flight requests. Default 1.25; 0 turns it off; otherwise 1.01..100.
	BalanceFactor *float64 `yaml:"balance_factor"`
	// Targets are the servers of the group. At least one is required.
	Targets []Target `yaml:"targets"`
	// HealthCheck configures active and passive health checks.
	HealthCheck HealthCheck `yaml:"health_check"`
	// DeregistrationDelay is how long a draining target keeps serving the
	// clients already bound to it. Default 300s (as AWS ALB); allowed 0..3600s.
	DeregistrationDelay *Duration `yaml:"deregistration_delay"`
	// SlowStart ramps a recovered target's weight up linearly over this
	// time. Default 0 (off); allowed 0 or 30s..900s.
	SlowStart Duration `yaml:"slow_start"`
	// TargetHeader, when set, names a response header that carries the id of
	// the target that served the request. Default empty (off).
	TargetHeader string `yaml:"target_header"`
	// Stickiness binds a client to one target.
	Stickiness Stickiness `yaml:"stickiness"`
}

// Target is one server.
type Target struct {
	// ID names the target in affinity tokens, metrics and the admin API.
	// Required, unique in its group. Tokens name targets by ID, never by
	// address, so bindings survive an address change.
	ID string `yaml:"id"`
	// Address is host:port. Required.
	Address string `yaml:"address"`
	// Weight is the target's share of new clients. Default 1; allowed 0..999
	// (0 = no new clients).
	Weight *int `yaml:"weight"`
}

// HealthCheck configures target health.
type HealthCheck struct {
	// Enabled turns active checks on. Default true. With false, only passive
	// detection runs and a target marked unhealthy is tried again after
	// Interval.
	Enabled *bool `yaml:"enabled"`
	// Path is requested with GET. Default /.
	Path string `yaml:"path"`
	// Interval between checks. Default 10s; allowed 1s..300s.
	Interval Duration `yaml:"interval"`
	// Timeout of one check. Default 5s; allowed 100ms..120s and less than
	// Interval.
	Timeout Duration `yaml:"timeout"`
	// HealthyThreshold is the number of consecutive good checks that make an
	// unhealthy target healthy. Default 3; allowed 1..10.
	HealthyThreshold int `yaml:"healthy_threshold"`
	// UnhealthyThreshold is the number of consecutive failed checks that make
	// a healthy target unhealthy. Default 2; allowed 1..10.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// SuccessCodes are the statuses that count as healthy, as codes and
	// ranges: "200", "200-399", "200,204". Default "200-399".
	SuccessCodes string `yaml:"success_codes"`
	// Passive5xx is the number of consecutive 5xx responses from a target
	// that mark it unhealthy at once. Default 5; 0 turns it off; allowed 0..100.
	// A failed connection always marks a target unhealthy at once.
	Passive5xx *int `yaml:"passive_5xx"`
}

// Stickiness binds clients to targets.
type Stickiness struct {
	// Type is none | lb_cookie | app_cookie | source_ip | header. Default none.
	Type string `yaml:"type"`
	// Duration is how long a binding lasts: the sliding lifetime of the
	// lb_cookie and header tokens, the lifetime of the app_cookie binding,
	// and the idle timeout of source_ip. Default 24h; allowed 1s..168h.
	Duration Duration `yaml:"duration"`
	// CookieName is the lb_cookie name; the cross-site twin is CookieName +
	// "CORS" and the app_cookie binding is CookieName + "APP". Default TETHER.
	CookieName string `yaml:"cookie_name"`
	// CookieDomain sets the Domain attribute of tether's cookies. Default
	// empty (host-only cookies).
	CookieDomain string `yaml:"cookie_domain"`
	// AppCookieName is the application's own session cookie for app_cookie,
	// such as JSESSIONID. Required with app_cookie.
	AppCookieName string `yaml:"app_cookie_name"`
	// HeaderName carries the token for header stickiness, on responses and
	// requests. Default X-Tether-Affinity.
	HeaderName string `yaml:"header_name"`
	// OnFailure is what happens when the bound target cannot serve: rebind
	// (choose a new healthy target and issue a new token) or strict (answer
	// 503 rather than move the client). Default rebind.
	OnFailure string `yaml:"on_failure"`
}
