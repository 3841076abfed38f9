package scheduler

import (
	"fmt"
	"strings"

	version "github.com/hashicorp/go-version"
)

// semverTerm is one "op version" clause of a semver constraint. Unlike the
// "version" operand (go-version's constraint rules, where a pre-release only
// satisfies clauses naming a pre-release of the same core version), semver
// clauses compare by plain Semantic Versioning precedence.
type semverTerm struct {
	op string
	v  *version.Version
}

func parseSemverConstraint(expr string) ([]semverTerm, error) {
	var terms []semverTerm
	for _, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, cand := range []string{">=", "<=", "!=", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(part, cand); ok {
				op, part = cand, strings.TrimSpace(rest)
				break
			}
		}
		v, err := version.NewSemver(part)
		if err != nil {
			return nil, fmt.Errorf("semver constraint %q: %w", expr, err)
		}
		terms = append(terms, semverTerm{op: op, v: v})
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("empty semver constraint")
	}
	return terms, nil
}

func semverCheck(terms []semverTerm, v *version.Version) bool {
	for _, t := range terms {
		c := v.Compare(t.v)
		var ok bool
		switch t.op {
		case "=":
			ok = c == 0
		case "!=":
			ok = c != 0
		case ">":
			ok = c > 0
		case ">=":
			ok = c >= 0
		case "<":
			ok = c < 0
		case "<=":
			ok = c <= 0
		}
		if !ok {
			return false
		}
	}
	return true
}
