// Package tokens benchmarks tether's token package beside golang-jwt v5,
// and the argon2id logins of tether's user pool. It holds only tests and
// benchmarks; it is its own module so that golang-jwt is not a dependency
// of tether. Run it with bench/tokens.sh; bench/README.md ("Token
// service") explains what is compared and how.
package tokens
