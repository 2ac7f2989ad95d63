package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Managed policy IDs used in fixtures.
const (
	cachingDisabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	allViewerORP     = "216adef6-5c7f-47e4-b989-5492eafa07d3"
)

// distJSON is get-distribution-config output with one origin "web" on
// domain, whose default behavior uses the given policies.
func distJSON(domain, cachePolicy, orp string) string {
	orpField := ""
	if orp != "" {
		orpField = fmt.Sprintf(`,"OriginRequestPolicyId":%q`, orp)
	}
	return fmt.Sprintf(`{"ETag":"E2QWRUHAPOMQZL","DistributionConfig":{"CallerReference":"t","Origins":{"Quantity":1,"Items":[
{"Id":"web","DomainName":%q,"CustomHeaders":{"Quantity":1,"Items":[{"HeaderName":"X-Origin-Verify","HeaderValue":"s"}]}}]},
"DefaultCacheBehavior":{"TargetOriginId":"web","AllowedMethods":{"Quantity":2,"Items":["HEAD","GET"],"CachedMethods":{"Quantity":2,"Items":["HEAD","GET"]}},
"CachePolicyId":%q%s},"CacheBehaviors":{"Quantity":0},"CustomErrorResponses":{"Quantity":0},"Comment":"","Enabled":true}}`, domain, cachePolicy, orpField)
}

const (
	elbDomain = "web-1234.eu-west-1.elb.amazonaws.com"
	tgJSON    = `{"Attributes":[{"Key":"stickiness.enabled","Value":"true"},{"Key":"stickiness.type","Value":"lb_cookie"},{"Key":"stickiness.lb_cookie.duration_seconds","Value":"3600"}]}`
)

// exportsModel recognises files (name → content) and builds the model.
func exportsModel(t *testing.T, files map[string]string) (*Model, error) {
	t.Helper()
	var xs []NamedExport
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		x, err := Recognise([]byte(files[n]))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		xs = append(xs, NamedExport{Name: n, Export: x})
	}
	return FromExports("dir", xs)
}

