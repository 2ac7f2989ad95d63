package doctor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxExportSize bounds one export file.
const maxExportSize = 16 << 20

// NamedExport is an export with the name of the file it came from.
type NamedExport struct {
	// Name is the file's base name, such as distribution.json.
	Name string
	*Export
}

// LoadAWS reads every *.json file in dir, recognises each by its content
// and builds the model. An unreadable or unrecognised file, a policy that
// is neither managed nor exported, and an ambiguous pairing are errors,
// all reported at once.
func LoadAWS(dir string) (*Model, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(paths) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("reading exports: %w", err)
		}
		return nil, fmt.Errorf("reading exports: %s holds no *.json file (export one with: aws cloudfront get-distribution-config --id ID > %s)",
			dir, filepath.Join(dir, "distribution.json"))
	}
	var files []NamedExport
	var errs []error
	for _, p := range paths {
		x, err := readExport(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, NamedExport{Name: filepath.Base(p), Export: x})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return FromExports(dir, files)
}

func readExport(path string) (*Export, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading export: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxExportSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading export: %w", err)
	}
	if len(data) > maxExportSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxExportSize)
	}
	x, err := Recognise(data)
	if errors.Is(err, ErrUnknownExport) {
		return nil, fmt.Errorf("%s: %w; doctor reads the JSON printed by: %s", path, err, strings.Join(ExportKinds(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// FromExports builds the model from recognised exports. Policies pair
// with behaviors by Id (managed policies need no file). Target group
// attributes and listener rules pair with origins by file name: a file
// named ORIGIN-ID.json or ORIGIN-ID.anything.json belongs to the origin
// with that Id (the longest Id wins); failing that, when there is exactly
// one such file of a kind left, it belongs to every origin whose DomainName
// ends in .elb.amazonaws.com.
func FromExports(source string, files []NamedExport) (*Model, error) {
	m := &Model{Source: source, Kind: KindAWS}
	ld := loader{cache: map[string]CachePolicy{}, orp: map[string]OriginRequestPolicy{}}
	var tgs, rules []NamedExport
	for _, f := range files {
		switch {
		case f.Distribution != nil:
			ld.dists = append(ld.dists, f)
		case f.Attributes != nil:
			tgs = append(tgs, f)
		case f.Rules != nil:
			rules = append(rules, f)
		}
		for _, p := range f.CachePolicies {
			ld.cache[p.Id] = cachePolicyOf(p)
		}
		for _, p := range f.OriginRequestPolicies {
			ld.orp[p.Id] = originRequestPolicyOf(p)
		}
	}
	if len(ld.dists) == 0 {
		return nil, fmt.Errorf("reading exports: %s holds no distribution config (export one with: aws cloudfront get-distribution-config --id ID)", source)
	}
	origins := ld.origins()
	var errs []error
	var err error
	if ld.tgs, err = pair(tgs, origins, m); err != nil {
		errs = append(errs, err)
	}
	if ld.rules, err = pair(rules, origins, m); err != nil {
		errs = append(errs, err)
	}
	for _, f := range ld.dists {
		d, err := ld.distribution(f)
		errs = append(errs, err)
		m.Distributions = append(m.Distributions, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, o := range origins {
		if o.lb && ld.tgs[o.id].Export == nil {
			m.Unpaired = append(m.Unpaired, Note{Subject: o.dist + " origin " + o.id,
				Text: fmt.Sprintf("origin %s (%s) looks like a load balancer; no target group attributes pair with it", o.id, o.domain)})
		}
	}
	return m, nil
}

// originRef is one origin of one distribution, for pairing.
type originRef struct {
	dist, id, domain string
	lb               bool
}

func (ld *loader) origins() []originRef {
	var out []originRef
	for _, f := range ld.dists {
		for _, o := range f.Distribution.Origins.Items {
			out = append(out, originRef{dist: f.Name, id: o.Id, domain: o.DomainName, lb: looksLikeELB(o.DomainName)})
		}
	}
	return out
}

func looksLikeELB(domain string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSuffix(domain, ".")), ".elb.amazonaws.com")
}

// pair assigns files of one kind to origin Ids, as FromExports describes.
// Files that pair with nothing are noted in m.Unused.
func pair(files []NamedExport, origins []originRef, m *Model) (map[string]NamedExport, error) {
	out := map[string]NamedExport{}
	var rest []NamedExport
	for _, f := range files {
		stem := strings.TrimSuffix(f.Name, ".json")
		best := ""
		for _, o := range origins {
			if (stem == o.id || strings.HasPrefix(stem, o.id+".")) && len(o.id) > len(best) {
				best = o.id
			}
		}
		if best == "" {
			rest = append(rest, f)
			continue
		}
		if prev, dup := out[best]; dup {
			return nil, fmt.Errorf("%s and %s both pair with origin %s; keep one", prev.Name, f.Name, best)
		}
		out[best] = f
	}
	var lbs []string
	for _, o := range origins {
		if _, done := out[o.id]; o.lb && !done && !slices.Contains(lbs, o.id) {
			lbs = append(lbs, o.id)
		}
	}
	switch {
	case len(rest) == 1 && len(lbs) > 0:
		for _, id := range lbs {
			out[id] = rest[0]
		}
		return out, nil
	case len(rest) > 1 && len(lbs) > 0:
		var names []string
		for _, f := range rest {
			names = append(names, f.Name)
		}
		return nil, fmt.Errorf("%s (%s) cannot be paired with origins %s: name each file after its origin's Id (ORIGIN-ID.json)",
			strings.Join(names, ", "), rest[0].Kind, strings.Join(lbs, ", "))
	}
	for _, f := range rest {
		m.Unused = append(m.Unused, Note{Subject: f.Name,
			Text: fmt.Sprintf("%s output pairs with no origin: no origin Id matches the file name and no unpaired origin ends in .elb.amazonaws.com", f.Kind)})
	}
	return out, nil
}
