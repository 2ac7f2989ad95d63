package l4

// Metrics is told about connections, so that the server can count them,
// for example in Prometheus. Implementations must be safe for concurrent
// use and should not block.
type Metrics interface {
	// Conn counts a connection attempt or its refusal. outcome is one of
	// the Outcome constants. group is "" when no group was chosen and
	// target is "" when no target was.
	Conn(group, target, outcome string)
	// Bytes adds the bytes a finished connection carried: in from the
	// client to the target (the replayed ClientHello and any PROXY header
	// included), out from the target to the client. It is called once per
	// connection, when both directions have ended.
	Bytes(group, target string, in, out int64)
}

// Outcomes of Metrics.Conn.
const (
	// OutcomeConnected: the connection to the target opened; the client's
	// bytes are being relayed.
	OutcomeConnected = "connected"
	// OutcomeConnectError: a connection to the target failed. The target
	// is marked unhealthy and, on the first failure, another target is
	// tried.
	OutcomeConnectError = "connect_error"
	// OutcomeNoTarget: the group had no target to try.
	OutcomeNoTarget = "no_target"
	// OutcomeNoRoute: no route matched the server name and there is no
	// default group; the client got an unrecognized_name alert.
	OutcomeNoRoute = "no_route"
	// OutcomeBadHello: the client sent no valid ClientHello in time.
	OutcomeBadHello = "bad_hello"
)
