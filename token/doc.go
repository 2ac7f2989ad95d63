// Package token verifies JWT access tokens (RFC 9068) in your own
// services: tokens from tether's token service, or from any issuer that
// publishes a JSON Web Key Set. It follows the JWT best current practices
// of RFC 8725 and OWASP ASVS 5.0 chapter V9. It reads JSON Web Keys and
// decodes JSON with github.com/go-jose/go-jose/v4, and checks signatures
// with the standard library's crypto/rsa, crypto/ecdsa and crypto/ed25519,
// fed as RFC 7518 and RFC 8037 say (R||S for ECDSA, PSS salts as long as
// the hash).
//
// # Usage
//
// Verifying tokens from tether's token service:
//
//	v, err := token.New(token.Options{
//		JWKSURL:   "http://127.0.0.1:9903/.well-known/jwks.json",
//		Issuer:    "http://127.0.0.1:9903",
//		Audiences: []string{"https://api.example.com"},
//	})
//	if err != nil {
//		return err
//	}
//	defer v.Close()
//
//	http.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
//		raw, ok := token.BearerToken(r)
//		if !ok {
//			w.Header().Set("WWW-Authenticate", `Bearer`)
//			http.Error(w, "unauthorized", http.StatusUnauthorized)
//			return
//		}
//		claims, err := v.Verify(r.Context(), raw)
//		switch {
//		case errors.Is(err, token.ErrJWKSUnavailable):
//			http.Error(w, "try again later", http.StatusServiceUnavailable)
//			return
//		case err != nil:
//			slog.Info("token refused", "reason", err)
//			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
//			http.Error(w, "unauthorized", http.StatusUnauthorized)
//			return
//		case !claims.HasScope("orders:read"):
//			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="orders:read"`)
//			http.Error(w, "forbidden", http.StatusForbidden)
//			return
//		}
//		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
//	})
//
// Issuer must be the exact iss the token service writes. A gateway that
// wants to tell a dead dependency from a bad token maps the errors that
// match none of the sentinels (the context's, Options.NotBefore's) to 503
// as well; see ErrMalformed.
//
// # What is checked
//
// Verify accepts only the JWS Compact Serialization, at most MaxTokenSize
// (8 KiB), with canonical unpadded base64url parts (a lenient decoder
// would accept several spellings of one token) and UTF-8 JSON. Duplicate member names anywhere in the
// header or the claims are refused: go-jose's JSON decoder rejects them,
// and the verifier decodes both with it (RFC 7515 §4 and RFC 7519 §4 allow
// a parser to keep the last duplicate instead; this package does not).
//
// The header's alg must be in Options.Algorithms, a list of asymmetric
// algorithms: "none" and HS256/384/512 can never be configured, which
// rules out the classic HS/RS key confusion. The key is chosen by kid from
// the configured key set only, and must fit the alg: its type (RSA, EC
// curve, Ed25519), and its JWK "alg" when it has one. Tokens carrying jwk,
// jku, x5u or x5c are refused outright rather than having those headers
// ignored, so a token that tries to name its own key or make the verifier
// fetch a URL is visible in the logs as such; nothing in a token is ever
// fetched. crit is refused whatever it lists, the empty list included
// (RFC 7515 forbids it), as are b64 (RFC 7797), zip, enc and cty (nested
// tokens are not supported). typ must be present and equal Options.Type
// (default "at+jwt"), case-insensitively and with or without
// "application/": explicit typing keeps ID tokens and other JWTs of the
// same issuer from passing as access tokens (RFC 8725 §3.11).
//
// Only after the signature verifies are the claims trusted: iss must equal
// Options.Issuer exactly, aud must contain one of Options.Audiences, sub
// and exp are required, and exp, nbf and iat are checked with
// Options.Leeway (default 30s, at most 60s). Registered claims of the wrong
// JSON type are refused.
//
// # Key set
//
// The key set comes from Options.JWKSURL (https, or http to loopback) or
// Options.JWKSFunc. It is fetched with a timeout and a size limit,
// refreshed every RefreshInterval (or the response's Cache-Control
// max-age, clamped to [MinRefreshInterval, 24h]), and once more when a
// token names an unknown kid, so that rotated-in keys work at once.
// Concurrent verifications share one fetch, and fetches start at most once
// per MinRefreshInterval, so a flood of tokens with random kids costs the
// issuer one request per interval. Keys that are not public signing keys
// of an accepted kind are skipped and logged: RSA under 2048 bits (or over
// go-jose's 4096), curves other than P-256, P-384 and P-521, symmetric and
// private keys, use other than "sig". When a fetch fails, or yields no
// usable key, the last good key set stays in use. Redirects are not
// followed.
//
// # Cache and revocation
//
// Tokens that verified are cached, keyed by the whole token,
// until their exp, in a bounded cache (Options.CacheSize). Failures are
// never cached. A cached token stops verifying when a key-set refresh
// drops its key. Options.NotBefore lets a service revoke every token of a
// user issued before a time (log out everywhere, ASVS 7.4.1); it is
// consulted on every Verify, cached or not, because it changes while the
// token is cached.
package token
