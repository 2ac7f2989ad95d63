package token_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetherlb/tether/token"
)

func TestOptionsValidate(t *testing.T) {
	valid := token.Options{Issuer: issuer, Audiences: []string{audience}, JWKSURL: "https://idp.example.com/jwks.json"}
	static := func(context.Context) ([]byte, error) { return nil, nil }
	for _, tc := range []struct {
		name string
		edit func(*token.Options)
		want []string // substrings of the error; none: valid
	}{
		{"valid", func(*token.Options) {}, nil},
		{"http to loopback", func(o *token.Options) { o.JWKSURL = "http://127.0.0.1:9903/.well-known/jwks.json" }, nil},
		{"http to localhost", func(o *token.Options) { o.JWKSURL = "http://localhost:9903/jwks" }, nil},
		{"http to IPv6 loopback", func(o *token.Options) { o.JWKSURL = "http://[::1]:9903/jwks" }, nil},
		{"JWKSFunc", func(o *token.Options) { o.JWKSURL, o.JWKSFunc = "", static }, nil},
		{"every allowed algorithm", func(o *token.Options) { o.Algorithms = allAlgorithms }, nil},
		{"leeway 60s", func(o *token.Options) { o.Leeway = time.Minute }, nil},
		{"no issuer", func(o *token.Options) { o.Issuer = "" }, []string{"Issuer is required"}},
		{"no audiences", func(o *token.Options) { o.Audiences = nil }, []string{"Audiences"}},
		{"empty audience", func(o *token.Options) { o.Audiences = []string{""} }, []string{"Audiences"}},
		{"HS256", func(o *token.Options) { o.Algorithms = []string{"ES256", "HS256"} }, []string{`"HS256" is refused`}},
		{"none", func(o *token.Options) { o.Algorithms = []string{"none"} }, []string{`"none" is refused`}},
		{"unknown algorithm", func(o *token.Options) { o.Algorithms = []string{"ES256K"} }, []string{`"ES256K" is not supported`, "allowed: RS256"}},
		{"no key source", func(o *token.Options) { o.JWKSURL = "" }, []string{"one of JWKSURL and JWKSFunc"}},
		{"two key sources", func(o *token.Options) { o.JWKSFunc = static }, []string{"both set"}},
		{"http to a remote host", func(o *token.Options) { o.JWKSURL = "http://idp.example.com/jwks" }, []string{"loopback"}},
		{"http to a loopback-looking name", func(o *token.Options) { o.JWKSURL = "http://127.0.0.1.nip.io/jwks" }, []string{"loopback"}},
		{"file URL", func(o *token.Options) { o.JWKSURL = "file:///etc/jwks.json" }, []string{"absolute https URL"}},
		{"relative URL", func(o *token.Options) { o.JWKSURL = "/jwks.json" }, []string{"absolute"}},
		{"ftp", func(o *token.Options) { o.JWKSURL = "ftp://idp.example.com/jwks" }, []string{`scheme "ftp"`}},
		{"leeway 61s", func(o *token.Options) { o.Leeway = 61 * time.Second }, []string{"Leeway 1m1s"}},
		{"negative leeway", func(o *token.Options) { o.Leeway = -time.Second }, []string{"Leeway -1s"}},
		{"min refresh under 1s", func(o *token.Options) { o.MinRefreshInterval = time.Millisecond }, []string{"MinRefreshInterval"}},
		{"refresh under min", func(o *token.Options) { o.RefreshInterval = 10 * time.Second }, []string{"RefreshInterval 10s"}},
		{"refresh over 24h", func(o *token.Options) { o.RefreshInterval = 25 * time.Hour }, []string{"RefreshInterval 25h"}},
		{"negative fetch timeout", func(o *token.Options) { o.FetchTimeout = -1 }, []string{"FetchTimeout"}},
		{"every problem at once", func(o *token.Options) {
			*o = token.Options{Algorithms: []string{"HS512"}, Leeway: time.Hour}
		}, []string{"Issuer", "Audiences", "HS512", "JWKSURL", "Leeway"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.edit(&o)
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, err := token.New(o); err == nil {
				t.Error("New accepted options that Validate refuses")
			}
		})
	}
}