func exports(files map[string]string) func(*testing.T) *Model {
	return func(t *testing.T) *Model {
		m, err := exportsModel(t, files)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
}

func inputCases() []ruleCase {
	return []ruleCase{
		{rule: "DOCTOR-INPUT-001", name: "ALB origin without attributes",
			trigger: exports(map[string]string{"d.json": distJSON(elbDomain, cachingDisabled, allViewerORP)}),
			clean:   exports(map[string]string{"d.json": distJSON(elbDomain, cachingDisabled, allViewerORP), "tg.json": tgJSON})},
		{rule: "DOCTOR-INPUT-002", name: "attributes for no origin",
			trigger: exports(map[string]string{"d.json": distJSON("app.example.com", cachingDisabled, allViewerORP), "tg.json": tgJSON}),
			clean:   exports(map[string]string{"d.json": distJSON("app.example.com", cachingDisabled, allViewerORP), "web.json": tgJSON})},
	}
}

func TestDoctorRecognise(t *testing.T) {
	tests := []struct {
		name, json, kind string
	}{
		{"distribution config", distJSON(elbDomain, cachingDisabled, ""), kindDistConfig},
		{"distribution", `{"ETag":"E1","Distribution":{"Id":"EDFDVBD6EXAMPLE","DistributionConfig":` +
			strings.TrimSuffix(strings.TrimPrefix(distJSON(elbDomain, cachingDisabled, ""), `{"ETag":"E2QWRUHAPOMQZL","DistributionConfig":`), "}") + "}}", kindDistribution},
		{"cache policy", `{"ETag":"E1","CachePolicy":{"Id":"p1","CachePolicyConfig":{"Name":"n","MinTTL":0,"DefaultTTL":0,"MaxTTL":0,
			"ParametersInCacheKeyAndForwardedToOrigin":{"CookiesConfig":{"CookieBehavior":"none"},"HeadersConfig":{"HeaderBehavior":"none"},"QueryStringsConfig":{"QueryStringBehavior":"none"}}}}}`, kindCachePolicy},
		{"cache policy list", `{"CachePolicyList":{"Quantity":1,"Items":[{"Type":"custom","CachePolicy":{"Id":"p1","CachePolicyConfig":{"Name":"n","MinTTL":0}}}]}}`, kindCachePolicies},
		{"origin request policy", `{"ETag":"E1","OriginRequestPolicy":{"Id":"o1","OriginRequestPolicyConfig":{"Name":"n","CookiesConfig":{"CookieBehavior":"all"},"HeadersConfig":{"HeaderBehavior":"none"},"QueryStringsConfig":{"QueryStringBehavior":"all"}}}}`, kindORP},
		{"origin request policy list", `{"OriginRequestPolicyList":{"Quantity":1,"Items":[{"Type":"managed","OriginRequestPolicy":{"Id":"o1","OriginRequestPolicyConfig":{"Name":"n"}}}]}}`, kindORPs},
		{"target group attributes", tgJSON, kindTGAttributes},
		{"listener rules", `{"Rules":[{"Priority":"default","IsDefault":true,"Conditions":[],"Actions":[{"Type":"forward"}]}]}`, kindRules},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Recognise([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if x.Kind != tt.kind {
				t.Errorf("kind %q, want %q", x.Kind, tt.kind)
			}
		})
	}
}

func TestDoctorRecogniseRefuses(t *testing.T) {
	tests := []struct {
		name, json string
		unknown    bool
		want       string
	}{
		{"another JSON object", `{"Reservations":[]}`, true, "not a recognised AWS export"},
		{"load balancer attributes", `{"Attributes":[{"Key":"idle_timeout.timeout_seconds","Value":"60"}]}`, true, "load balancer attributes?"},
		{"not JSON", `Distribution: yes`, false, "not a JSON object"},
		{"an array", `[1, 2]`, false, "not a JSON object"},
		{"distribution without origins", `{"DistributionConfig":{"DefaultCacheBehavior":{"TargetOriginId":"web"}}}`, false, "no Origins"},
		{"cache policy without an Id", `{"CachePolicy":{"CachePolicyConfig":{}}}`, false, "without an Id"},
		// In the export's words, not Go's: the field's path and the JSON
		// type it should have.
		{"wrong types", `{"CachePolicy":{"Id":7}}`, false, "CachePolicy.Id is a number, where the AWS CLI prints a string"},
		{"a count as a string", `{"DistributionConfig":{"CacheBehaviors":{"Quantity":"two"}}}`, false,
			"DistributionConfig.CacheBehaviors.Quantity is a string, where the AWS CLI prints a whole number"},
		{"a list as an object", `{"DistributionConfig":{"Origins":{"Items":{"a":1}}}}`, false, "DistributionConfig.Origins.Items is an object, where the AWS CLI prints a list"},
		{"null", `null`, false, "not a JSON object: the file holds null"},
		{"truncated", `{"a":`, false, "invalid JSON at byte"},
		// A value the API would not print would make every rule about it
		// wrong: refused, with the values it accepts.
		{"a behavior without a path", `{"DistributionConfig":{"Origins":{"Items":[{"Id":"web"}]},"DefaultCacheBehavior":{"TargetOriginId":"web"},"CacheBehaviors":{"Items":[{"TargetOriginId":"web"}]}}}`, false,
			"CacheBehaviors.Items[0] has no PathPattern"},
		{"misspelt cookie behavior", `{"CachePolicy":{"Id":"p","CachePolicyConfig":{"ParametersInCacheKeyAndForwardedToOrigin":{"CookiesConfig":{"CookieBehavior":"ALL"}}}}}`, false,
			`cache policy p: CookiesConfig.CookieBehavior "ALL" is not one the API accepts (allowed: none, whitelist, allExcept, all)`},
		{"allViewer in a cache policy", `{"CachePolicy":{"Id":"p","CachePolicyConfig":{"ParametersInCacheKeyAndForwardedToOrigin":{"HeadersConfig":{"HeaderBehavior":"allViewer"}}}}}`, false,
			`HeadersConfig.HeaderBehavior "allViewer" is not one the API accepts (allowed: none, whitelist)`},
		{"misspelt stickiness type", `{"Attributes":[{"Key":"stickiness.enabled","Value":"true"},{"Key":"stickiness.type","Value":"lb-cookie"}]}`, false,
			`stickiness.type "lb-cookie" is not one the API accepts`},
		{"app cookie without a name", `{"Attributes":[{"Key":"stickiness.enabled","Value":"true"},{"Key":"stickiness.type","Value":"app_cookie"},{"Key":"stickiness.app_cookie.cookie_name","Value":""}]}`, false,
			"stickiness.app_cookie.cookie_name is empty"},
		{"duration not a number", `{"Attributes":[{"Key":"stickiness.enabled","Value":"true"},{"Key":"stickiness.lb_cookie.duration_seconds","Value":"abc"}]}`, false,
			`stickiness.lb_cookie.duration_seconds "abc" is not a whole number of seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Recognise([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrUnknownExport) != tt.unknown {
				t.Errorf("err = %v, want it to contain %q (unknown export: %v)", err, tt.want, tt.unknown)
			}
			if err != nil && strings.Contains(err.Error(), "Go ") {
				t.Errorf("err = %v: names a Go type", err)
			}
		})
	}
}

func TestDoctorLoadAWSNamesUnknownFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("distribution.json", distJSON(elbDomain, cachingDisabled, allViewerORP))
	write("instances.json", `{"Reservations":[]}`)
	write("notes.txt", "not read")
	_, err := LoadAWS(dir)
	if err == nil || !strings.Contains(err.Error(), "instances.json") || !strings.Contains(err.Error(), "aws elbv2 describe-target-group-attributes") {
		t.Errorf("err = %v, want it to name instances.json and the recognised kinds", err)
	}
	if _, err := LoadAWS(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.json file") {
		t.Errorf("empty dir: err = %v", err)
	}
}

// TestDoctorLoadAWSFiles: the folder is taken literally, not as a glob;
// a FIFO or a device among the exports is refused, not waited on; a file
// given for the folder is said to be one; the exports together are
// bounded; one policy exported twice is refused.
func TestDoctorLoadAWSFiles(t *testing.T) {
	write := func(dir, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	glob := filepath.Join(t.TempDir(), "site[1]")
	if err := os.Mkdir(glob, 0o755); err != nil {
		t.Fatal(err)
	}
	write(glob, "distribution.JSON", distJSON("app.example.com", cachingDisabled, allViewerORP))
	if _, err := LoadAWS(glob); err != nil {
		t.Errorf("a folder named %s: %v", filepath.Base(glob), err)
	}

	fifo := t.TempDir()
	write(fifo, "distribution.json", distJSON("app.example.com", cachingDisabled, allViewerORP))
	if err := syscall.Mkfifo(filepath.Join(fifo, "pipe.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadAWS(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "pipe.json is not a regular file (it is a named pipe)") {
			t.Errorf("a FIFO among the exports: err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("LoadAWS waits on a FIFO")
	}

	file := filepath.Join(glob, "distribution.JSON")
	if _, err := LoadAWS(file); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("a file for the folder: err = %v", err)
	}

	big := t.TempDir()
	pad := strings.Repeat(" ", maxExportSize-100)
	for i := range maxExportsSize/maxExportSize + 1 {
		write(big, fmt.Sprintf("p%d.json", i), `{"CachePolicy":{"Id":"p`+strconv.Itoa(i)+`"}}`+pad)
	}
	if _, err := LoadAWS(big); err == nil || !strings.Contains(err.Error(), "hold more than 64 MiB") {
		t.Errorf("exports over the total budget: err = %v", err)
	}

	policy := `{"CachePolicy":{"Id":"c0ffee00-0000-4000-8000-000000000001","CachePolicyConfig":{"Name":"p","MinTTL":0,"DefaultTTL":60,"MaxTTL":120}}}`
	_, err := exportsModel(t, map[string]string{"d.json": distJSON("app.example.com", "c0ffee00-0000-4000-8000-000000000001", ""), "a.json": policy, "b.json": policy})
	if err == nil || !strings.Contains(err.Error(), "cache policy c0ffee00-0000-4000-8000-000000000001 is in a.json and in b.json") {
		t.Errorf("a policy exported twice: err = %v", err)
	}
}

// TestDoctorHugeTTL: a TTL past what a time.Duration holds is taken as
// CloudFront's longest, not wrapped to a negative one.
func TestDoctorHugeTTL(t *testing.T) {
	policy := `{"CachePolicy":{"Id":"c0ffee00-0000-4000-8000-000000000001","CachePolicyConfig":{"Name":"p","MinTTL":0,"DefaultTTL":60,"MaxTTL":10000000000}}}`
	m, err := exportsModel(t, map[string]string{"d.json": distJSON(elbDomain, "c0ffee00-0000-4000-8000-000000000001", allViewerORP), "p.json": policy, "tg.json": tgJSON})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Distributions[0].Behaviors[0].Cache.MaxTTL; got != cfLongestTTL*time.Second {
		t.Errorf("MaxTTL 1e10 s read as %v, want %v", got, cfLongestTTL*time.Second)
	}
}

func TestDoctorPolicies(t *testing.T) {
	custom := `{"CachePolicy":{"Id":"c0ffee00-0000-4000-8000-000000000001","CachePolicyConfig":{"Name":"short","MinTTL":0,"DefaultTTL":60,"MaxTTL":120,
"ParametersInCacheKeyAndForwardedToOrigin":{"CookiesConfig":{"CookieBehavior":"whitelist","Cookies":{"Quantity":1,"Items":["theme"]}},"HeadersConfig":{"HeaderBehavior":"none"},"QueryStringsConfig":{"QueryStringBehavior":"all"}}}}}`
	m, err := exportsModel(t, map[string]string{"d.json": distJSON(elbDomain, "c0ffee00-0000-4000-8000-000000000001", allViewerORP), "p.json": custom, "tg.json": tgJSON})
	if err != nil {
		t.Fatal(err)
	}
	b := m.Distributions[0].Behaviors[0]
	if b.Cache.Name != "cache policy short" || b.Cache.MaxTTL != 120*time.Second || !b.Cache.Cookies.Selects("theme") || b.Cache.Query.Behavior != SetAll {
		t.Errorf("custom cache policy = %+v", b.Cache)
	}
	if b.Forward.Name != "origin request policy AllViewer" || !b.forwardsHeader("X-Anything") || !b.forwardsCookie("AWSALB") {
		t.Errorf("managed AllViewer = %+v", b.Forward)
	}
	if !b.Default || b.Path != "*" || len(b.Backends) != 1 || b.Backends[0].Sticky.Duration != time.Hour {
		t.Errorf("behavior = %+v, backends %+v", b, b.Backends)
	}
	_, err = exportsModel(t, map[string]string{"d.json": distJSON(elbDomain, "deadbeef-0000-4000-8000-000000000000", "")})
	if err == nil || !strings.Contains(err.Error(), "aws cloudfront get-cache-policy --id deadbeef-0000-4000-8000-000000000000") {
		t.Errorf("missing policy: err = %v, want the command that exports it", err)
	}
}

func TestDoctorLegacyForwardedValues(t *testing.T) {
	d := strings.Replace(distJSON(elbDomain, cachingDisabled, ""), `"CachePolicyId":"`+cachingDisabled+`"`,
		`"ForwardedValues":{"QueryString":true,"Cookies":{"Forward":"whitelist","WhitelistedNames":{"Quantity":2,"Items":["AWSALB*","sid"]}},
"Headers":{"Quantity":0},"QueryStringCacheKeys":{"Quantity":1,"Items":["q"]}},"MinTTL":0,"DefaultTTL":60,"MaxTTL":600`, 1)
	m, err := exportsModel(t, map[string]string{"d.json": d})
	if err != nil {
		t.Fatal(err)
	}
	b := m.Distributions[0].Behaviors[0]
	if !b.keysCookie("AWSALBCORS") || !b.keysCookie("sid") || b.keysCookie("other") {
		t.Errorf("legacy cookie whitelist with a wildcard: %+v", b.Cache.Cookies)
	}
	if !b.Cache.Query.Selects("q") || b.Cache.Query.Selects("page") || !b.Forward.Query.Selects("page") {
		t.Errorf("legacy query: key %v, forward %v; want q keyed and every parameter forwarded", b.Cache.Query, b.Forward.Query)
	}
	if b.Cache.MaxTTL != 600*time.Second {
		t.Errorf("legacy TTL = %v", b.Cache.MaxTTL)
	}
}

func TestDoctorPairing(t *testing.T) {
	two := strings.Replace(distJSON(elbDomain, cachingDisabled, allViewerORP), `]},
"DefaultCacheBehavior"`, `,{"Id":"web.v2","DomainName":"web2-99.eu-west-1.elb.amazonaws.com"}]},
"DefaultCacheBehavior"`, 1)
	two = strings.Replace(two, `"CacheBehaviors":{"Quantity":0}`,
		`"CacheBehaviors":{"Quantity":1,"Items":[{"PathPattern":"/v2/*","TargetOriginId":"web.v2","CachePolicyId":"`+cachingDisabled+`"}]}`, 1)
	tests := []struct {
		name    string
		files   map[string]string
		paired  map[string]string // origin → attributes file
		unused  []string
		wantErr string
	}{
		{name: "one file pairs with every ALB origin", files: map[string]string{"d.json": two, "tg.json": tgJSON},
			paired: map[string]string{"web": "tg.json", "web.v2": "tg.json"}},
		{name: "named after the origin, longest Id wins", files: map[string]string{"d.json": two, "web.json": tgJSON, "web.v2.attrs.json": tgJSON},
			paired: map[string]string{"web": "web.json", "web.v2": "web.v2.attrs.json"}},
		{name: "two unnamed files are ambiguous", files: map[string]string{"d.json": two, "a.json": tgJSON, "b.json": tgJSON},
			wantErr: "name each file after its origin's Id"},
		{name: "two files for one origin", files: map[string]string{"d.json": two, "web.json": tgJSON, "web.tg.json": tgJSON},
			wantErr: "both pair with origin web"},
		{name: "no ALB origin left", files: map[string]string{"d.json": distJSON("app.example.com", cachingDisabled, ""), "tg.json": tgJSON},
			unused: []string{"tg.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := exportsModel(t, tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range m.Distributions[0].Behaviors {
				file, want := tt.paired[b.Origin.ID]
				if got := len(b.Backends) == 1 && b.Backends[0].Name == "target group "+file; got != want {
					t.Errorf("origin %s: backends %+v, want %q", b.Origin.ID, b.Backends, file)
				}
			}
			var unused []string
			for _, n := range m.Unused {
				unused = append(unused, n.Subject)
			}
			if !slices.Equal(unused, tt.unused) {
				t.Errorf("unused = %v, want %v", unused, tt.unused)
			}
		})
	}
}

func TestDoctorALBAuthRules(t *testing.T) {
	rules := `{"Rules":[
{"Priority":"5","Conditions":[{"Field":"path-pattern","Values":["/account/*"]}],"Actions":[{"Type":"authenticate-cognito","AuthenticateCognitoConfig":{"SessionTimeout":900}},{"Type":"forward"}]},
{"Priority":"default","IsDefault":true,"Conditions":[],"Actions":[{"Type":"forward"}]}]}`
	d := strings.Replace(distJSON(elbDomain, cachingDisabled, allViewerORP), `"CacheBehaviors":{"Quantity":0}`,
		`"CacheBehaviors":{"Quantity":2,"Items":[{"PathPattern":"/account/*","TargetOriginId":"web","CachePolicyId":"`+cachingDisabled+`","OriginRequestPolicyId":"`+allViewerORP+`"},
{"PathPattern":"/blog/*","TargetOriginId":"web","CachePolicyId":"`+cachingDisabled+`"}]}`, 1)
	m, err := exportsModel(t, map[string]string{"d.json": d, "web.json": tgJSON, "web.rules.json": rules})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range m.Distributions[0].Behaviors {
		a := b.Backends[0].Auth
		wantAuth := b.Path == "/account/*"
		if (a != nil) != wantAuth {
			t.Errorf("%s: auth %+v, want auth %v", b.Path, a, wantAuth)
		}
		if a != nil && (a.SessionTimeout != 900*time.Second || a.SessionCookie != "AWSELBAuthSessionCookie-*") {
			t.Errorf("%s: auth = %+v", b.Path, a)
		}
	}
}

// TestSampleExports runs the exports in examples/aws.
func TestDoctorSampleExports(t *testing.T) {
	m, err := LoadAWS(filepath.Join("..", "..", "examples", "aws", "broken"))
	if err != nil {
		t.Fatal(err)
	}
	rep := Run(m)
	want := []string{"CF-STICKY-001", "CF-STICKY-002", "CF-STICKY-004", "CF-STICKY-005", "CF-STICKY-006", "CF-STICKY-007",
		"CF-AUTH-001", "CF-TTL-001", "CF-KEY-001", "CF-KEY-002", "CF-KEY-003", "CF-KEY-004", "CF-METH-001", "CF-METH-002",
		"CF-COND-001", "CF-ERR-001", "CF-ORIGIN-001", "CF-PATH-001", "CF-PATH-002", "CF-PATH-003"}
	for _, id := range want {
		if !rep.Has(id) {
			t.Errorf("broken sample: %s did not fire", id)
		}
	}
	if rep.ExitCode() != 2 {
		t.Errorf("broken sample: exit %d, want 2", rep.ExitCode())
	}
	m, err = LoadAWS(filepath.Join("..", "..", "examples", "aws", "good"))
	if err != nil {
		t.Fatal(err)
	}
	if rep := Run(m); len(rep.Findings) != 0 || rep.ExitCode() != 0 {
		t.Errorf("good sample: findings %+v", rep.Findings)
	}
}
