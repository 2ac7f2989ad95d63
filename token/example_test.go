package token_test

import (
	"errors"
	"log"
	"log/slog"
	"net/http"

	"github.com/tetherlb/tether/token"
)

// Verifying access tokens from tether's token service in a handler.
func ExampleVerifier_Verify() {
	v, err := token.New(token.Options{
		JWKSURL:   "http://127.0.0.1:9903/.well-known/jwks.json",
		Issuer:    "http://127.0.0.1:9903",
		Audiences: []string{"https://api.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	http.HandleFunc("/orders", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := token.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		claims, err := v.Verify(r.Context(), raw)
		switch {
		case errors.Is(err, token.ErrJWKSUnavailable):
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		case err != nil:
			slog.Info("token refused", "reason", err)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		case !claims.HasScope("orders:read"):
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="orders:read"`)
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		w.Write([]byte("orders of " + claims.Subject + "\n"))
	})
}
