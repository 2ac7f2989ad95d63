package lb

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// writeHead writes req's request line and header fields into pc.bw as
// net/http's Request.write does for its Transport: Host from req.Host (else
// the URL's), net/http's User-Agent unless the header has one (an empty one
// means none), the framing fields for length, then the other fields sorted
// by name. It refuses a head that would not mean what it says.
func (pc *h1Conn) writeHead(req *http.Request, length int64) error {
	bw := pc.bw
	method, err := writeRequestLine(bw, req)
	if err != nil {
		return err
	}
	h := req.Header
	if ua, ok := h["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		if err := writeField(bw, "User-Agent", ua[0]); err != nil {
			return err
		}
	}
	if req.Close && !hasToken(headerValue(h, "Connection"), "close") {
		bw.WriteString("Connection: close\r\n")
	}
	switch {
	case length < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if err := writeTrailerNames(bw, req.Trailer); err != nil {
			return err
		}
	case length > 0 || method == "POST" || method == "PUT" || method == "PATCH":
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], length, 10))
		bw.WriteString("\r\n")
	}
	if err := writeFields(bw, h, true); err != nil {
		return err
	}
	_, err = bw.WriteString("\r\n")
	return err
}

// writeHeadFields writes req's request line and Host, then fields, the
// header lines RoundTripFields checked, and the blank line that ends the
// head.
func (pc *h1Conn) writeHeadFields(req *http.Request, fields []byte) error {
	bw := pc.bw
	if _, err := writeRequestLine(bw, req); err != nil {
		return err
	}
	if req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	bw.Write(fields)
	_, err := bw.WriteString("\r\n")
	return err
}

// writeRequestLine writes req's request line and its Host field (req.Host,
// else the URL's), and returns the method written ("GET" for none).
func writeRequestLine(bw *bufio.Writer, req *http.Request) (string, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	if err := writeRequestURI(bw, req.URL); err != nil {
		return "", err
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	return method, nil
}

// fieldLinesOK reports whether b is a run of header lines, each a token,
// ": ", a value without control bytes but tab, and CRLF: nothing in it can
// end the head early or smuggle a line in. The fields Host,
// Content-Length, Transfer-Encoding, Connection and Upgrade are refused:
// the transport writes what frames the request itself.
func fieldLinesOK(b []byte) bool {
	for len(b) > 0 {
		colon := 0
		for colon < len(b) && httpsyntax.IsTchar(b[colon]) {
			colon++
		}
		if colon == 0 || colon == len(b) || b[colon] != ':' || framingField(b[:colon]) {
			return false
		}
		b = b[colon+1:]
		end := 0
		for end < len(b) && (b[end] >= ' ' && b[end] != 0x7f || b[end] == '\t') {
			end++
		}
		if end+1 >= len(b) || b[end] != '\r' || b[end+1] != '\n' {
			return false
		}
		b = b[end+2:]
	}
	return true
}

// framingField reports whether name is a field that frames or routes a
// request, which RoundTripFields' callers may not write.
func framingField(name []byte) bool {
	switch len(name) {
	case 4, 7, 10, 14, 17: // the lengths of the names below
	default:
		return false
	}
	for _, f := range [...]string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Trailer"} {
		if len(name) == len(f) && strings.EqualFold(string(name), f) {
			return true
		}
	}
	return false
}

// addFieldLines adds the fields of lines fieldLinesOK accepted to h.
func addFieldLines(h http.Header, lines []byte) {
	for len(lines) > 0 {
		end := bytes.IndexByte(lines, '\n')
		line := string(lines[:end-1])
		lines = lines[end+1:]
		name, value, _ := strings.Cut(line, ":")
		h.Add(name, trimOWS(value))
	}
}

// writeRequestURI writes u's path and query, as u.RequestURI() without its
// allocation.
func writeRequestURI(bw *bufio.Writer, u *url.URL) error {
	if u.Opaque != "" {
		ruri := u.RequestURI()
		if strings.ContainsFunc(ruri, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("%w: control byte or space in the URL", errH1BadHead)
		}
		bw.WriteString(ruri)
		return nil
	}
	path := u.EscapedPath() // escaped: no control byte, no space
	if path == "" {
		path = "/"
	}
	bw.WriteString(path)
	if u.ForceQuery || u.RawQuery != "" {
		for i := 0; i < len(u.RawQuery); i++ {
			if b := u.RawQuery[i]; b <= ' ' || b == 0x7f {
				return fmt.Errorf("%w: control byte or space in the URL", errH1BadHead)
			}
		}
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
	return nil
}

// writeFields writes the fields of h sorted by name, as net/http does. With
// head set it skips those writeHead writes itself.
func writeFields(bw *bufio.Writer, h http.Header, head bool) error {
	var arr [32]string
	keys := arr[:0]
	for k := range h {
		switch {
		case head && (k == "Host" || k == "User-Agent" || k == "Content-Length" ||
			k == "Transfer-Encoding" || k == "Trailer"):
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !httpsyntax.IsToken(k) {
			return fmt.Errorf("%w: field name %q", errH1BadHead, k)
		}
		for _, v := range h[k] {
			if err := writeField(bw, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeField writes one field line. It refuses a value with a control
// byte other than tab (CR, LF and NUL among them), which could end the
// line or the head early: net/http refuses the same.
func writeField(bw *bufio.Writer, k, v string) error {
	if !fieldValueOK(v) {
		return fmt.Errorf("%w: field value for %q", errH1BadHead, k)
	}
	writeLine(bw, k, trimOWS(v))
	return nil
}

// writeTrailerNames announces the trailers of a chunked body.
func writeTrailerNames(bw *bufio.Writer, tr http.Header) error {
	if len(tr) == 0 {
		return nil
	}
	keys := make([]string, 0, len(tr))
	for k := range tr {
		k = http.CanonicalHeaderKey(k)
		if !httpsyntax.IsToken(k) || k == "Transfer-Encoding" || k == "Trailer" || k == "Content-Length" {
			return fmt.Errorf("%w: trailer %q", errH1BadHead, k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	bw.WriteString("Trailer: ")
	bw.WriteString(strings.Join(keys, ","))
	bw.WriteString("\r\n")
	return nil
}

// plainHost reports whether a Host needs none of the rewriting net/http
// does (IDNA, IPv6 zones, blanking invalid hosts).
func plainHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainHostBytes[s[i]] {
			return false
		}
	}
	return true
}

// plainHostBytes are the bytes allowed in a plain Host. It is never
// written after init.
var plainHostBytes = byteSet("-._~:[]!$&'()*+,;=")

// byteSet returns the set of ASCII letters, digits and extra.
func byteSet(extra string) (set [256]bool) {
	for b := '0'; b <= 'z'; b++ {
		set[b] = '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
	}
	for i := range len(extra) {
		set[extra[i]] = true
	}
	return set
}

func headerValue(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hasToken reports whether the comma or space separated list v holds
// token, in any case (net/http's hasToken).
func hasToken(v, token string) bool {
	for sp := 0; sp+len(token) <= len(v); sp++ {
		if sp > 0 && !isListSep(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !isListSep(v[end]) {
			continue
		}
		if strings.EqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

func isListSep(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
