package token

import "errors"

// The classes of verification failure. Verify wraps exactly one of them
// with detail ("token: expired: exp 12:00:00Z is 31s past (leeway 30s)"),
// so that callers match the class with errors.Is and log the detail. Every
// class except ErrJWKSUnavailable means the token itself is unacceptable:
// an HTTP server answers 401 with error="invalid_token" (RFC 6750 §3.1).
// ErrJWKSUnavailable means the verifier could not judge the token at all
// (503). An error that matches none of them comes from the context or from
// Options.NotBefore, and is a system failure too (503).
//
// The detail may quote header values and claims from the token; it never
// contains the token itself.
var (
	// ErrMalformed: the input is not a compact JWS of at most MaxTokenSize
	// bytes with valid base64url, UTF-8 JSON (without duplicate member
	// names) and correctly typed registered claims, or a required claim
	// (exp, sub) is missing. JWE and the JWS JSON serializations land here.
	ErrMalformed = errors.New("token: malformed")
	// ErrAlgorithm: the header's alg is "none", symmetric, not in
	// Options.Algorithms, or does not fit the selected key's type or its
	// JWK "alg".
	ErrAlgorithm = errors.New("token: algorithm not allowed")
	// ErrHeader: the header carries a parameter the verifier refuses: a key
	// or a key location (jwk, jku, x5u, x5c), crit, b64, zip, enc or cty.
	ErrHeader = errors.New("token: header parameter not allowed")
	// ErrType: the header's typ is missing or is not Options.Type.
	ErrType = errors.New("token: wrong type")
	// ErrUnknownKey: no key in the key set has the token's kid, even after
	// the refresh that an unknown kid triggers (or the refresh was
	// rate-limited); or the token has no kid and the set has several keys.
	ErrUnknownKey = errors.New("token: unknown key")
	// ErrSignature: the signature does not verify with the selected key.
	ErrSignature = errors.New("token: bad signature")
	// ErrIssuer: iss is missing or is not Options.Issuer.
	ErrIssuer = errors.New("token: wrong issuer")
	// ErrAudience: no value of aud is in Options.Audiences.
	ErrAudience = errors.New("token: wrong audience")
	// ErrExpired: exp is further in the past than the leeway.
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid: nbf or iat is further in the future than the leeway.
	ErrNotYetValid = errors.New("token: not yet valid")
	// ErrRevoked: the token was issued (iat) before the subject's
	// not-before time from Options.NotBefore, or has no iat while the
	// subject has one.
	ErrRevoked = errors.New("token: revoked")
	// ErrJWKSUnavailable: no key set has been loaded yet and the JWKS could
	// not be fetched.
	ErrJWKSUnavailable = errors.New("token: key set unavailable")
)
