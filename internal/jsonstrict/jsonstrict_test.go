package jsonstrict

import (
	"encoding/json"
	"strings"
	"testing"
)

type login struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Plain    string
	Skipped  string `json:"-"`
	hidden   string
}

func TestFields(t *testing.T) {
	tests := []struct {
		body string
		want string // a fragment of the error; "" for none
	}{
		{`{"username":"a","password":"b"}`, ""},
		{`{"username":"a","Plain":"x"}`, ""},
		{`{"username":"a","username":"b"}`, `field "username" is given twice`},
		{`{"username":"a","password":{"x":1,"x":2},"password":"c"}`, `field "password" is given twice`},
		{`{"Username":"a"}`, `field "username" is spelt "Username" here`},
		{`{"PASSWORD":"a"}`, `field "password" is spelt "PASSWORD"`},
		{`{"plain":"x"}`, `field "Plain" is spelt "plain"`},
		{`{"other":1}`, ""},         // unknown: the decoder's to refuse
		{`{"skipped":1}`, ""},       // no such JSON field: the decoder's
		{`["username"]`, ""},        // not an object: the decoder's
		{`{"username":`, ""},        // truncated: the decoder's
		{``, ""},                    // empty: the decoder's
		{`{"username":"a"} {}`, ""}, // trailing data: the caller's
	}
	for _, tt := range tests {
		err := Fields([]byte(tt.body), &login{})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tt.body, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.body, err, tt.want)
		}
	}
	// What Fields refuses is what encoding/json would take in silence.
	var l login
	if err := json.Unmarshal([]byte(`{"Username":"a","username":"b"}`), &l); err != nil || l.Username != "b" {
		t.Fatalf("encoding/json changed: %v %+v", err, l)
	}
}

// FuzzFields: Fields reads hostile bodies without panicking, and an error
// is always about a member of a JSON object the body opens with.
func FuzzFields(f *testing.F) {
	for _, s := range []string{`{"username":"a","password":"b"}`, `{"username":1,"username":2}`, `{"USERNAME":[{}]}`, `{`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := Fields(body, &login{}); err != nil && !strings.HasPrefix(strings.TrimLeft(string(body), " \t\r\n"), "{") {
			t.Fatalf("%q: %v, for a body that is not an object", body, err)
		}
	})
}
