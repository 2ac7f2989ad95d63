package doctor

import "slices"

// Rule is one lint check with its ID, severity, reason and fix.
type Rule struct {
	// ID is the spec's ID (CF-STICKY-001…) or a tether one (TETHER-SESS-001).
	ID string
	// Severity of every finding of the rule.
	Severity Severity
	// Title names the problem in a few words, for the rule list.
	Title string
	// Why is the one-line reason, shown with each finding and in the table.
	Why string
	// Fix is what to change, worded for CloudFront and ALB.
	Fix string
	// TetherFix is the fix worded for a tether config; empty: Fix.
	TetherFix string
	// Refs are the documents behind the rule.
	Refs []string
	// Input limits the rule to KindTether or KindAWS; empty: both.
	Input string
	// SafeMitigated skips the rule on tether edges in safe mode, whose
	// guardrails prevent the problem.
	SafeMitigated bool

	check func(m *Model, report func(hit))
}

// hit is one place a rule fired: a behavior (d and b), a distribution (d)
// or another subject.
type hit struct {
	d        *Distribution
	b        *Behavior
	subject  string
	evidence string
}

// Rules returns every rule, in the order of the table in docs/doctor.md.
// Rules that need live probes (CF-TTL-002, CF-TTL-004, CF-KEY-005,
// CF-KEY-006, CF-SC-001, CF-SC-002, CF-SC-003, CF-CDNCC-001) and data the
// exports lack (CF-WAF-001) are not implemented.
func Rules() []Rule {
	return slices.Concat(stickyRules(), cacheRules(), pathRules(), tetherRules(), inputRules())
}

// Lookup returns the rule with the given ID.
func Lookup(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// eachBehavior adapts a per-behavior test into a rule check: test returns
// the evidence and whether the rule fires on b.
func eachBehavior(test func(d *Distribution, b *Behavior) (string, bool)) func(*Model, func(hit)) {
	return func(m *Model, report func(hit)) {
		for _, d := range m.Distributions {
			for _, b := range d.Behaviors {
				if ev, ok := test(d, b); ok {
					report(hit{d: d, b: b, evidence: ev})
				}
			}
		}
	}
}

// Doc links the rules cite.
const (
	refCookies      = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Cookies.html"
	refSticky       = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/sticky-sessions.html"
	refExpiration   = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html"
	refCachePolicy  = "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CachePolicyConfig.html"
	refORP          = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/controlling-origin-requests.html"
	refALBAuth      = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html#cloudfront-requirements"
	refPathPattern  = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/distribution-web-values-specify.html#DownloadDistValuesPathPattern"
	refErrors       = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HTTPStatusCodes.html"
	refCustomOrigin = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html"
	refRestrictALB  = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/restrict-access-to-load-balancer.html"
	refPoisoning    = "https://portswigger.net/research/practical-web-cache-poisoning"
	refEntanglement = "https://portswigger.net/research/web-cache-entanglement"
	refCPDoS        = "https://cpdos.org/"
	refDeception    = "https://omergil.blogspot.com/2017/02/web-cache-deception-attack.html"
	refRFC9111      = "https://www.rfc-editor.org/rfc/rfc9111#section-4.4"
	refSpec         = "docs/doctor.md"
	refAffinity     = "docs/affinity.md"
	refSessions     = "docs/sessions.md"
)
