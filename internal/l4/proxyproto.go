package l4

import (
	"encoding/binary"
	"net/netip"
)

// proxySignature opens every PROXY protocol version 2 header.
var proxySignature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// PROXY protocol version 2 header fields.
const (
	proxyV2Local   = 0x20 // version 2, command LOCAL
	proxyV2Proxy   = 0x21 // version 2, command PROXY
	proxyUnspec    = 0x00 // address family and protocol unknown
	proxyTCP4      = 0x11 // AF_INET, SOCK_STREAM
	proxyTCP6      = 0x21 // AF_INET6, SOCK_STREAM
	proxyAddrLen4  = 2*4 + 2*2
	proxyAddrLen6  = 2*16 + 2*2
	proxyHeaderLen = 16
)

// AppendProxyHeader appends to b a PROXY protocol version 2 header
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt, section
// 2.2) that tells a target the connection came from src and was made to
// dst, the address the client connected to, and returns the extended
// slice.
//
// The header is TCP over IPv4 when both addresses are IPv4 (IPv4-mapped
// IPv6 addresses count as IPv4), and otherwise TCP over IPv6, with an IPv4
// address written in its IPv4-mapped form; IPv6 zones are dropped. If
// either address is invalid, as for a connection that is not over IP, the
// header has the LOCAL command and no addresses, which tells the target to
// use the connection's own addresses. No TLVs are written.
func AppendProxyHeader(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, proxySignature[:]...)
	if !src.IsValid() || !dst.IsValid() {
		return append(b, proxyV2Local, proxyUnspec, 0, 0)
	}
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() && da.Is4() {
		b = append(b, proxyV2Proxy, proxyTCP4)
		b = binary.BigEndian.AppendUint16(b, proxyAddrLen4)
		s, d := sa.As4(), da.As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		b = append(b, proxyV2Proxy, proxyTCP6)
		b = binary.BigEndian.AppendUint16(b, proxyAddrLen6)
		s, d := sa.As16(), da.As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
