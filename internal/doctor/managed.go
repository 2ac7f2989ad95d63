package doctor

import "time"

// AWS managed policies, so that a distribution that references one needs no
// exported policy file. IDs and settings are from the CloudFront Developer
// Guide (using-managed-cache-policies, using-managed-origin-request-policies)
// and agree with the AWS console's list of managed policies; an exported
// file with the same Id takes precedence.

// managedCachePolicy returns the managed cache policy with the given id.
func managedCachePolicy(id string) (CachePolicy, bool) {
	const year = 31536000 * time.Second
	none := NameSet{Behavior: SetNone}
	all := NameSet{Behavior: SetAll}
	noHeaders := HeaderSet{Behavior: SetNone}
	methodHeaders := HeaderSet{Behavior: SetWhitelist, Names: []string{"host", "origin", "x-http-method", "x-http-method-override", "x-method-override"}}
	p := map[string]CachePolicy{
		"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": {Name: "CachingDisabled", Cookies: none, Headers: noHeaders, Query: none},
		"658327ea-f89d-4fab-a63d-7e88639e58f6": {Name: "CachingOptimized", MinTTL: time.Second, DefaultTTL: 86400 * time.Second, MaxTTL: year, Cookies: none, Headers: noHeaders, Query: none},
		"b2884449-e4de-46a7-ac36-70bc7f1ddd6d": {Name: "CachingOptimizedForUncompressedObjects", MinTTL: time.Second, DefaultTTL: 86400 * time.Second, MaxTTL: year, Cookies: none, Headers: noHeaders, Query: none},
		"2e54312d-136d-493c-8eb9-b001f22f67d2": {Name: "Amplify", MinTTL: 2 * time.Second, DefaultTTL: 2 * time.Second, MaxTTL: 600 * time.Second, Cookies: all,
			Headers: HeaderSet{Behavior: SetWhitelist, Names: []string{"Authorization", "CloudFront-Viewer-Country", "Host"}}, Query: all},
		"08627262-05a9-4f76-9ded-b50ca2e3a84f": {Name: "Elemental-MediaPackage", DefaultTTL: 86400 * time.Second, MaxTTL: year, Cookies: none,
			Headers: HeaderSet{Behavior: SetWhitelist, Names: []string{"origin"}}, Query: NameSet{Behavior: SetWhitelist, Names: []string{"aws.manifestfilter", "end", "m", "start"}}},
		"83da9c7e-98b4-4e11-a168-04f0df8e2c65": {Name: "UseOriginCacheControlHeaders", MaxTTL: year, Cookies: all, Headers: methodHeaders, Query: none},
		"4cc15a8a-d715-48a4-82b8-cc0b614638fe": {Name: "UseOriginCacheControlHeaders-QueryStrings", MaxTTL: year, Cookies: all, Headers: methodHeaders, Query: all},
	}
	c, ok := p[id]
	if ok {
		c.Name = "cache policy " + c.Name
	}
	return c, ok
}

// managedOriginRequestPolicy returns the managed origin request policy with
// the given id.
func managedOriginRequestPolicy(id string) (OriginRequestPolicy, bool) {
	none := NameSet{Behavior: SetNone}
	all := NameSet{Behavior: SetAll}
	list := func(h ...string) HeaderSet { return HeaderSet{Behavior: SetWhitelist, Names: h} }
	allViewer := HeaderSet{Behavior: SetAllViewer}
	p := map[string]OriginRequestPolicy{
		"216adef6-5c7f-47e4-b989-5492eafa07d3": {Name: "AllViewer", Cookies: all, Headers: allViewer, Query: all},
		"33f36d7e-f396-46d9-90e0-52428a34d9dc": {Name: "AllViewerAndCloudFrontHeaders-2022-06", Cookies: all, Headers: allViewer, Query: all},
		"b689b0a8-53d0-40ab-baf2-68738e2966ac": {Name: "AllViewerExceptHostHeader", Cookies: all, Headers: HeaderSet{Behavior: SetAllExcept, Names: []string{"Host"}}, Query: all},
		"59781a5b-3903-41f3-afcb-af62929ccde1": {Name: "CORS-CustomOrigin", Cookies: none, Headers: list("Origin"), Query: none},
		"88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": {Name: "CORS-S3Origin", Cookies: none, Headers: list("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method"), Query: none},
		"775133bc-15f2-49f9-abea-afb2e0bf67d2": {Name: "Elemental-MediaTailor-PersonalizedManifests", Cookies: none,
			Headers: list("Origin", "Access-Control-Request-Headers", "Access-Control-Request-Method", "User-Agent", "X-Forwarded-For"), Query: all},
		"bf0718e1-ba1e-49d1-88b1-f726733018ae": {Name: "HostHeaderOnly", Cookies: none, Headers: list("Host"), Query: none},
		"acba4595-bd28-49b8-b9fe-13317c0390fa": {Name: "UserAgentRefererHeaders", Cookies: none, Headers: list("User-Agent", "Referer"), Query: none},
	}
	o, ok := p[id]
	if ok {
		o.Name = "origin request policy " + o.Name
	}
	return o, ok
}
