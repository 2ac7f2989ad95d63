package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tetherlb/tether/internal/config"
)

// maxExportSize bounds one export file, and maxExportsSize all of them
// together: a folder of many large files is refused before it fills the
// memory.
const (
	maxExportSize  = 16 << 20
	maxExportsSize = 64 << 20
)

// NamedExport is an export with the name of the file it came from.
type NamedExport struct {
	// Name is the file's base name, such as distribution.json.
	Name string
	*Export
}

// LoadAWS reads every *.json file in dir (the name taken as it is, not
// as a pattern; the extension in any case), recognises each by its
// content and builds the model. An unreadable or unrecognised file, a
// policy that is neither managed nor exported, and an ambiguous pairing
// are errors, all reported at once.
func LoadAWS(dir string) (*Model, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("reading exports: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("reading exports: %s is not a directory: --aws takes the folder that holds the exported *.json files", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading exports: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if strings.EqualFold(filepath.Ext(e.Name()), ".json") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("reading exports: %s holds no *.json file (export one with: aws cloudfront get-distribution-config --id ID > %s)",
			dir, filepath.Join(dir, "distribution.json"))
	}
	var files []NamedExport
	var errs []error
	unknown, total := 0, int64(0)
	for _, p := range paths {
		x, size, err := readExport(p)
		total += size
		if total > maxExportsSize {
			errs = append(errs, fmt.Errorf("reading exports: the *.json files of %s hold more than %d MiB; keep only the exports of one site there", dir, maxExportsSize>>20))
			break
		}
		switch {
		case errors.Is(err, ErrUnknownExport):
			unknown++
			if unknown > 1 {
				errs = append(errs, fmt.Errorf("%s: %w", p, ErrUnknownExport))
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w; doctor reads the JSON printed by: %s", p, err, strings.Join(ExportKinds(), ", ")))
		case err != nil:
			errs = append(errs, err)
		default:
			files = append(files, NamedExport{Name: filepath.Base(p), Export: x})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return FromExports(dir, files)
}

// readExport reads and recognises one export file; it returns the bytes
// read too, for the total budget. The error of an unrecognised file wraps
// ErrUnknownExport.
func readExport(path string) (*Export, int64, error) {
	data, err := config.ReadFile(path, maxExportSize)
	if err != nil {
		return nil, int64(len(data)), fmt.Errorf("reading export: %w", err)
	}
	x, err := Recognise(data)
	if errors.Is(err, ErrUnknownExport) {
		return nil, int64(len(data)), err
	}
	if err != nil {
		return nil, int64(len(data)), fmt.Errorf("%s: %w", path, err)
	}
	return x, int64(len(data)), nil
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
	var errs []error
	// A policy Id exported twice would leave doctor to pick one copy by
	// file order, and the two may differ: refuse it, as for target groups.
	policyFiles := map[string]string{} // kind and Id → the file it came from
	twice := func(kind, id, file string) bool {
		k := kind + " " + id
		prev, dup := policyFiles[k]
		if dup {
			errs = append(errs, fmt.Errorf("%s %s is in %s and in %s; keep one export of each policy", kind, id, prev, file))
		}
		policyFiles[k] = file
		return dup
	}
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
			if !twice("cache policy", p.Id, f.Name) {
				ld.cache[p.Id] = cachePolicyOf(p)
			}
		}
		for _, p := range f.OriginRequestPolicies {
			if !twice("origin request policy", p.Id, f.Name) {
				ld.orp[p.Id] = originRequestPolicyOf(p)
			}
		}
	}
	if len(ld.dists) == 0 {
		return nil, fmt.Errorf("reading exports: %s holds no distribution config (export one with: aws cloudfront get-distribution-config --id ID)", source)
	}
	origins := ld.origins()
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
