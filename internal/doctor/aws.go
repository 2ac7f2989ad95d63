package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// ErrUnknownExport is returned for a JSON file that is none of the AWS
// exports doctor reads.
var ErrUnknownExport = errors.New("not a recognised AWS export")

// The AWS CLI commands whose JSON output doctor recognises.
const (
	kindDistConfig    = "aws cloudfront get-distribution-config"
	kindDistribution  = "aws cloudfront get-distribution"
	kindCachePolicy   = "aws cloudfront get-cache-policy"
	kindCachePolicies = "aws cloudfront list-cache-policies"
	kindORP           = "aws cloudfront get-origin-request-policy"
	kindORPs          = "aws cloudfront list-origin-request-policies"
	kindTGAttributes  = "aws elbv2 describe-target-group-attributes"
	kindRules         = "aws elbv2 describe-rules"
)

// ExportKinds lists the AWS CLI commands whose JSON output doctor
// recognises, for messages and docs.
func ExportKinds() []string {
	return []string{kindDistConfig, kindDistribution, kindCachePolicy, kindCachePolicies,
		kindORP, kindORPs, kindTGAttributes, kindRules}
}

// Export is one recognised AWS CLI output file.
type Export struct {
	// Kind is the AWS CLI command that prints this shape.
	Kind string
	// Distribution is set for get-distribution-config and get-distribution.
	Distribution *awsDistConfig
	// CachePolicies and OriginRequestPolicies are set for the policy
	// commands (one, or a list).
	CachePolicies         []awsCachePolicy
	OriginRequestPolicies []awsOriginRequestPolicy
	// Attributes is set for describe-target-group-attributes.
	Attributes map[string]string
	// Rules is set for describe-rules.
	Rules []awsRule
}

// Recognise decodes an AWS CLI JSON output by its content. It returns an
// error wrapping ErrUnknownExport when data is JSON of another shape.
func Recognise(data []byte) (*Export, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", jsonProblem(err, ""))
	}
	if top == nil {
		return nil, errors.New("not a JSON object: the file holds null")
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	decode := func(k string, v any) error {
		if err := json.Unmarshal(top[k], v); err != nil {
			return jsonProblem(err, k)
		}
		return nil
	}
	var x Export
	var err error
	switch {
	case has("DistributionConfig"):
		x.Kind, x.Distribution = kindDistConfig, &awsDistConfig{}
		err = decode("DistributionConfig", x.Distribution)
	case has("Distribution"):
		var d struct{ DistributionConfig *awsDistConfig }
		x.Kind, err = kindDistribution, decode("Distribution", &d)
		x.Distribution = d.DistributionConfig
	case has("CachePolicy"):
		x.Kind, x.CachePolicies = kindCachePolicy, make([]awsCachePolicy, 1)
		err = decode("CachePolicy", &x.CachePolicies[0])
	case has("CachePolicyList"):
		var l struct {
			Items []struct{ CachePolicy awsCachePolicy }
		}
		x.Kind, err = kindCachePolicies, decode("CachePolicyList", &l)
		for _, it := range l.Items {
			x.CachePolicies = append(x.CachePolicies, it.CachePolicy)
		}
	case has("OriginRequestPolicy"):
		x.Kind, x.OriginRequestPolicies = kindORP, make([]awsOriginRequestPolicy, 1)
		err = decode("OriginRequestPolicy", &x.OriginRequestPolicies[0])
	case has("OriginRequestPolicyList"):
		var l struct {
			Items []struct{ OriginRequestPolicy awsOriginRequestPolicy }
		}
		x.Kind, err = kindORPs, decode("OriginRequestPolicyList", &l)
		for _, it := range l.Items {
			x.OriginRequestPolicies = append(x.OriginRequestPolicies, it.OriginRequestPolicy)
		}
	case has("Attributes"):
		x.Kind, err = kindTGAttributes, decodeAttributes(top["Attributes"], &x)
	case has("Rules"):
		x.Kind, err = kindRules, decode("Rules", &x.Rules)
	default:
		return nil, ErrUnknownExport
	}
	if err == nil {
		err = x.check()
	}
	if err != nil {
		return nil, fmt.Errorf("%s output: %w", x.Kind, err)
	}
	return &x, nil
}

