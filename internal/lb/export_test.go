package lb

import "net/http"

// ServeRaw is serveRaw, for the tests of package lb_test.
var ServeRaw = serveRaw

// RuleAuthorizer returns, for benchmarks, the authorizer of the rule of
// listener that matches host and path, as the handler would run it, or nil
// when that rule has none.
func RuleAuthorizer(s *Server, listener, host, path string) func(http.ResponseWriter, *http.Request) bool {
	_, gate := s.gen.Load().routers[listener].match(host, path)
	if gate == nil {
		return nil
	}
	lh := &listenerHandler{srv: s, name: listener}
	return func(w http.ResponseWriter, r *http.Request) bool { return gate.authorize(w, r, lh) }
}
