package doctor

import (
	"fmt"
	"slices"
	"strings"
)

func pathRules() []Rule {
	return []Rule{{
		ID: "CF-PATH-001", Severity: SevWarn,
		Title:     "behavior shadowed by an earlier pattern",
		Why:       "The first matching behavior wins: an earlier pattern takes every request of this one, or the static-looking URLs of a sensitive path, so this behavior's policies do not apply there.",
		Fix:       "Reorder the cache behaviors: specific prefixes before extension patterns and broad ones.",
		TetherFix: "Reorder the edge's behaviors: specific prefixes before extension patterns and broad ones.",
		Refs:      []string{refPathPattern},
		check:     eachBehavior(shadowed),
	}, {
		ID: "CF-PATH-002", Severity: SevWarn,
		Title:     "extension pattern on a dynamic origin",
		Why:       "An extension pattern caches whatever the dynamic origin answers for /account/x.css: web cache deception, since the CDN never checks the content type.",
		Fix:       "Serve static assets from a dedicated prefix or origin, make the origin answer 404 to unknown suffixes, and keep MinTTL 0.",
		TetherFix: "Set static_content_types on the behavior (safe mode then stores only those types), or serve assets from a dedicated prefix.",
		Refs:      []string{refDeception},
		check:     eachBehavior(deception),
	}, {
		ID: "CF-PATH-003", Severity: SevInfo,
		Title:     "lower-case extension pattern only",
		Why:       "Path patterns are case-sensitive: *.jpg does not match LOGO.JPG, which falls through to a later behavior.",
		Fix:       "Add the upper-case variant (*.JPG) or normalise file names.",
		TetherFix: "Add a behavior for the upper-case variant (*.JPG) or normalise file names.",
		Refs:      []string{refPathPattern},
		check:     eachBehavior(lowercaseOnly),
	}}
}

func shadowed(d *Distribution, b *Behavior) (string, bool) {
	if b.Default {
		return "", false
	}
	for _, e := range d.Behaviors[:b.Index] {
		if covers(e.Path, b.Path) {
			return fmt.Sprintf("%s %s matches every path %s matches, and comes first", e.Ref, e.Path, b.Path), true
		}
	}
	if s := sensitivePrefix(b.Path); s != "" {
		for _, e := range d.Behaviors[:b.Index] {
			if extensionOnly(e.Path) {
				ext, _ := extension(e.Path)
				return fmt.Sprintf("%s %s comes first, so %s/x.%s goes to it and not to %s",
					e.Ref, e.Path, s, ext, b.Path), true
			}
		}
	}
	return "", false
}

func deception(d *Distribution, b *Behavior) (string, bool) {
	if !staticExtension(b.Path) || !b.caching() || b.Origin == nil || !b.Origin.Dynamic {
		return "", false
	}
	if d.Safe() && len(b.StaticContentTypes) > 0 {
		return "", false
	}
	return fmt.Sprintf("%s caches (%s) from dynamic origin %s", b.Path, ttlEvidence(b), b.Origin.ID), true
}

func lowercaseOnly(d *Distribution, b *Behavior) (string, bool) {
	ext, ok := extension(b.Path)
	if !ok || strings.ToLower(ext) != ext || strings.ToUpper(ext) == ext {
		return "", false
	}
	upper := strings.TrimSuffix(b.Path, ext) + strings.ToUpper(ext)
	if slices.ContainsFunc(d.Behaviors, func(o *Behavior) bool { return o.Path == upper }) {
		return "", false
	}
	return fmt.Sprintf("%s has no %s counterpart", b.Path, upper), true
}
