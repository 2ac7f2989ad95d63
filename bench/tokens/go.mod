module github.com/tetherlb/tether/bench/tokens

go 1.26.8

replace github.com/tetherlb/tether => ../..

require (
	github.com/go-jose/go-jose/v4 v4.1.8
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/tetherlb/tether v0.0.0-00010101000000-000000000000
)

require (
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
