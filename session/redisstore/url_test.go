package redisstore

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want endpoint
	}{
		{"standalone", "redis://127.0.0.1:6380",
			endpoint{scheme: "redis", addrs: []string{"127.0.0.1:6380"}}},
		{"default port", "redis://cache.internal",
			endpoint{scheme: "redis", addrs: []string{"cache.internal:6379"}}},
		{"database", "redis://h:1/3",
			endpoint{scheme: "redis", addrs: []string{"h:1"}, db: 3}},
		{"trailing slash", "redis://h:1/",
			endpoint{scheme: "redis", addrs: []string{"h:1"}}},
		{"credentials", "redis://app:s3cr%40t@h:1",
			endpoint{scheme: "redis", addrs: []string{"h:1"}, username: "app", password: "s3cr@t"}},
		{"password only", "redis://:pw@h:1",
			endpoint{scheme: "redis", addrs: []string{"h:1"}, password: "pw"}},
		{"unescaped @ / ? # in password", "redis://u:p@ss/w?rd#x@h:1",
			endpoint{scheme: "redis", addrs: []string{"h:1"}, username: "u", password: "p@ss/w?rd#x"}},
		{"tls", "rediss://h:6380",
			endpoint{scheme: "rediss", tls: true, addrs: []string{"h:6380"}}},
		{"upper-case scheme", "REDIS://h:1",
			endpoint{scheme: "redis", addrs: []string{"h:1"}}},
		{"ipv6", "redis://[::1]:7000",
			endpoint{scheme: "redis", addrs: []string{"[::1]:7000"}}},
		{"ipv6 default port", "redis://[fe80::1]",
			endpoint{scheme: "redis", addrs: []string{"[fe80::1]:6379"}}},
		{"sentinel", "redis+sentinel://a:1,b,[::1]:3/tether",
			endpoint{scheme: "redis+sentinel", mode: modeSentinel, addrs: []string{"a:1", "b:26379", "[::1]:3"}, master: "tether"}},
		{"sentinel options", "rediss+sentinel://u:p@a:1/my%2Dmaster?db=2&sentinel_auth=true",
			endpoint{scheme: "rediss+sentinel", mode: modeSentinel, tls: true, addrs: []string{"a:1"}, master: "my-master",
				username: "u", password: "p", db: 2, sentinelAuth: true}},
		{"cluster", "redis+cluster://:pw@a:1,b:2,c:3",
			endpoint{scheme: "redis+cluster", mode: modeCluster, addrs: []string{"a:1", "b:2", "c:3"}, password: "pw"}},
		{"cluster tls", "rediss+cluster://a:1",
			endpoint{scheme: "rediss+cluster", mode: modeCluster, tls: true, addrs: []string{"a:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseURL(tt.raw)
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tt.raw, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseURL(%q) = %+v\nwant %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []string // each appears in the error
	}{
		{"no scheme", "127.0.0.1:6379", []string{`missing "://"`, "redis+sentinel"}},
		{"unknown scheme", "http://h:1", []string{`scheme "http"`, "redis, rediss"}},
		{"unknown kind", "redis+ring://h:1", []string{`scheme "redis+ring"`}},
		{"no address", "redis://", []string{"no address"}},
		{"no address after credentials", "redis://u:p@/0", []string{"no address"}},
		{"two addresses", "redis://a:1,b:2", []string{"one address", "redis+cluster"}},
		{"empty address", "redis+cluster://a:1,,b:2", []string{"address 2", "empty"}},
		{"bad port", "redis://h:port", []string{`port "port"`, "1 to 65535"}},
		{"port zero", "redis://h:0", []string{"1 to 65535"}},
		{"port too big", "redis://h:65536", []string{"1 to 65535"}},
		{"signed port", "redis://h:+1", []string{"1 to 65535"}},
		{"no host", "redis://:6379", []string{"no host"}},
		{"bare ipv6", "redis://::1:6379", []string{"brackets"}},
		{"unclosed ipv6", "redis://[::1:6379", []string{"missing ']'"}},
		{"ipv4 in brackets", "redis://[127.0.0.1]:1", []string{"not an IPv6 address"}},
		{"junk after ipv6", "redis://[::1]x", []string{"[IPv6 address]:port"}},
		{"bad host", "redis://h%41:1", []string{`host "h%41"`}},
		{"bad database", "redis://h:1/x", []string{`database "x"`}},
		{"database path", "redis://h:1/0/1", []string{`database "0/1"`}},
		{"cluster path", "redis+cluster://h:1/0", []string{"no path", "database 0"}},
		{"no master", "redis+sentinel://h:1", []string{"missing the master name", "MASTERNAME"}},
		{"master with slash", "redis+sentinel://h:1/a/1", []string{`master name "a/1"`, "?db=N"}},
		{"query on redis", "redis://h:1?db=1", []string{"takes no query parameters"}},
		{"unknown parameter", "redis+sentinel://h:1/m?password=x", []string{`unknown query parameter "password"`, "db and sentinel_auth"}},
		{"repeated parameter", "redis+sentinel://h:1/m?db=1&db=2", []string{`"db" is given twice`}},
		{"bad db parameter", "redis+sentinel://h:1/m?db=-1", []string{`db="-1"`}},
		{"bad sentinel_auth", "redis+sentinel://h:1/m?sentinel_auth=yes", []string{"true or false"}},
		{"fragment", "redis://h:1#x", []string{"fragment"}},
		{"bad escape in password", "redis://u:100%@h:1", []string{"password", "%25"}},
		{"bad escape in user", "redis://%zz:p@h:1", []string{"user name"}},
		{"every problem at once", "redis+cluster://a:x,b:y/0", []string{"address 1", "address 2", "no path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseURL(tt.raw)
			if err == nil {
				t.Fatalf("parseURL(%q) succeeded", tt.raw)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("parseURL(%q) error %q does not mention %q", tt.raw, err, w)
				}
			}
		})
	}
}

// TestParseURLHidesPassword checks that no error quotes the password, even
// when the URL is malformed around it.
func TestParseURLHidesPassword(t *testing.T) {
	for _, raw := range []string{
		"redis://user:hunter2@h:port",
		"redis://user:hunter2%@h:1",
		"redis://user:hunter2@",
		"redis+sentinel://user:hunter2@h:1",
		"redis+cluster://user:hunter2@h:1/0?x=1",
		"user:hunter2@h:1",
		"redis://user:hun/ter2@h:1/x",
		"redis://user:hunter2@h:1@",
	} {
		_, err := parseURL(raw)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
			t.Errorf("parseURL(%q) error shows the password: %v", raw, err)
		}
	}
}

