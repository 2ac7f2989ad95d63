package httpcache

import (
	"reflect"
	"testing"
)

func TestParseSFDictionary(t *testing.T) {
	tests := []struct {
		in   string
		want []sfMember
	}{
		{"a=1, b", []sfMember{{"a", sfItem{val: int64(1)}}, {"b", sfItem{val: true}}}},
		{"  a=1  ,\tb=?0  ", []sfMember{{"a", sfItem{val: int64(1)}}, {"b", sfItem{val: false}}}},
		{`a="x\"y\\z"`, []sfMember{{"a", sfItem{val: `x"y\z`}}}},
		{"a=tok/en:1", []sfMember{{"a", sfItem{val: sfToken("tok/en:1")}}}},
		{"a=-1.25", []sfMember{{"a", sfItem{val: sfDecimal(-1.25)}}}},
		{"a=:aGVsbG8=:", []sfMember{{"a", sfItem{val: []byte("hello")}}}},
		{"a=:aGVsbG8:", []sfMember{{"a", sfItem{val: []byte("hello")}}}},
		{"a=@1659578233", []sfMember{{"a", sfItem{val: sfDate(1659578233)}}}},
		{`a=%"caf%c3%a9"`, []sfMember{{"a", sfItem{val: sfDisplay("café")}}}},
		{"a=(1 2);p, b;q=x", []sfMember{
			{"a", sfInner{items: []sfItem{{val: int64(1)}, {val: int64(2)}}, params: []sfParam{{"p", true}}}},
			{"b", sfItem{val: true, params: []sfParam{{"q", sfToken("x")}}}}}},
		{"a=(), *b", []sfMember{{"a", sfInner{}}, {"*b", sfItem{val: true}}}},
		{"a=1, b=2, a=3", []sfMember{{"a", sfItem{val: int64(3)}}, {"b", sfItem{val: int64(2)}}}},
		{"a=1;x;x=2", []sfMember{{"a", sfItem{val: int64(1), params: []sfParam{{"x", int64(2)}}}}}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := parseSFDictionary(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseSFDictionary(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"A=1", "a=1,", "a=1 b=2", ",a", "a=", "a=1.", "a=1.2345", "a=1234567890123.1", "a=1234567890123456",
		`a="x`, `a="\x"`, "a=\"\x01\"", "a=?2", "a=:@@:", "a=:abc", "a=(1,2)", "a=(1", `a=%"%C3%A9"`, `a=%"%ff"`,
		"a=@1.5", "a;=1", "a=1;B", "a=-", "a=é", "a=1,\t",
	} {
		if got, err := parseSFDictionary(bad); err == nil {
			t.Errorf("parseSFDictionary(%q) = %#v, want an error", bad, got)
		}
	}
}

func TestParseSFList(t *testing.T) {
	got, err := parseSFList(`up; hit, edge; fwd=uri-miss; fwd-status=200; stored=?0; ttl=-4; detail="x y"`)
	want := []any{
		sfItem{val: sfToken("up"), params: []sfParam{{"hit", true}}},
		sfItem{val: sfToken("edge"), params: []sfParam{{"fwd", sfToken("uri-miss")}, {"fwd-status", int64(200)},
			{"stored", false}, {"ttl", int64(-4)}, {"detail", "x y"}}},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseSFList = %#v, %v", got, err)
	}
	if _, err := parseSFList("a, , b"); err == nil {
		t.Error("an empty list member parsed")
	}
}
