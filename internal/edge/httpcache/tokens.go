package httpcache

// Cache-Status detail tokens (spec §2.13): why a response was not stored,
// why the cache was bypassed, or how a stale object was used. Evaluate
// returns the ones about storability in Decision.Reasons; the pipeline
// uses the others.
const (
	// Not stored (Evaluate).
	ReasonStatus       = "status"        // status not storable (or not without explicit freshness)
	ReasonNoStore      = "no-store"      // no-store
	ReasonPrivate      = "private"       // unqualified private
	ReasonNoCache      = "no-cache"      // unqualified no-cache
	ReasonVaryStar     = "vary-star"     // Vary: *
	ReasonCredential   = "credential"    // Authorization or an unkeyed credential, not sharedExplicit
	ReasonUnkeyedInput = "unkeyed-input" // unkeyed forwarded input, not sharedExplicit
	ReasonZeroTTL      = "zero-ttl"      // no freshness left once clamped and aged

	// Not stored (pipeline).
	ReasonSetCookie           = "set-cookie"            // a non-infrastructure Set-Cookie
	ReasonContentTypeMismatch = "content-type-mismatch" // the static content-type guard
	ReasonTooLarge            = "too-large"             // larger than the maximum object size
	ReasonIncomplete          = "incomplete"            // body shorter than Content-Length, or cut

	// Bypass and lookup (pipeline).
	ReasonAmbiguousPath   = "ambiguous-path"
	ReasonDuplicateParam  = "duplicate-param"
	ReasonBody            = "body"
	ReasonHitForMiss      = "hit-for-miss"
	ReasonVaryUnforwarded = "vary-unforwarded"

	// Stale serving (pipeline).
	ReasonStaleWhileRevalidate = "stale-while-revalidate"
	ReasonStaleIfError         = "stale-if-error"
	ReasonOriginUnreachable    = "origin-unreachable"
)

// Cache-Status fwd tokens (RFC 9211 §2.2).
const (
	FwdBypass  = "bypass"
	FwdMethod  = "method"
	FwdURIMiss = "uri-miss"
	FwdVary    = "vary-miss"
	FwdMiss    = "miss"
	FwdRequest = "request"
	FwdStale   = "stale"
	FwdPartial = "partial"
)
