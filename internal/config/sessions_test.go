package config

import (
	"strings"
	"testing"
	"time"
)

func TestSessionDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal+"sessions: {}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sessions
	if s.Store != "memory" || s.CookieName != "__Host-sid" || s.IdleTimeout.D() != 30*time.Minute ||
		s.AbsoluteTimeout.D() != 12*time.Hour || s.RememberLifetime.D() != 720*time.Hour || s.Binding != "log" || s.MaxSessions != 1_000_000 {
		t.Errorf("session defaults = %+v", s)
	}
}

func TestSessionProblems(t *testing.T) {
	withRule := strings.Replace(minimal, "default_target_group: app", "default_target_group: app\n    rules: [{path: /app/*, target_group: app, authorizer: {type: session, login_url: /login}}]", 1)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad store", minimal + "sessions: {store: 'mysql://db'}\n", []string{`sessions.store: scheme "mysql" is not a store (allowed: memory, file:PATH, redis://`}},
		{"file without path", minimal + "sessions: {store: 'file:'}\n", []string{"sessions.store: file: needs a path"}},
		{"redis without host", minimal + "sessions: {store: 'redis://'}\n", []string{"sessions.store: redis:// needs a host"}},
		{"timeouts", minimal + "sessions: {idle_timeout: 2h, absolute_timeout: 1h, remember_lifetime: 10000h}\n", []string{
			"sessions.absolute_timeout: 3600s is out of range (allowed 2h..720h)",
			"sessions.remember_lifetime: 10000h is out of range",
		}},
		{"binding", minimal + "sessions: {binding: block}\n", []string{`sessions.binding: "block" is not allowed (allowed: log, revoke)`}},
		{"cookie name", minimal + "sessions: {cookie_name: 'a b'}\n", []string{`sessions.cookie_name: "a b" is not a valid cookie name`}},
		{"host tenants need a map", minimal + "sessions: {tenants: {by: host}}\n", []string{"sessions.tenants.map: is required with by: host"}},
		{"header tenants need a header", minimal + "sessions: {tenants: {by: header}}\n", []string{`sessions.tenants.header: "" is not a header name`}},
		{"tenants by what", minimal + "sessions: {tenants: {by: path}}\n", []string{`sessions.tenants.by: "path" is not allowed (allowed: host, header)`}},
		{"api needs key file", minimal + "sessions: {api: {address: 127.0.0.1:9904}}\n", []string{"sessions.api.api_key_file: is required"}},
		{"insecure cookies off loopback", strings.Replace(minimal, "127.0.0.1:8080", "0.0.0.0:8080", 1) + "sessions: {insecure_dev_cookies: true}\n",
			[]string{`sessions.insecure_dev_cookies: is only accepted when every listener is on loopback; listeners[0](web) listens on "0.0.0.0:8080"`}},
		{"authorizer needs sessions", withRule, []string{"authorizer.type: session needs a top-level sessions: block"}},
		{"authorizer type", strings.Replace(withRule, "type: session", "type: oauth", 1) + "sessions: {}\n", []string{`authorizer.type: "oauth" is not allowed (allowed: session, jwt)`}},
		{"login url", strings.Replace(withRule, "login_url: /login", "login_url: '//evil.example'", 1) + "sessions: {}\n", []string{`authorizer.login_url: "//evil.example" is not a path`}},
		{"unknown session key", minimal + "sessions: {ttl: 1h}\n", []string{`unknown key "ttl" in sessions (allowed: `}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assertProblems(t, tc.yaml, tc.want) })
	}
}

func TestSessionConfigAccepted(t *testing.T) {
	y := strings.Replace(minimal, "default_target_group: app", "default_target_group: app\n    rules: [{path: /app/*, target_group: app, authorizer: {type: session, login_url: /login}}]", 1) + `
sessions:
  store: redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/tether
  insecure_dev_cookies: true
  tenants: {by: header, header: X-Tenant, map: {acme: acme}}
  api: {address: 127.0.0.1:9904, api_key_file: api.key}
`
	if _, err := Parse([]byte(y), "."); err != nil {
		t.Fatalf("a valid sessions config was refused: %v", err)
	}
}

func TestSessionStoreRedacted(t *testing.T) {
	s := Sessions{Store: "postgres://tether:hunter2@db:5432/app"}
	if got := s.SessionStoreRedacted(); strings.Contains(got, "hunter2") || !strings.Contains(got, "db:5432") {
		t.Errorf("SessionStoreRedacted() = %q", got)
	}
}

func TestSessionWarnings(t *testing.T) {
	c, err := Parse([]byte(minimal+"sessions: {insecure_dev_cookies: true}\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "sessions.insecure_dev_cookies") || !strings.Contains(w, "sessions.store: memory") {
		t.Errorf("warnings = %q; want the insecure cookies and the memory store", w)
	}
}
