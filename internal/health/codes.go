package health

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	minCode = 100
	maxCode = 599
)

// Codes is a set of HTTP status codes, parsed by [ParseCodes] from a list
// such as "200", "200-399" or "200,204,300-302". The zero Codes matches
// nothing. Codes is a small comparable value; it is safe to copy and to use
// from several goroutines.
type Codes struct {
	// bits holds one bit per status code from minCode to maxCode.
	bits [(maxCode - minCode + 64) / 64]uint64
}

// ParseCodes parses a comma-separated list of status codes and inclusive
// ranges lo-hi, such as "200,204,300-302". Codes must lie within 100..599
// and each range must have lo <= hi. Spaces around parts are ignored. The
// error names the part that is wrong.
func ParseCodes(s string) (Codes, error) {
	var c Codes
	if strings.TrimSpace(s) == "" {
		return c, fmt.Errorf("parse success codes: empty list; want codes or ranges like \"200\" or \"200-399\"")
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, err := parseRange(part)
		if err != nil {
			return Codes{}, fmt.Errorf("parse success codes %q: part %q: %w", s, part, err)
		}
		for code := lo; code <= hi; code++ {
			c.set(code)
		}
	}
	return c, nil
}

// parseRange parses "N" or "N-M".
func parseRange(part string) (lo, hi int, err error) {
	if part == "" {
		return 0, 0, fmt.Errorf("empty; want a code like \"200\" or a range like \"200-399\"")
	}
	loText, hiText, isRange := strings.Cut(part, "-")
	if lo, err = parseCode(loText); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseCode(hiText); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("range is reversed; want lo-hi with lo <= hi")
	}
	return lo, hi, nil
}

// parseCode parses one status code in minCode..maxCode.
func parseCode(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 3 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("%q is not a status code; want a number in %d..%d", s, minCode, maxCode)
	}
	n, _ := strconv.Atoi(s) // s is one to three digits
	if n < minCode || n > maxCode {
		return 0, fmt.Errorf("%d is out of range; want %d..%d", n, minCode, maxCode)
	}
	return n, nil
}

// Match reports whether code is in c.
func (c Codes) Match(code int) bool {
	if code < minCode || code > maxCode {
		return false
	}
	i := code - minCode
	return c.bits[i/64]&(1<<(i%64)) != 0
}

func (c *Codes) set(code int) {
	i := code - minCode
	c.bits[i/64] |= 1 << (i % 64)
}

// String returns c in the canonical form ParseCodes accepts: ascending,
// with runs of adjacent codes written as ranges, such as "200-299,304". The
// zero Codes returns "".
func (c Codes) String() string {
	var b strings.Builder
	for code := minCode; code <= maxCode; code++ {
		if !c.Match(code) {
			continue
		}
		lo := code
		for code < maxCode && c.Match(code+1) {
			code++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(lo))
		if code > lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(code))
		}
	}
	return b.String()
}

// MarshalText implements [encoding.TextMarshaler] with the form String
// returns.
func (c Codes) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with ParseCodes, so a
// configuration decoder can read Codes from a string such as "200-399".
func (c *Codes) UnmarshalText(text []byte) error {
	parsed, err := ParseCodes(string(text))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}
