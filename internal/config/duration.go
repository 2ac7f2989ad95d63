package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as a Go duration string
// ("30s", "5m", "24h"). A bare 0 is accepted as zero.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as a Go duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration. A bad value is reported as a
// *yaml.TypeError so that decoding goes on and every problem is listed.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "0" {
			*d = 0
			return nil
		}
		if v, err := time.ParseDuration(n.Value); err == nil {
			*d = Duration(v)
			return nil
		}
	}
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: a %s cannot be used here: expected a duration, such as 500ms, 30s, 5m or 24h", n.Line, nodeKind(n))}}
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(
		"line %d: %q is not a duration: write a number with a unit, such as 500ms, 30s, 5m or 24h", n.Line, n.Value)}}
}

// MarshalYAML writes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