func decodeAttributes(raw json.RawMessage, x *Export) error {
	var kv []struct{ Key, Value string }
	if err := json.Unmarshal(raw, &kv); err != nil {
		return jsonProblem(err, "Attributes")
	}
	x.Attributes = map[string]string{}
	for _, a := range kv {
		x.Attributes[a.Key] = a.Value
	}
	for k := range x.Attributes {
		if strings.HasPrefix(k, "stickiness.") || strings.HasPrefix(k, "deregistration_delay.") {
			return nil
		}
	}
	return fmt.Errorf("%w: Attributes without stickiness.* keys (load balancer attributes? doctor reads target group attributes)", ErrUnknownExport)
}

// check rejects a recognised shape that lacks what the rules need.
func (x *Export) check() error {
	switch {
	case x.Kind == kindDistConfig || x.Kind == kindDistribution:
		if x.Distribution == nil || x.Distribution.DefaultCacheBehavior.TargetOriginId == "" {
			return errors.New("no DefaultCacheBehavior with a TargetOriginId")
		}
		if len(x.Distribution.Origins.Items) == 0 {
			return errors.New("no Origins")
		}
		for i, b := range x.Distribution.CacheBehaviors.Items {
			if b.PathPattern == "" || b.TargetOriginId == "" {
				return fmt.Errorf("CacheBehaviors.Items[%d] has no PathPattern or no TargetOriginId (the default behavior is DefaultCacheBehavior)", i)
			}
		}
	case x.CachePolicies != nil || x.OriginRequestPolicies != nil:
		for _, p := range x.CachePolicies {
			if p.Id == "" {
				return errors.New("a cache policy without an Id")
			}
			if err := p.CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.check("cache policy "+p.Id, cacheHeaderBehaviors); err != nil {
				return err
			}
		}
		for _, p := range x.OriginRequestPolicies {
			if p.Id == "" {
				return errors.New("an origin request policy without an Id")
			}
			if err := p.OriginRequestPolicyConfig.awsPolicyParams.check("origin request policy "+p.Id, orpHeaderBehaviors); err != nil {
				return err
			}
		}
	case x.Kind == kindTGAttributes:
		return checkStickiness(x.Attributes)
	case x.Kind == kindRules:
		for _, r := range x.Rules {
			if len(r.Actions) == 0 {
				return errors.New("a rule without Actions")
			}
		}
	}
	return nil
}

// The values the CloudFront API accepts for a policy's behaviors. A
// value doctor does not know (a misspelt "ALL") would make every rule
// about that policy wrong, so it is refused.
var (
	cookieBehaviors      = []string{"none", "whitelist", "allExcept", "all"}
	queryBehaviors       = []string{"none", "whitelist", "allExcept", "all"}
	cacheHeaderBehaviors = []string{"none", "whitelist"}
	orpHeaderBehaviors   = []string{"none", "whitelist", "allViewer", "allViewerAndWhitelistCloudFront", "allExcept"}
)

// check refuses a behavior value the API does not accept; an absent one
// is none.
func (p awsPolicyParams) check(policy string, headerBehaviors []string) error {
	for _, f := range []struct {
		field, value string
		allowed      []string
	}{
		{"CookiesConfig.CookieBehavior", p.CookiesConfig.CookieBehavior, cookieBehaviors},
		{"HeadersConfig.HeaderBehavior", p.HeadersConfig.HeaderBehavior, headerBehaviors},
		{"QueryStringsConfig.QueryStringBehavior", p.QueryStringsConfig.QueryStringBehavior, queryBehaviors},
	} {
		if f.value != "" && !slices.Contains(f.allowed, f.value) {
			return fmt.Errorf("%s: %s %q is not one the API accepts (allowed: %s)", policy, f.field, f.value, strings.Join(f.allowed, ", "))
		}
	}
	return nil
}

// stickinessTypes are the target group stickiness.type values of the
// ELB API (application, network and gateway load balancers).
var stickinessTypes = []string{"lb_cookie", "app_cookie", "source_ip", "source_ip_dest_ip", "source_ip_dest_ip_proto"}

