// Package jsonstrict refuses the JSON request bodies that encoding/json
// decodes without a word but that mean something else to another reader:
// a field given twice (encoding/json keeps the last; a proxy or a log
// reader may see the first) and a field spelt in another case
// ("Username" fills username).
//
// Decode reads a request body with these checks, unknown fields refused
// and nothing after the object; Fields is the check alone.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// ErrTrailing is Decode's error for a body with more after its object.
var ErrTrailing = errors.New("data after the JSON object")

// FieldError is Fields' error: a member given twice or spelt in another
// case. Its message quotes the member's name, never its value.
type FieldError struct{ msg string }

func (e *FieldError) Error() string { return e.msg }

// Decode decodes the JSON object in body into the struct v points to:
// Fields' checks first (a *FieldError), then encoding/json's with unknown
// fields refused (its error as it is), then ErrTrailing when anything but
// white space follows the object.
func Decode(body []byte, v any) error {
	if err := Fields(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrTrailing
	}
	return nil
}

// Fields checks the members of the JSON object in body against the fields
// of the struct v points to, named as encoding/json names them (their
// json tags, else their Go names). It returns an error naming the first
// member that is given twice, or that matches a field only when letter
// case is ignored. Members that match no field at all, and a body that is
// not a JSON object, are left to the decoder, which says what is wrong.
// The error is a *FieldError.
func Fields(body []byte, v any) error {
	names := fieldNames(reflect.TypeOf(v))
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		if seen[k] {
			return &FieldError{fmt.Sprintf("field %q is given twice", k)}
		}
		seen[k] = true
		if !names[k] {
			for n := range names {
				if strings.EqualFold(n, k) {
					return &FieldError{fmt.Sprintf("field %q is spelt %q here (names are case-sensitive)", n, k)}
				}
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// fieldNames returns the JSON names of the fields of the struct t is (or
// points to); none for another type.
func fieldNames(t reflect.Type) map[string]bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t == nil || t.Kind() != reflect.Struct {
		return names
	}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}
