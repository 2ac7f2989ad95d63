package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the config file; a larger file is refused before
// parsing.
const MaxFileSize = 4 << 20

// Load reads the YAML file at path, decodes it strictly, fills defaults and
// validates it. The error, when not nil, joins one error per problem (see
// Problems), each naming the key, the bad value and what is allowed.
func Load(path string) (*Config, error) {
	data, err := ReadFile(path, MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, dir)
}

// ReadFile reads the regular file at path, of at most limit bytes. A FIFO,
// a device or a directory is refused before it is opened (opening a FIFO
// would wait for a writer, and reading a device may never end), as is a
// larger file, unread past limit.
func ReadFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (it is a %s)", path, fileKind(fi.Mode()))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes (%d MiB)", path, limit, limit>>20)
	}
	return data, nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// Parse decodes, defaults and validates a config held in memory. dir is the
// directory that relative paths are resolved against.
func Parse(data []byte, dir string) (*Config, error) {
	c, decodeErr := Decode(data)
	if c == nil {
		return nil, decodeErr
	}
	c.Dir = dir
	c.SetDefaults()
	// Validate what could be decoded even when some keys were wrong, so
	// that every problem is reported in one run.
	if err := errors.Join(decodeErr, c.Validate()); err != nil {
		return nil, err
	}
	return c, nil
}

// Decode decodes YAML strictly: an unknown key, a wrong type or a bad
// duration is an error, and every such problem is reported, not just the
// first. When the YAML parses but some keys are wrong, it returns both the
// partly decoded config (the wrong keys left unset) and the error, so that
// the caller can validate the rest; on a syntax error the config is nil.
// It does not fill defaults or validate.
func Decode(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("config is empty: it needs at least listeners and target_groups (see docs/configuration.md)")
	}
	if err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, msg := range te.Errors {
				msgs[i] = friendlyYAMLError(msg)
			}
			errs := make([]error, 0, len(msgs))
			for _, msg := range withKeyPaths(data, msgs) {
				errs = append(errs, errors.New(msg))
			}
			return &c, errors.Join(errs...)
		}
		return nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config holds more than one YAML document; keep one")
	}
	return &c, nil
}

// File resolves path, a file the config names, against the directory of
// the config file (Dir), as every relative path of the config is.
func (c *Config) File(path string) string { return Resolve(c.Dir, path) }

// Resolve resolves path, a file a config names, against dir, the
// directory of the config file; an absolute or empty path, or an empty
// dir, leaves it as it is.
func Resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// Problems splits an error from Load, Parse, Decode or Validate into its
// problems, one per line of output.
func Problems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

var (
	unknownFieldRE  = regexp.MustCompile(`^line (\d+): field (\S+) not found in type config\.(\w+)$`)
	unmarshalRE     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	unmarshalNodeRE = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(seq|map) into (\S+)$`)
)

// friendlyYAMLError rewrites yaml.v3's messages into the project's form:
// what key, what value, what is allowed.
func friendlyYAMLError(msg string) string {
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		allowed := yamlKeys(m[3])
		hint := ""
		if s := closest(m[2], allowed); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		return fmt.Sprintf("line %s: unknown key %q in %s (allowed: %s)%s",
			m[1], m[2], sectionName(m[3]), strings.Join(allowed, ", "), hint)
	}
	if m := unmarshalRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: %q (a %s) cannot be used here: expected %s", m[1], m[3], yamlKind(m[2]), expected(m[4]))
	}
	if m := unmarshalNodeRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: a %s cannot be used here: expected %s", m[1], yamlKind(m[2]), expected(m[3]))
	}
	return msg
}

// expected says in words what Go type typ (as yaml.v3 names it) wants.
func expected(typ string) string {
	want := strings.TrimPrefix(typ, "config.")
	switch {
	case strings.HasPrefix(want, "[]"):
		return "a list"
	case strings.HasPrefix(want, "map["):
		return "a mapping"
	case want == "int" || want == "int64" || want == "float64":
		return "a number"
	case want == "bool":
		return "true or false"
	case want == "string" || want == "Duration" || want == "Size":
		return "a string"
	default:
		return "a mapping of keys (" + sectionName(want) + ")"
	}
}

func yamlKind(tag string) string {
	switch tag {
	case "seq":
		return "list"
	case "map":
		return "mapping"
	case "str":
		return "string"
	case "int", "float":
		return "number"
	default:
		return tag
	}
}

// configTypes maps the name of every struct type a config file is read
// into (as yaml.v3 reports it) to the type and the YAML key it is first
// reached by, walking the types from Config.
var configTypes = sync.OnceValue(func() map[string]configType {
	types := map[string]configType{}
	var walk func(t reflect.Type, key string)
	walk = func(t reflect.Type, key string) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[Config]().PkgPath() {
			return
		}
		if _, seen := types[t.Name()]; seen {
			return
		}
		types[t.Name()] = configType{t, key}
		for i := 0; i < t.NumField(); i++ {
			if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				walk(t.Field(i).Type, tag)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return types
})

type configType struct {
	t   reflect.Type
	key string // the YAML key it is first reached by
}

// yamlKeys lists the YAML keys of config type name, sorted.
func yamlKeys(name string) []string {
	ct, ok := configTypes()[name]
	if !ok {
		return nil
	}
	t := ct.t
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

func sectionName(typeName string) string {
	names := map[string]string{
		"Config": "the top level", "Admin": "admin", "Keys": "keys", "Log": "log",
		"Listener": "a listener", "TLS": "tls", "Rule": "a rule", "TargetGroup": "a target group",
		"Target": "a target", "HealthCheck": "health_check", "Stickiness": "stickiness",
		"CertFiles": "a certificate", "HSTS": "hsts", "UpstreamTLS": "a target group's tls",
	}
	if n, ok := names[typeName]; ok {
		return n
	}
	if ct, ok := configTypes()[typeName]; ok && ct.key != "" {
		return ct.key
	}
	return typeName
}

// closest returns the allowed key nearest to s by edit distance, or "" when
// none is near enough to be a likely typo.
func closest(s string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(s, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
