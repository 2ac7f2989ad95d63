package edge_test

import (
	"testing"
)

// The K rows of spec §3.1: what is keyed and what the origin sees.
func TestKeyAndForwarding(t *testing.T) {
	t.Run("K01 cookies not forwarded or keyed by default", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.get("/p", "Cookie: session=a")
		if c := e.origin.last().Header.Get("Cookie"); c != "" {
			t.Errorf("origin saw Cookie %q, want none", c)
		}
		expect(t, "R2", e.get("/p", "Cookie: session=b"), "hit")
	})
	t.Run("K02 whitelist", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {cookies: {whitelist: [lang]}}
`)
		e.get("/p", "Cookie: session=a; lang=fr")
		if c := e.origin.last().Header.Get("Cookie"); c != "lang=fr" {
			t.Errorf("origin saw Cookie %q, want lang=fr", c)
		}
		expect(t, "R2", e.get("/p", "Cookie: lang=en"), "fwd=uri-miss")
		expect(t, "R3", e.get("/p", "Cookie: lang=fr; session=z"), "hit")
	})
	t.Run("K03 all_except", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {cookies: {all_except: [_ga, AWSALB]}}
`)
		e.get("/p", "Cookie: _ga=1; theme=d")
		expect(t, "R2", e.get("/p", "Cookie: _ga=2; theme=d"), "hit")
		expect(t, "R3", e.get("/p", "Cookie: theme=l"), "fwd=uri-miss")
		for _, r := range e.origin.requests {
			if c := r.Header.Get("Cookie"); c != "theme=d" && c != "theme=l" {
				t.Errorf("origin saw Cookie %q", c)
			}
		}
	})
	t.Run("K04 K06 all cookies sorted, split Cookie fields", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {cookies: all}
`)
		e.get("/p", "Cookie: b=2; a=1")
		if c := e.origin.last().Header.Get("Cookie"); c != "a=1; b=2" {
			t.Errorf("origin saw Cookie %q, want a=1; b=2", c)
		}
		expect(t, "R2", e.get("/p", "Cookie: a=1; b=2"), "hit")
		expect(t, "two fields", e.get("/p", "Cookie: a=1", "Cookie: b=2"), "hit")
	})
	t.Run("K05 names are case-sensitive", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {cookies: {whitelist: [lang]}}
`)
		e.get("/p")
		expect(t, "Lang", e.get("/p", "Cookie: Lang=fr"), "hit")
	})
	t.Run("K07 malformed pieces dropped", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {cookies: all}
`)
		e.get("/p", "Cookie: garbage; a=1")
		if c := e.origin.last().Header.Get("Cookie"); c != "a=1" {
			t.Errorf("origin saw Cookie %q, want a=1", c)
		}
	})
	t.Run("K08 query whitelist", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {query: {whitelist: [v]}}
`)
		e.get("/x?utm=1&v=2")
		if q := e.origin.last().URL.RawQuery; q != "v=2" {
			t.Errorf("origin saw query %q, want v=2", q)
		}
		expect(t, "R2", e.get("/x?v=2&utm=9"), "hit")
	})
	t.Run("K10 absent header differs from present", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {headers: [Accept-Language]}
`)
		expect(t, "fr", e.get("/p", "Accept-Language: fr"), "fwd=uri-miss")
		expect(t, "en", e.get("/p", "Accept-Language: en"), "fwd=uri-miss")
		expect(t, "none", e.get("/p"), "fwd=uri-miss")
		expect(t, "empty", e.get("/p", "Accept-Language: "), "fwd=uri-miss")
		expect(t, "empty again", e.get("/p", "Accept-Language: "), "hit")
		expect(t, "fr again", e.get("/p", "Accept-Language: fr"), "hit")
	})
	t.Run("K10b headers never taken from the client are not keyed", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {headers: [Proxy-Authorization, X-Forwarded-For, Connection]}
`)
		expect(t, "first", e.get("/p", "Proxy-Authorization: Basic YTpi", "X-Forwarded-For: 198.51.100.1"), "fwd=uri-miss")
		expect(t, "other values", e.get("/p", "Proxy-Authorization: Basic Yzpk", "X-Forwarded-For: 198.51.100.2"), "hit")
	})
	t.Run("K11 Accept-Encoding normalised", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.get("/p", "Accept-Encoding: gzip, deflate, br")
		if ae := e.origin.last().Header.Get("Accept-Encoding"); ae != "br,gzip" {
			t.Errorf("origin saw Accept-Encoding %q, want br,gzip", ae)
		}
		expect(t, "R2", e.get("/p", "Accept-Encoding: br;q=1, gzip"), "hit")
	})
	t.Run("K12 host case and default port", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.get("/p", "Host: Example.COM:80")
		expect(t, "R2", e.get("/p", "Host: example.com"), "hit")
		// A port is a number: leading zeros or none after the colon
		// change nothing.
		expect(t, "R3", e.get("/p", "Host: example.com:0080"), "hit")
		expect(t, "R4", e.get("/p", "Host: example.com:"), "hit")
		expect(t, "R5", e.get("/p", "Host: example.com:8080"), "fwd=uri-miss")
	})
	t.Run("K12b a forwarded Host goes as keyed", func(t *testing.T) {
		// An origin that routed "a.example." apart from "a.example" would
		// give one key two answers: the origin gets the host as keyed.
		e := newEnv(t, `
behaviors:
  - path: "*"
    origin_request: {headers: [Host]}
`)
		e.get("/p", "Host: A.Example.:80")
		if h := e.origin.last().Host; h != "a.example" {
			t.Errorf("origin saw Host %q, want a.example", h)
		}
	})
	t.Run("K13 encoded slash bypasses and is forwarded raw", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		expect(t, "R1", e.get("/a%2Fb"), "fwd=bypass", "detail=ambiguous-path")
		if p := e.origin.last().RequestURI; p != "/a%2Fb" {
			t.Errorf("origin saw %q, want /a%%2Fb", p)
		}
		expect(t, "R2", e.get("/a/b"), "fwd=uri-miss")
	})
	t.Run("K14 injective key", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {headers: [X-A, X-B]}
`)
		e.get("/p", `X-A: "x-"`, `X-B: "y"`)
		expect(t, "R2", e.get("/p", `X-A: "x"`, `X-B: "-y"`), "fwd=uri-miss")
	})
	t.Run("K15 infra cookie forwarded on a caching-disabled behavior", func(t *testing.T) {
		e := newEnv(t, `
behaviors:
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
    origin_request: {cookies: {whitelist: [AWSALB]}}
`)
		r := e.get("/p", "Cookie: AWSALB=X; session=s")
		if c := e.origin.last().Header.Get("Cookie"); c != "AWSALB=X" {
			t.Errorf("origin saw Cookie %q, want AWSALB=X", c)
		}
		expect(t, "R1", r, "fwd=bypass")
	})
	t.Run("forwarding headers are the edge's own", func(t *testing.T) {
		e := newEnv(t, defaultBehavior)
		e.get("/p", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example", "Forwarded: for=6.6.6.6")
		h := e.origin.last().Header
		if h.Get("X-Forwarded-For") != "127.0.0.1" || h.Get("X-Forwarded-Host") != "" || h.Get("Forwarded") != "" {
			t.Errorf("origin saw X-Forwarded-For %q, X-Forwarded-Host %q, Forwarded %q", h.Get("X-Forwarded-For"), h.Get("X-Forwarded-Host"), h.Get("Forwarded"))
		}
	})
}

// The M rows of spec §3.2.
func TestBehaviorSelection(t *testing.T) {
	e := newEnv(t, `
behaviors:
  - path: /api/*
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
  - path: "*.css"
    cache: {default_ttl: 1h}
  - path: images/a??.jpg
    cache: {default_ttl: 1h}
  - path: "*"
    cache: {min_ttl: 0s, default_ttl: 0s, max_ttl: 0s}
`)
	e.origin.set(answer(200, "x"))
	expect(t, "M01", e.get("/api/x.css"), "fwd=bypass")
	expect(t, "css", e.get("/site.css"), "stored")
	expect(t, "M02 case-sensitive", e.get("/SITE.CSS"), "fwd=bypass")
	expect(t, "M03 abc", e.get("/images/abc.jpg"), "stored")
	expect(t, "M03 sub", e.get("/images/sub/ant.jpg"), "fwd=bypass")
	expect(t, "M03 ab", e.get("/images/ab.jpg"), "fwd=bypass")
}
