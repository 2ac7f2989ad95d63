package cachestore

import "time"

// Object is one stored response: a variant under a primary key.
//
// An Object must not be changed once it has been given to Put: the Store
// hands the same pointer to every Get, concurrently. To update a stored
// response (a 304 revalidation), copy it, change the copy and Put the copy.
type Object struct {
	// Key is the primary cache key: the bytes of the request fields the
	// key holds, as the pipeline encodes them. Keys are compared whole, so
	// two requests share an object only when all of those fields are the
	// same.
	Key string
	// Variant is the secondary key from Vary; "" when the response had no
	// Vary. Variants live under one primary key; Put replaces the object
	// with the same Key and Variant.
	Variant string
	// Tenant, Host, Path and Query name the object for invalidation: Path
	// is the raw escaped path, Query the raw query as keyed ("" for none).
	Tenant, Host, Path, Query string
	// Status is the response status code.
	Status int
	// Header is the stored response header (without the fields that must
	// not be stored or replayed), packed.
	Header Header
	// Body is the complete response body.
	Body []byte
	// Coding is the content coding the pipeline applied to Body before
	// storing it ("gzip" or "br"; Header then says so in
	// Content-Encoding), or "" for a body stored as the origin sent it.
	Coding string
	// Stored is when the response was stored or last revalidated. Put sets
	// it to the Store's clock when it is zero.
	Stored time.Time
	// Generation is the Store's Generation when the response was
	// requested from the origin: Add refuses the object when an
	// invalidation of its URI ran since. Zero skips the check.
	Generation uint64
	// InitialAge is the age the response already had when it was stored
	// (its Age header, Date skew and transit, RFC 9111 §4.2.3). FreshFor
	// has already been reduced by it; CurrentAge adds it back for the Age
	// header sent to viewers.
	InitialAge time.Duration
	// FreshFor is the freshness lifetime left at Stored: the TTL already
	// minus InitialAge. Zero means stale from the start.
	FreshFor time.Duration
	// StaleWhileRevalidate and StaleIfError are how long past FreshFor the
	// object may still be served while a revalidation runs (RFC 5861), or
	// when the origin fails.
	StaleWhileRevalidate, StaleIfError time.Duration
	// SharedExplicit records that the origin marked the response as
	// explicitly shareable (public, s-maxage, or a targeted max-age), so it
	// may serve requests that carry an unkeyed credential.
	SharedExplicit bool
	// VaryHeaders are the lowercased header names the Vary response header
	// nominated.
	VaryHeaders []string
	// Direct records that Header's lines may go to a client as they are,
	// followed by the fields the pipeline adds to every hit: they hold
	// nothing it would replace or change. The pipeline sets it.
	Direct bool
}

// objectOverhead is what an object costs beyond its bytes, as allocated
// on amd64, rounded up: the Object (256 bytes) and its entry (96), its
// URI's slot in its shard's map at the lowest load the map grows to
// (about 95 bytes, shared by the URI's other keys and variants), and the
// allocator's rounding of the key and the header.
const objectOverhead = 512

// Size returns the bytes the object counts against Options.MaxBytes: the
// body (its capacity), the packed header, the key and the strings that
// name the object (each counted whole, even when it shares its bytes with
// the key) and a fixed overhead for the bookkeeping. It is computed once,
// when the object is Put.
func (o *Object) Size() int64 {
	n := objectOverhead + cap(o.Body) + o.Header.Size() + len(o.Key) + len(o.Variant) +
		len(o.Tenant) + len(o.Host) + len(o.Path) + len(o.Query)
	for _, v := range o.VaryHeaders {
		n += len(v) + 16
	}
	return int64(n)
}

// Age returns how long ago the object was stored or last revalidated (never
// negative). It does not include InitialAge, so Fresh is Age < FreshFor.
func (o *Object) Age(now time.Time) time.Duration {
	return max(0, now.Sub(o.Stored))
}

// CurrentAge returns the object's age as the Age response header states it
// (RFC 9111 §4.2.3): InitialAge plus Age.
func (o *Object) CurrentAge(now time.Time) time.Duration {
	return o.InitialAge + o.Age(now)
}

// Fresh reports whether the object may be served without revalidation.
func (o *Object) Fresh(now time.Time) bool {
	return o.Age(now) < o.FreshFor
}

// TTL returns the freshness left at now: negative once the object is
// stale (Cache-Status ttl, RFC 9211 §2.6).
func (o *Object) TTL(now time.Time) time.Duration {
	return o.FreshFor - o.Age(now)
}

// Staleness returns how long the object has been stale at now; zero while
// it is fresh.
func (o *Object) Staleness(now time.Time) time.Duration {
	return max(0, -o.TTL(now))
}

// WithinStaleWhileRevalidate reports whether the object is stale but still
// inside its stale-while-revalidate window.
func (o *Object) WithinStaleWhileRevalidate(now time.Time) bool {
	return !o.Fresh(now) && o.Staleness(now) <= o.StaleWhileRevalidate && o.StaleWhileRevalidate > 0
}

// WithinStaleIfError reports whether the object may be served in place of
// an origin error at now: fresh, or stale by no more than StaleIfError.
func (o *Object) WithinStaleIfError(now time.Time) bool {
	return o.Fresh(now) || o.StaleIfError > 0 && o.Staleness(now) <= o.StaleIfError
}
