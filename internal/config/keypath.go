package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3's type errors say a line, not a key: "line 4: cannot unmarshal
// !!seq into string" for `stickiness: {type: [lb_cookie]}`. withKeyPaths
// adds the key path of the value each one is about ("line 4:
// target_groups[0].stickiness.type: a list cannot be used here…"), found
// in the document's node tree by line and kind.

// keyAt is a value in the document: its key path and its kind.
type keyAt struct {
	path  string
	kind  yaml.Kind
	value string // a scalar's
}

// keysByLine indexes the values under n by the line they start on, in
// document order (so the last of a line is the deepest or the last one).
func keysByLine(n *yaml.Node, path string, out map[int][]keyAt) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			keysByLine(c, path, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[v.Line] = append(out[v.Line], keyAt{p, v.Kind, v.Value})
			keysByLine(v, p, out)
		}
	case yaml.SequenceNode:
		for j, v := range n.Content {
			p := path + "[" + strconv.Itoa(j) + "]"
			out[v.Line] = append(out[v.Line], keyAt{p, v.Kind, v.Value})
			keysByLine(v, p, out)
		}
	}
}

var lineMsgRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// withKeyPaths rewrites the friendly messages msgs of data's type errors
// to name the key each is about, when the line holds one value of the
// kind the message says came: a list, a mapping, or else a scalar.
func withKeyPaths(data []byte, msgs []string) []string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return msgs
	}
	byLine := map[int][]keyAt{}
	keysByLine(&doc, "", byLine)
	out := make([]string, len(msgs))
	for i, msg := range msgs {
		out[i] = msg
		m := lineMsgRE.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		kind := yaml.ScalarNode
		switch {
		case strings.HasPrefix(m[2], "a list "):
			kind = yaml.SequenceNode
		case strings.HasPrefix(m[2], "a mapping "):
			kind = yaml.MappingNode
		}
		// A scalar's message quotes it: on a line of several scalars
		// ({id: a, weight: abc}), the one with that value is meant.
		value, quoted := quotedValue(m[2])
		var found []string
		for _, k := range byLine[line] {
			if k.kind == kind && (!quoted || sameValue(k.value, value)) {
				found = append(found, k.path)
			}
		}
		if len(found) == 1 || len(found) > 1 && kind != yaml.ScalarNode {
			out[i] = fmt.Sprintf("line %d: %s: %s", line, found[len(found)-1], m[2])
		}
	}
	return out
}

var quotedValueRE = regexp.MustCompile(`^("(?:[^"\\]|\\.)*") \(a `)

// quotedValue returns the value a scalar's message starts with (`"abc" (a
// string) cannot be used here`), and whether it has one.
func quotedValue(msg string) (string, bool) {
	m := quotedValueRE.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	v, err := strconv.Unquote(m[1])
	return v, err == nil
}

// sameValue reports whether a scalar's value v is the one a message
// quotes as q, which yaml.v3 cuts to 7 bytes and "..." past 10.
func sameValue(v, q string) bool {
	if len(q) == 10 && strings.HasSuffix(q, "...") {
		return len(v) > 10 && strings.HasPrefix(v, q[:7])
	}
	return v == q
}

// nodeKind names n's kind as the messages do: list or mapping.
func nodeKind(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		return "list"
	}
	return "mapping"
}