// checkStickiness refuses stickiness attributes the ELB API would not
// return: an unknown type, an app_cookie without its cookie's name, a
// duration that is not a whole number of seconds.
func checkStickiness(a map[string]string) error {
	if t := a["stickiness.type"]; t != "" && !slices.Contains(stickinessTypes, t) {
		return fmt.Errorf("stickiness.type %q is not one the API accepts (allowed: %s)", t, strings.Join(stickinessTypes, ", "))
	}
	if a["stickiness.enabled"] == "true" && a["stickiness.type"] == "app_cookie" && strings.TrimSpace(a["stickiness.app_cookie.cookie_name"]) == "" {
		return errors.New("stickiness.type is app_cookie but stickiness.app_cookie.cookie_name is empty")
	}
	for _, k := range []string{"stickiness.lb_cookie.duration_seconds", "stickiness.app_cookie.duration_seconds"} {
		if v, ok := a[k]; ok {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("%s %q is not a whole number of seconds", k, v)
			}
		}
	}
	return nil
}

// awsItems is the API's {Quantity, Items} list.
type awsItems[T any] struct {
	Quantity int
	Items    []T
}

// awsDistConfig is the DistributionConfig of get-distribution-config.
type awsDistConfig struct {
	Comment              string
	Origins              awsItems[awsOrigin]
	DefaultCacheBehavior awsBehavior
	CacheBehaviors       awsItems[awsBehavior]
	CustomErrorResponses awsItems[awsErrorResponse]
}

type awsOrigin struct {
	Id            string
	DomainName    string
	CustomHeaders awsItems[struct{ HeaderName, HeaderValue string }]
	// S3OriginConfig is present for S3 REST origins.
	S3OriginConfig json.RawMessage
}

type awsBehavior struct {
	PathPattern    string
	TargetOriginId string
	AllowedMethods struct {
		Items         []string
		CachedMethods awsItems[string]
	}
	CachePolicyId         string
	OriginRequestPolicyId string
	// ForwardedValues and the TTLs are the legacy cache settings.
	ForwardedValues            *awsForwardedValues
	MinTTL, DefaultTTL, MaxTTL *int64
}

type awsForwardedValues struct {
	QueryString bool
	Cookies     struct {
		Forward          string
		WhitelistedNames awsItems[string]
	}
	Headers              awsItems[string]
	QueryStringCacheKeys awsItems[string]
}

type awsErrorResponse struct {
	ErrorCode          int
	ErrorCachingMinTTL *int64
}

// awsPolicyParams are the cookie, header and query settings both policy
// kinds share.
type awsPolicyParams struct {
	CookiesConfig struct {
		CookieBehavior string
		Cookies        awsItems[string]
	}
	HeadersConfig struct {
		HeaderBehavior string
		Headers        awsItems[string]
	}
	QueryStringsConfig struct {
		QueryStringBehavior string
		QueryStrings        awsItems[string]
	}
}

type awsCachePolicy struct {
	Id                string
	CachePolicyConfig struct {
		Name                                     string
		MinTTL                                   int64
		DefaultTTL, MaxTTL                       *int64
		ParametersInCacheKeyAndForwardedToOrigin awsPolicyParams
	}
}

type awsOriginRequestPolicy struct {
	Id                        string
	OriginRequestPolicyConfig struct {
		Name string
		awsPolicyParams
	}
}

// awsRule is one ALB listener rule of describe-rules.
type awsRule struct {
	Priority   string
	IsDefault  bool
	Conditions []struct {
		Field             string
		Values            []string
		PathPatternConfig *struct{ Values []string }
	}
	Actions []struct {
		Type                      string
		AuthenticateOidcConfig    *awsAuthConfig
		AuthenticateCognitoConfig *awsAuthConfig
	}
}

type awsAuthConfig struct {
	SessionCookieName string
	SessionTimeout    *int64
}

// jsonProblem says what is wrong with the JSON under the top-level key
// top in words, without Go's type names: the field's path in the export
// and the JSON type it should have (a number where the file has a
// string), or where the syntax breaks.
func jsonProblem(err error, top string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := top
		if te.Field != "" {
			field = strings.TrimPrefix(top+"."+te.Field, ".")
		}
		where := "the file"
		if field != "" {
			where = field
		}
		return fmt.Errorf("%s is %s, where the AWS CLI prints %s", where, jsonArticle(te.Value), jsonType(te.Type))
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if top != "" {
		return fmt.Errorf("reading %s: %w", top, err)
	}
	return err
}

// jsonArticle names a JSON value kind as encoding/json reports it
// ("string", "number", "array", "object", "bool").
func jsonArticle(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return "a " + v
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}
