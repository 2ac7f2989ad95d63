package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tetherlb/tether/internal/affinity"
)

// serveFront serves a request the front read on lh's listener: routing
// and stickiness as ServeHTTP does, then proxy. A request whose route
// needs what only net/http's path has (an authorizer, TLS bridging) hands
// the connection over.
func (lh *listenerHandler) serveFront(fc *frontConn) step {
	s := lh.srv
	r := &fc.req
	rt := s.gen.Load().routers[lh.name]
	if rt == nil { // the listener left the config and is shutting down
		r.Close = true
		fc.answer(func(w http.ResponseWriter) {
			lh.setHSTS(w.Header())
			writeError(w, http.StatusServiceUnavailable)
		})
		return stepClose
	}
	g, gate := rt.match(hostOnly(r.Host), r.URL.Path)
	if gate != nil || g.up == nil || g.up.rt != http.RoundTripper(s.h1) {
		return fc.handOff() // authorizers and TLS bridging are net/http's
	}
	ex := &exchange{g: g, ci: lh.tl.Identify(r), port: lh.port, start: s.clk.Now(), lh: lh, memo: &fc.memo}
	t, err := g.choose(r, ex)
	if err != nil || t == nil {
		code, n := fc.answer(func(w http.ResponseWriter) { g.noTarget(w, ex) })
		s.logAccess(r, lh.name, ex, code, n)
		return fc.after()
	}
	inflight := g.begin(ex, t)
	next, code, n := fc.proxy(g, ex)
	g.end(ex, inflight)
	s.logAccess(r, lh.name, ex, code, n)
	if next != stepNext {
		return next
	}
	return fc.after()
}

// proxy sends the front's current request to ex's target (moving to
// another when the target cannot be reached, as the retrier does) and
// relays the response. It returns what the connection does next, the
// status the client got (0: none) and the body bytes written.
func (fc *frontConn) proxy(g *group, ex *exchange) (step, int, int64) {
	r := &fc.req
	// What ReverseProxy's Rewrite does for net/http's path.
	if g.sticky.mode != "none" && g.sticky.mode != "source_ip" {
		affinity.StripCookies(r.Header, g.sticky.cookie, g.sticky.corsCookie, g.sticky.appCookie)
		if g.sticky.mode == "header" {
			r.Header.Del(g.sticky.header)
		}
	}
	// From an untrusted peer, the forwarding fields depend only on the
	// client and the Host, which rarely change on a connection.
	if ex.ci.Trusted || ex.ci != fc.fwdFor || r.Host != fc.fwdHost || len(fc.fwd) == 0 {
		clear(fc.fwd)
		fc.out.Header = fc.fwd
		setForwarded(&fc.out, r, ex.ci, ex.port)
		fc.fwdFor, fc.fwdHost = ex.ci, r.Host
	}

	pc, err := fc.roundTrip(g, ex)
	if err != nil {
		code, n := fc.answer(func(w http.ResponseWriter) { g.answerError(w, r, ex, err) })
		if ex.status == 499 {
			return stepClose, 0, 0 // nothing was written
		}
		return stepNext, code, n
	}
	return fc.relay(g, ex, pc)
}

// errClientGone is why an exchange ends when its client closes the
// connection before the target answers.
var errClientGone = fmt.Errorf("client closed the connection: %w", context.Canceled)

// roundTrip writes the request to a connection to ex.t and reads the
// response head into fc.rh. A reused connection that dies before the
// first response byte is replaced once by a new one, as h1Transport does;
// a target that cannot be reached is replaced once by another, as the
// retrier does.
func (fc *frontConn) roundTrip(g *group, ex *exchange) (*h1Conn, error) {
	tr := g.srv.h1
	r := &fc.req
	failedOver, redialed := false, false
	for {
		p := tr.pool(ex.t.address)
		var pc *h1Conn
		if !redialed {
			pc = p.get(tr)
		}
		if pc == nil {
			var err error
			if pc, err = tr.dialConn(context.Background(), p, ex.t.address); err != nil {
				if failedOver || !connectFailure(err) {
					return nil, err
				}
				failedOver, redialed = true, false
				if alt, ferr := g.failover(r, ex, err); alt == nil {
					return nil, ferr
				}
				continue
			}
		}
		err := fc.exchange(pc, ex)
		if err == nil {
			return pc, nil
		}
		pc.conn.Close()
		if err != errClientGone && pc.reused && !redialed && frontRetry(r, err) {
			p.closeOlder(tr, pc.idleAt) // idle longer than this dead one: likely dead too
			redialed = true
			continue
		}
		return nil, h1Unwrap(err)
	}
}

// frontRetry is h1ShouldRetry for the front's requests, which have no body.
func frontRetry(r *http.Request, err error) bool {
	if _, ok := err.(h1NothingWritten); ok {
		return true
	}
	_, first := err.(h1FirstByteError)
	return (first || err == errH1StaleResponse) && isReplayable(r)
}

