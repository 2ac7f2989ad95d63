package l4_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tetherlb/tether/internal/l4"
	ts "github.com/tetherlb/tether/internal/testsupport"
)

// proxyHeader is a parsed PROXY protocol version 2 header.
type proxyHeader struct {
	command  byte // 0 LOCAL, 1 PROXY
	family   byte // high nibble of byte 14: 0 UNSPEC, 1 INET, 2 INET6
	protocol byte // low nibble: 1 STREAM
	src, dst netip.AddrPort
}

// readProxyHeader parses a PROXY protocol version 2 header from r, as the
// spec's section 2.2 describes it, independently of the code under test.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return proxyHeader{}, err
	}
	if !bytes.Equal(fixed[:12], []byte("\r\n\r\n\x00\r\nQUIT\n")) {
		return proxyHeader{}, fmt.Errorf("bad signature % x", fixed[:12])
	}
	if fixed[12]>>4 != 2 {
		return proxyHeader{}, fmt.Errorf("version %d", fixed[12]>>4)
	}
	h := proxyHeader{command: fixed[12] & 0xF, family: fixed[13] >> 4, protocol: fixed[13] & 0xF}
	rest := make([]byte, binary.BigEndian.Uint16(fixed[14:]))
	if _, err := io.ReadFull(r, rest); err != nil {
		return proxyHeader{}, err
	}
	var alen int
	switch h.family {
	case 1:
		alen = 4
	case 2:
		alen = 16
	default:
		return h, nil
	}
	if len(rest) < 2*alen+4 {
		return proxyHeader{}, fmt.Errorf("address block of %d bytes", len(rest))
	}
	sa, _ := netip.AddrFromSlice(rest[:alen])
	da, _ := netip.AddrFromSlice(rest[alen : 2*alen])
	p := rest[2*alen:]
	h.src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(p))
	h.dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(p[2:]))
	return h, nil
}

func TestAppendProxyHeader(t *testing.T) {
	const sig = "0d0a0d0a000d0a515549540a"
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		src, dst netip.AddrPort
		want     string // hex
	}{
		{"IPv4", ap("192.0.2.1:56324"), ap("198.51.100.7:443"),
			sig + "21" + "11" + "000c" + "c0000201" + "c6336407" + "dc04" + "01bb"},
		{"IPv4-mapped counts as IPv4", ap("[::ffff:192.0.2.1]:56324"), ap("198.51.100.7:443"),
			sig + "21" + "11" + "000c" + "c0000201" + "c6336407" + "dc04" + "01bb"},
		{"IPv6", ap("[2001:db8::1]:1"), ap("[2001:db8::2]:65535"),
			sig + "21" + "21" + "0024" + "20010db8000000000000000000000001" + "20010db8000000000000000000000002" + "0001" + "ffff"},
		{"mixed families use IPv6", ap("192.0.2.1:80"), ap("[2001:db8::2]:443"),
			sig + "21" + "21" + "0024" + "00000000000000000000ffffc0000201" + "20010db8000000000000000000000002" + "0050" + "01bb"},
		{"unknown source is LOCAL", netip.AddrPort{}, ap("198.51.100.7:443"), sig + "20" + "00" + "0000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := l4.AppendProxyHeader([]byte("x"), tc.src, tc.dst)
			if want, _ := hex.DecodeString(tc.want); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Fatalf("got  %x\nwant   %s", got, tc.want)
			}
			h, err := readProxyHeader(bytes.NewReader(got[1:]))
			if err != nil {
				t.Fatal(err)
			}
			if tc.src.IsValid() && (h.src.Addr().Unmap() != tc.src.Addr().Unmap() || h.src.Port() != tc.src.Port() || h.dst != tc.dst) {
				t.Errorf("parsed %v -> %v, want %v -> %v", h.src, h.dst, tc.src, tc.dst)
			}
		})
	}
}

// proxyTarget accepts one connection at a time, reads its PROXY header,
// then completes the TLS handshake and writes its id.
func proxyTarget(t *testing.T, network, addr string) (string, <-chan proxyHeader) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	cert := theCA(t).leaf(t, "p.example.com")
	headers := make(chan proxyHeader, 8)
	ts.ServeConns(t, ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		h, err := readProxyHeader(br)
		if err != nil {
			return
		}
		headers <- h
		tc := tls.Server(&bufConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() == nil {
			io.WriteString(tc, "proxied")
			tc.Close()
		}
	})
	return ln.Addr().String(), headers
}

// bufConn reads through a bufio.Reader that may hold bytes already read.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestProxyProtocol sends targets a PROXY v2 header with the client's
// address and the address the client connected to.
func TestProxyProtocol(t *testing.T) {
	tests := []struct {
		name, network, listen, from string
		family                      byte
	}{
		{"IPv4", "tcp4", "127.0.0.1:0", "127.0.0.3", 1},
		{"IPv6", "tcp6", "[::1]:0", "::1", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			taddr, headers := proxyTarget(t, tc.network, tc.listen)
			g := newGroup(t, l4.GroupConfig{Name: "g", ProxyProtocol: true,
				Targets: []l4.TargetConfig{{ID: "p", Address: taddr, Weight: 1}}}, nil)
			addr, _ := startListenerOn(t, tc.listen, nil, g, l4.ListenerOptions{})
			d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.from)}}
			conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "p.example.com", RootCAs: theCA(t).pool})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(conn)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if string(b) != "proxied" {
				t.Errorf("read %q from the target, want proxied", b)
			}
			h := <-headers
			want := proxyHeader{command: 1, family: tc.family, protocol: 1,
				src: netip.MustParseAddrPort(conn.LocalAddr().String()), dst: netip.MustParseAddrPort(addr)}
			if h != want {
				t.Errorf("header %+v\nwant   %+v", h, want)
			}
		})
	}
}
