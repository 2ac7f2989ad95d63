package token_test

import (
	"net/http/httptest"
	"testing"

	"github.com/tetherlb/tether/token"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    string // "": no token
	}{
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi"},
		{"lower-case scheme", []string{"bearer abc.def.ghi"}, "abc.def.ghi"},
		{"upper-case scheme", []string{"BEARER abc"}, "abc"},
		{"several spaces", []string{"Bearer   abc"}, "abc"},
		{"b64token characters", []string{"Bearer aZ09-._~+/=="}, "aZ09-._~+/=="},
		{"no header", nil, ""},
		{"two headers", []string{"Bearer a", "Bearer b"}, ""},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, ""},
		{"scheme only", []string{"Bearer"}, ""},
		{"scheme and space", []string{"Bearer "}, ""},
		{"token with a space", []string{"Bearer a b"}, ""},
		{"token with a comma", []string{"Bearer a,b"}, ""},
		{"only padding", []string{"Bearer =="}, ""},
		{"padding inside", []string{"Bearer a=b"}, ""},
		{"tab separator", []string{"Bearer\tabc"}, ""},
		{"scheme prefix", []string{"Bearerabc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			got, ok := token.BearerToken(r)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("BearerToken = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}