func TestEndpointString(t *testing.T) {
	ep, err := parseURL("rediss+sentinel://u:secret@a:1,b:2/tether?sentinel_auth=true")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ep.String(), "rediss+sentinel://a:1,b:2/tether"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

// FuzzParseURL checks that parseURL never panics, that what it accepts is
// well formed, and that its errors never show the password, wherever the
// rest of the URL puts it.
func FuzzParseURL(f *testing.F) {
	for _, seed := range [][3]string{
		{"redis://", "pw", "h:1/0"},
		{"rediss://user", "s3cr%40t", "[::1]:6380"},
		{"redis+sentinel://u", "p@ss", "a:1,b:2/tether?db=1&sentinel_auth=true"},
		{"redis+cluster://", "x/y?z#w", "a:1,b,c:3"},
		{"redis://u", "%zz", "h:0/x?db=1"},
		{"redis+sentinel://", "pw", "h:1/m%2Fx?db=99999999999"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, prefix, password, rest string) {
		raw := prefix + ":" + password + "@" + rest
		ep, err := parseURL(raw)
		if err == nil {
			if len(ep.addrs) == 0 || (ep.mode == modeStandalone && len(ep.addrs) != 1) {
				t.Fatalf("parseURL(%q) accepted %d addresses", raw, len(ep.addrs))
			}
			if ep.mode == modeSentinel && ep.master == "" {
				t.Fatalf("parseURL(%q) accepted a Sentinel URL without a master name", raw)
			}
			return
		}
		// What the errors may say regardless of the password: the same
		// URL with a harmless password, and with a badly escaped one.
		var vocabulary strings.Builder
		for _, other := range []string{"x", "%"} {
			if _, err := parseURL(prefix + ":" + other + "@" + rest); err != nil {
				vocabulary.WriteString(err.Error())
			}
		}
		msg := err.Error()
		for _, p := range []string{password, unescape(password)} {
			if len(p) >= 4 && !strings.Contains(prefix+rest, p) && !strings.Contains(vocabulary.String(), p) &&
				strings.Contains(msg, p) {
				t.Fatalf("parseURL(%q) error shows the password %q: %s", raw, p, msg)
			}
		}
	})
}

func unescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return u
}
