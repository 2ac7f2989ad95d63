package health

import (
	"strings"
	"testing"
	"time"
)

func TestParseCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		match   []int
		noMatch []int
		str     string // canonical form; checked when wantErr is ""
		wantErr string // substring of the error; "" means success
	}{
		{name: "single", in: "200", match: []int{200}, noMatch: []int{199, 201, 0, 700}, str: "200"},
		{name: "range", in: "200-399", match: []int{200, 302, 399}, noMatch: []int{199, 400}, str: "200-399"},
		{name: "list", in: "200,204,300-302", match: []int{200, 204, 300, 301, 302}, noMatch: []int{201, 303}, str: "200,204,300-302"},
		{name: "spaces", in: " 200 , 300 - 301 ", match: []int{200, 300, 301}, str: "200,300-301"},
		{name: "adjacent merge", in: "201,200,202", match: []int{200, 201, 202}, str: "200-202"},
		{name: "bounds", in: "100-599", match: []int{100, 599}, noMatch: []int{99, 600}, str: "100-599"},
		{name: "empty", in: "", wantErr: "empty list"},
		{name: "blank", in: "  ", wantErr: "empty list"},
		{name: "empty part", in: "200,,300", wantErr: `part ""`},
		{name: "trailing comma", in: "200,", wantErr: `part ""`},
		{name: "word", in: "ok", wantErr: `"ok" is not a status code`},
		{name: "too low", in: "99", wantErr: "99 is out of range"},
		{name: "too high", in: "200-600", wantErr: "600 is out of range"},
		{name: "reversed", in: "399-200", wantErr: `part "399-200": range is reversed`},
		{name: "open range", in: "200-", wantErr: `part "200-"`},
		{name: "sign", in: "+200", wantErr: `"+200" is not a status code`},
		{name: "two dashes", in: "200-300-400", wantErr: `"300-400" is not a status code`},
		{name: "wildcard", in: "2xx", wantErr: `"2xx" is not a status code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCodes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCodes(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "parse success codes") {
					t.Errorf("error %q lacks the operation prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCodes(%q): %v", tt.in, err)
			}
			for _, code := range tt.match {
				if !c.Match(code) {
					t.Errorf("Match(%d) = false, want true", code)
				}
			}
			for _, code := range tt.noMatch {
				if c.Match(code) {
					t.Errorf("Match(%d) = true, want false", code)
				}
			}
			if got := c.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func TestCodesZeroMatchesNothing(t *testing.T) {
	t.Parallel()
	var c Codes
	for code := 0; code < 700; code++ {
		if c.Match(code) {
			t.Fatalf("zero Codes matches %d", code)
		}
	}
	if s := c.String(); s != "" {
		t.Errorf("zero Codes String() = %q, want \"\"", s)
	}
}

func TestCodesText(t *testing.T) {
	t.Parallel()
	var c Codes
	if err := c.UnmarshalText([]byte("200-204,404")); err != nil {
		t.Fatal(err)
	}
	text, err := c.MarshalText()
	if err != nil || string(text) != "200-204,404" {
		t.Fatalf("MarshalText() = %q, %v; want \"200-204,404\"", text, err)
	}
	if err := c.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText(\"nope\") succeeded")
	}
	if !c.Match(404) {
		t.Error("a failed UnmarshalText changed the value")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{
		Enabled: true, Path: "/healthz", Interval: 5 * time.Second, Timeout: 2 * time.Second,
		HealthyThreshold: 3, UnhealthyThreshold: 2, SuccessCodes: mustCodes(t, "200-399"),
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // substrings, one per expected problem; empty means valid
	}{
		{name: "good", change: func(*Config) {}},
		{name: "passive only needs an interval", change: func(c *Config) { *c = Config{Interval: time.Second, Passive5xx: 3} }},
		{name: "passive only without interval", change: func(c *Config) { *c = Config{} }, want: []string{"interval"}},
		{name: "negative passive", change: func(c *Config) { c.Passive5xx = -1 }, want: []string{"passive_5xx"}},
		{
			name:   "everything wrong",
			change: func(c *Config) { *c = Config{Enabled: true, Path: "healthz"} },
			want:   []string{"interval", "path", "timeout", "healthy_threshold", "unhealthy_threshold", "success_codes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tt.change(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d problems", len(tt.want))
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok || len(joined.Unwrap()) != len(tt.want) {
				t.Fatalf("Validate() = %v, want %d joined problems", err, len(tt.want))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), "health_check: "+w+":") {
					t.Errorf("Validate() = %v, want a problem naming %q", err, w)
				}
			}
		})
	}
}

func FuzzParseCodes(f *testing.F) {
	for _, seed := range []string{"200", "200-399", "200,204,300-302", "", ",", "99", "600", "399-200", " 200 - 201 ", "2xx", "-", "1-2-3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCodes(s)
		if err != nil {
			if c != (Codes{}) {
				t.Fatalf("ParseCodes(%q) failed but returned a non-zero Codes", s)
			}
			return
		}
		again, err := ParseCodes(c.String())
		if err != nil {
			t.Fatalf("ParseCodes(String()) of %q = %v", s, err)
		}
		if again != c {
			t.Fatalf("round trip of %q through %q changed the set", s, c.String())
		}
	})
}

func mustCodes(t testing.TB, s string) Codes {
	t.Helper()
	c, err := ParseCodes(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
