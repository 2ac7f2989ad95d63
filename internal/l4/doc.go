// Package l4 is tether's layer 4 load balancer: TLS passthrough, routed by
// the server name of each client's ClientHello.
//
// A [Listener] reads the ClientHello of each connection ([ReadClientHello]),
// chooses a [Group] by the server name in it ([Route]), and relays the
// connection, still encrypted, to a target of that group, which completes
// the handshake with its own certificate: the load balancer never holds a
// key, as with an AWS Network Load Balancer's TCP listener. A group
// balances connections with the algorithms of package balance, binds
// clients by IP address (source_ip stickiness, over the binding table of
// package affinity), checks its targets with TCP connects, drains them
// gracefully, and can tell them the client's address with a PROXY protocol
// version 2 header ([AppendProxyHeader]).
//
// The connection path: accept (proxy.go) → ClientHello (sni.go) → route
// (proxy.go) → target choice (group.go) → connect, retried once on another
// target (relay.go) → PROXY header (proxyproto.go) → relay (relay.go).
package l4
