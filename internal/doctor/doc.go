// Package doctor lints a CDN edge in front of a sticky load balancer: a
// tether config (its edges, listeners, target groups and sessions) or
// real AWS exports (a CloudFront distribution, its cache and origin
// request policies, and an ALB target group's attributes).
//
// Both inputs are converted into one neutral Model: distributions made of
// ordered behaviors, each with a cache policy (the key and the TTLs), an
// origin request policy (forwarded, not keyed), an origin, and the target
// groups with the stickiness behind it. Each Rule is a small function over
// that model with an ID (the spec's CF-STICKY-001…, or TETHER-… for rules
// only a tether config can feed), a severity, a one-line why and a fix.
// Run applies every rule and returns a Report; the report's exit code is 0
// when clean (infos alone are clean), 1 on warnings and 2 on errors.
//
// The rules come from docs/doctor.md (the spec's §4 lint table). Rules
// that need live probes of a distribution are not implemented.
//
// Nothing in this package does network I/O; LoadAWS reads files, and the
// rest is pure. It is safe for concurrent use: nothing is shared.
package doctor
