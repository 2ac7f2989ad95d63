package httpcache

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetherlb/tether/internal/httpsyntax"
)

// This file parses Structured Field Values (RFC 9651 §4.2): Dictionaries
// for CDN-Cache-Control, Lists to check the Cache-Status encoder. Bare
// items are Go values: int64 (Integer), sfDecimal, string (String),
// sfToken, []byte (Byte Sequence), bool, sfDate and sfDisplay.

type (
	sfToken   string
	sfDecimal float64
	sfDate    int64
	sfDisplay string
)

// sfParam is one parameter of an item or inner list.
type sfParam struct {
	key string
	val any
}

// sfItem is a bare item with its parameters.
type sfItem struct {
	val    any
	params []sfParam
}

// sfInner is an inner list with its parameters.
type sfInner struct {
	items  []sfItem
	params []sfParam
}

// sfMember is a Dictionary member: key and an sfItem or sfInner.
type sfMember struct {
	key string
	val any
}

var errSF = errors.New("invalid structured field")

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipSP() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// parseSFDictionary parses a Dictionary field value (§4.2.2). A repeated
// key keeps its first position and takes its last value.
func parseSFDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var dict []sfMember
	for !p.eof() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var val any
		if p.peek() == '=' {
			p.i++
			if val, err = p.itemOrInner(); err != nil {
				return nil, err
			}
		} else {
			params, err := p.params()
			if err != nil {
				return nil, err
			}
			val = sfItem{val: true, params: params}
		}
		if i := indexMember(dict, key); i >= 0 {
			dict[i].val = val
		} else {
			dict = append(dict, sfMember{key, val})
		}
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return dict, nil
}

func indexMember(dict []sfMember, key string) int {
	for i, m := range dict {
		if m.key == key {
			return i
		}
	}
	return -1
}

// parseSFList parses a List field value (§4.2.1): sfItem and sfInner
// members.
func parseSFList(s string) ([]any, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var list []any
	for !p.eof() {
		m, err := p.itemOrInner()
		if err != nil {
			return nil, err
		}
		list = append(list, m)
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// nextMember consumes the separator after a List or Dictionary member:
// OWS, then the end, or a comma, OWS and another member.
func (p *sfParser) nextMember() error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if p.s[p.i] != ',' {
		return errSF
	}
	p.i++
	p.skipOWS()
	if p.eof() {
		return errSF // trailing comma
	}
	return nil
}

func (p *sfParser) itemOrInner() (any, error) {
	if p.peek() == '(' {
		return p.innerList()
	}
	return p.item()
}

func (p *sfParser) item() (sfItem, error) {
	v, err := p.bareItem()
	if err != nil {
		return sfItem{}, err
	}
	params, err := p.params()
	return sfItem{v, params}, err
}

// innerList parses "(" *SP [ item *( 1*SP item ) *SP ] ")" parameters.
func (p *sfParser) innerList() (sfInner, error) {
	p.i++ // (
	var in sfInner
	for {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			params, err := p.params()
			in.params = params
			return in, err
		}
		it, err := p.item()
		if err != nil {
			return in, err
		}
		in.items = append(in.items, it)
		if c := p.peek(); c != ' ' && c != ')' {
			return in, errSF
		}
	}
}

func (p *sfParser) params() ([]sfParam, error) {
	var params []sfParam
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var val any = true
		if p.peek() == '=' {
			p.i++
			if val, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range params {
			if params[j].key == key {
				params[j].val, replaced = val, true
			}
		}
		if !replaced {
			params = append(params, sfParam{key, val})
		}
	}
	return params, nil
}

// key parses ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z' || c == '*') {
		return "", errSF
	}
	for p.i++; !p.eof(); p.i++ {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			break
		}
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) bareItem() (any, error) {
	switch c := p.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return p.token(), nil
	case c == ':':
		return p.bytes()
	case c == '?':
		return p.boolean()
	case c == '@':
		p.i++
		n, err := p.number()
		if i, ok := n.(int64); err == nil && ok {
			return sfDate(i), nil
		}
		return nil, errSF
	case c == '%':
		return p.displayString()
	}
	return nil, errSF
}

// number parses an Integer or a Decimal (§4.2.4).
func (p *sfParser) number() (any, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits, dot := 0, -1
	for ; !p.eof(); p.i++ {
		c := p.s[p.i]
		if c == '.' && dot < 0 && digits > 0 && digits <= 12 {
			dot = digits
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		digits++
	}
	num := p.s[start:p.i]
	switch {
	case digits == 0:
		return nil, errSF
	case dot < 0:
		if digits > 15 {
			return nil, errSF
		}
		n, err := strconv.ParseInt(num, 10, 64)
		return n, err
	case digits == dot || digits-dot > 3:
		return nil, errSF
	}
	f, err := strconv.ParseFloat(num, 64)
	return sfDecimal(f), err
}

func (p *sfParser) str() (string, error) {
	p.i++ // "
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return "", errSF
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errSF
		default:
			b.WriteByte(c)
		}
	}
	return "", errSF
}

// token parses ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func (p *sfParser) token() sfToken {
	start := p.i
	for p.i++; !p.eof() && (httpsyntax.IsTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/'); p.i++ {
	}
	return sfToken(p.s[start:p.i])
}

func (p *sfParser) bytes() ([]byte, error) {
	p.i++ // :
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return nil, errSF
	}
	enc := p.s[p.i : p.i+end]
	p.i += end + 1
	for i := 0; i < len(enc); i++ {
		if c := enc[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, errSF
		}
	}
	// Padding is optional on input (§4.2.7).
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return nil, errSF
	}
	return b, nil
}

func (p *sfParser) boolean() (bool, error) {
	p.i++ // ?
	switch p.peek() {
	case '1':
		p.i++
		return true, nil
	case '0':
		p.i++
		return false, nil
	}
	return false, errSF
}

// displayString parses %"…" with %xx escapes of UTF-8 bytes (RFC 9651
// §4.2.10).
func (p *sfParser) displayString() (sfDisplay, error) {
	if !strings.HasPrefix(p.s[p.i:], `%"`) {
		return "", errSF
	}
	p.i += 2
	var b []byte
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '%':
			if p.i+2 > len(p.s) {
				return "", errSF
			}
			v, err := strconv.ParseUint(p.s[p.i:p.i+2], 16, 8)
			if err != nil || strings.ToLower(p.s[p.i:p.i+2]) != p.s[p.i:p.i+2] {
				return "", errSF
			}
			b = append(b, byte(v))
			p.i += 2
		case c == '"':
			if !utf8.Valid(b) {
				return "", errSF
			}
			return sfDisplay(b), nil
		case c < 0x20 || c > 0x7e:
			return "", errSF
		default:
			b = append(b, c)
		}
	}
	return "", errSF
}