// exchange writes the request head on pc and reads the response head,
// watching the client meanwhile.
func (fc *frontConn) exchange(pc *h1Conn, ex *exchange) error {
	start := pc.nwrite
	fc.writeRequest(pc.bw)
	if err := pc.bw.Flush(); err != nil {
		if pc.nwrite == start {
			return h1NothingWritten{err}
		}
		return fmt.Errorf("writing request: %w", err)
	}
	fc.watch.arm(pc)
	err := fc.readResponseHead(pc)
	if fc.watch.disarm() {
		return errClientGone
	}
	if err == nil && fc.rcode == http.StatusRequestTimeout && pc.reused && isReplayable(&fc.req) {
		return errH1StaleResponse // the target gave the idle connection up
	}
	return err
}

// writeRequest writes the request head for the target: the client's
// fields in their order without the hop-by-hop ones and those tether
// sets, then X-Forwarded-* and Forwarded.
func (fc *frontConn) writeRequest(bw *bufio.Writer) {
	r := &fc.req
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(r.RequestURI)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	for _, k := range fc.order {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length",
			"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "Forwarded":
			continue
		}
		if fc.connTokens != "" && hasToken(fc.connTokens, k) {
			continue
		}
		for _, v := range r.Header[k] {
			writeLine(bw, k, v)
		}
	}
	switch r.Method {
	case "POST", "PUT", "PATCH":
		bw.WriteString("Content-Length: 0\r\n") // as net/http's Transport
	}
	if te := r.Header["Te"]; len(te) > 0 && hasToken(te[0], "trailers") {
		bw.WriteString("Te: trailers\r\n") // as ReverseProxy
	}
	for _, k := range [...]string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "Forwarded"} {
		for _, v := range fc.fwd[k] {
			writeLine(bw, k, v)
		}
	}
	bw.WriteString("\r\n")
}

func writeLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// readResponseHead reads the target's response head into fc.rh, passing
// informational (1xx) responses on to the client.
func (fc *frontConn) readResponseHead(pc *h1Conn) error {
	pc.readLimit = h1MaxHeadBytes
	if _, err := pc.br.Peek(1); err != nil {
		return h1FirstByteError{err}
	}
	for informational := 0; ; informational++ {
		if informational > h1Max1xx {
			return errH1Too1xx
		}
		head, err := readHead(pc.br, fc.rhead[:0], math.MaxInt)
		fc.rhead = head
		if err != nil {
			if pc.readLimit <= 0 {
				return errH1HeadTooLarge
			}
			return fmt.Errorf("reading response: %w", err)
		}
		if err := fc.parseResponse(head); err != nil {
			return err
		}
		switch code := fc.rcode; {
		case code >= 200:
			pc.readLimit = math.MaxInt64
			return nil
		case code == http.StatusSwitchingProtocols:
			return errors.New("reading response: 101 Switching Protocols to a request without Upgrade")
		case code != http.StatusContinue:
			// A 1xx has no body: its framing fields must still parse, as
			// net/http's client requires, and do not go on.
			if _, _, err := responseFraming(fc.rh); err != nil {
				return err
			}
			fc.stripHopByHop(headerValue(fc.rh, "Connection"))
			fc.writeHead(code, false, -1, false)
			if err := fc.bw.Flush(); err != nil {
				return errClientGone
			}
		}
		pc.readLimit = h1MaxHeadBytes // each head has its own limit
	}
}

// parseResponse parses a response head into fc.rcode, fc.rh and
// fc.rorder, with net/http's rules: a status line of HTTP/1.x and three
// digits, token field names, no control bytes but tab in values, obsolete
// line folding joined with a space.
func (fc *frontConn) parseResponse(head []byte) error {
	s := string(head)
	line, rest := nextLine(s)
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
		len(line) > 12 && line[12] != ' ' {
		return fmt.Errorf("reading response: malformed status line %q", truncate(line))
	}
	code, err := strconv.Atoi(line[9:12])
	if err != nil || code < 100 {
		return fmt.Errorf("reading response: malformed status code %q", line[9:12])
	}
	fc.rcode, fc.r10, fc.rhop = code, line[7] == '0', false
	clear(fc.rh)
	fc.rorder, fc.rvals = fc.rorder[:0], fc.rvals[:0]
	last := ""
	for {
		line, rest = nextLine(rest)
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			if !fieldValueOK(line) {
				return fmt.Errorf("reading response: malformed header line %q", truncate(line))
			}
			vs := fc.rh[last]
			vs[len(vs)-1] += " " + trimOWS(line)
			continue
		}
		key, value, ok := parseField(line)
		if !ok {
			return fmt.Errorf("reading response: malformed header line %q", truncate(line))
		}
		switch key {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
			fc.rhop = true
		}
		fc.rorder, fc.rvals = addField(fc.rh, fc.rorder, fc.rvals, key, value)
		last = key
	}
	return nil
}

// nextLine splits s after its first line, which loses its CRLF or LF.
func nextLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
