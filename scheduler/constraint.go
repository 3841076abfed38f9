package scheduler

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/orch-project/orch/structs"
)

// targetKind says where a constraint target's value comes from.
type targetKind uint8

const (
	targetLiteral targetKind = iota
	targetNodeID
	targetNodeDC
	targetNodeName
	targetNodeClass
	targetNodePool
	targetAttr
	targetMeta
	targetUnknown
)

// target is a parsed LTarget/RTarget: a literal or a ${...} reference into
// the node, resolved without string work per node.
type target struct {
	kind targetKind
	key  string // literal value, or attribute/meta key
}

func parseTarget(s string) target {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		return target{kind: targetLiteral, key: s}
	}
	ref := s[2 : len(s)-1]
	switch ref {
	case "node.unique.id":
		return target{kind: targetNodeID}
	case "node.datacenter":
		return target{kind: targetNodeDC}
	case "node.unique.name":
		return target{kind: targetNodeName}
	case "node.class":
		return target{kind: targetNodeClass}
	case "node.pool":
		return target{kind: targetNodePool}
	}
	if k, ok := strings.CutPrefix(ref, "attr."); ok {
		return target{kind: targetAttr, key: k}
	}
	if k, ok := strings.CutPrefix(ref, "meta."); ok {
		return target{kind: targetMeta, key: k}
	}
	return target{kind: targetUnknown}
}

// resolve returns the target's value on n and whether it is set.
func (t target) resolve(n *structs.Node) (string, bool) {
	switch t.kind {
	case targetLiteral:
		return t.key, true
	case targetNodeID:
		return n.ID, true
	case targetNodeDC:
		return n.Datacenter, true
	case targetNodeName:
		return n.Name, true
	case targetNodeClass:
		return n.NodeClass, true
	case targetNodePool:
		if n.NodePool == "" {
			return structs.DefaultNodePool, true
		}
		return n.NodePool, true
	case targetAttr:
		v, ok := n.Attributes[t.key]
		return v, ok
	case targetMeta:
		v, ok := n.Meta[t.key]
		return v, ok
	}
	return "", false
}

// constraintCheck is one job, group or task constraint compiled for the
// eval: targets parsed, regexp and version constraints compiled once.
type constraintCheck struct {
	key  string // "LTarget Operand RTarget", the ConstraintFiltered key
	op   string
	l, r target
	re   *regexp.Regexp
	vc   version.Constraints
	sv   []semverTerm
	// vcache memoises parsed node-side versions for the eval: clusters
	// have few distinct version strings and parsing is regexp-heavy.
	vcache map[versionKey]*version.Version
	// memo holds verdicts of the expensive operands (regexp, version,
	// semver, sets) by node-side value: many nodes share a value, so each
	// distinct one is evaluated once per eval.
	memo map[string]bool
	// bad marks an operand or argument that cannot be evaluated; such a
	// constraint matches no node rather than failing the whole eval.
	bad bool
}

func constraintKey(c *structs.Constraint) string {
	return fmt.Sprintf("%s %s %s", c.LTarget, c.Operand, c.RTarget)
}

// normalizeOperand folds Nomad's operand aliases onto one spelling.
func normalizeOperand(op string) string {
	switch op {
	case "", "==", "is":
		return structs.ConstraintEqual
	case "not":
		return structs.ConstraintNotEqual
	case "set_contains_all":
		return structs.ConstraintSetContains
	}
	return op
}

func (c *evalCtx) compileConstraint(sc *structs.Constraint) *constraintCheck {
	cc := &constraintCheck{
		key:    constraintKey(sc),
		op:     normalizeOperand(sc.Operand),
		l:      parseTarget(sc.LTarget),
		r:      parseTarget(sc.RTarget),
		vcache: c.parsedVersions,
	}
	switch cc.op {
	case structs.ConstraintEqual, structs.ConstraintNotEqual,
		structs.ConstraintLess, structs.ConstraintLessEqual, structs.ConstraintGreater, structs.ConstraintGreaterEqual,
		structs.ConstraintSetContains, structs.ConstraintSetContainsAny,
		structs.ConstraintIsSet, structs.ConstraintIsNotSet:
	case structs.ConstraintRegex:
		cc.re, cc.bad = c.regexp(sc.RTarget)
	case structs.ConstraintVersion:
		cc.vc, cc.bad = c.versionConstraint(sc.RTarget)
	case structs.ConstraintSemver:
		cc.sv, cc.bad = c.semverConstraint(sc.RTarget)
	default:
		cc.bad = true
	}
	// A regexp or version whose argument is a node reference cannot be
	// compiled ahead of time; such forms are rare and rejected.
	if (cc.op == structs.ConstraintRegex || cc.op == structs.ConstraintVersion || cc.op == structs.ConstraintSemver) &&
		cc.r.kind != targetLiteral {
		cc.bad = true
	}
	return cc
}

func (c *evalCtx) regexp(expr string) (*regexp.Regexp, bool) {
	if re, ok := c.regexps[expr]; ok {
		return re, re == nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		re = nil
	}
	c.regexps[expr] = re
	return re, re == nil
}

func (c *evalCtx) versionConstraint(expr string) (version.Constraints, bool) {
	if vc, ok := c.versions[expr]; ok {
		return vc, vc == nil
	}
	vc, err := version.NewConstraint(expr)
	if err != nil {
		vc = nil
	}
	c.versions[expr] = vc
	return vc, vc == nil
}

func (c *evalCtx) semverConstraint(expr string) ([]semverTerm, bool) {
	if sv, ok := c.semvers[expr]; ok {
		return sv, sv == nil
	}
	sv, err := parseSemverConstraint(expr)
	if err != nil {
		sv = nil
	}
	c.semvers[expr] = sv
	return sv, sv == nil
}

func (*constraintCheck) Name() string { return "NodeConstraint" }

func (cc *constraintCheck) Feasible(n *structs.Node) (bool, string) {
	if cc.bad {
		return false, cc.key
	}
	lv, lok := cc.l.resolve(n)
	rv, rok := cc.r.resolve(n)
	memoize := lok && cc.r.kind == targetLiteral && cc.expensive()
	if memoize {
		if ok, seen := cc.memo[lv]; seen {
			if !ok {
				return false, cc.key
			}
			return true, ""
		}
	}
	ok := cc.eval(lv, lok, rv, rok)
	if memoize {
		if cc.memo == nil {
			cc.memo = map[string]bool{}
		}
		cc.memo[lv] = ok
	}
	if !ok {
		return false, cc.key
	}
	return true, ""
}

func (cc *constraintCheck) expensive() bool {
	switch cc.op {
	case structs.ConstraintRegex, structs.ConstraintVersion, structs.ConstraintSemver,
		structs.ConstraintSetContains, structs.ConstraintSetContainsAny:
		return true
	}
	return false
}

// eval applies the operand to resolved targets.
func (cc *constraintCheck) eval(lv string, lok bool, rv string, rok bool) bool {
	var ok bool
	switch cc.op {
	case structs.ConstraintEqual:
		ok = lok && rok && lv == rv
	case structs.ConstraintNotEqual:
		// Nomad semantics: an unset attribute is "not equal" to anything.
		ok = lok != rok || lv != rv
	case structs.ConstraintLess, structs.ConstraintLessEqual, structs.ConstraintGreater, structs.ConstraintGreaterEqual:
		ok = lok && rok && checkOrder(cc.op, lv, rv)
	case structs.ConstraintRegex:
		ok = lok && cc.re.MatchString(lv)
	case structs.ConstraintVersion:
		if lok {
			v := cc.parseVersion(lv, false)
			ok = v != nil && cc.vc.Check(v)
		}
	case structs.ConstraintSemver:
		if lok {
			v := cc.parseVersion(lv, true)
			ok = v != nil && semverCheck(cc.sv, v)
		}
	case structs.ConstraintSetContains:
		ok = lok && rok && setContains(lv, rv, false)
	case structs.ConstraintSetContainsAny:
		ok = lok && rok && setContains(lv, rv, true)
	case structs.ConstraintIsSet:
		ok = lok
	case structs.ConstraintIsNotSet:
		ok = !lok
	}
	return ok
}

// checkOrder compares numerically when both sides are numbers and
// lexically otherwise.
func checkOrder(op, l, r string) bool {
	var cmp int
	if li, err := strconv.ParseInt(l, 10, 64); err == nil {
		if ri, err := strconv.ParseInt(r, 10, 64); err == nil {
			cmp = compare(li, ri)
			return orderOK(op, cmp)
		}
	}
	if lf, err := strconv.ParseFloat(l, 64); err == nil {
		if rf, err := strconv.ParseFloat(r, 64); err == nil {
			return orderOK(op, compare(lf, rf))
		}
	}
	return orderOK(op, strings.Compare(l, r))
}

func compare[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func orderOK(op string, cmp int) bool {
	switch op {
	case structs.ConstraintLess:
		return cmp < 0
	case structs.ConstraintLessEqual:
		return cmp <= 0
	case structs.ConstraintGreater:
		return cmp > 0
	case structs.ConstraintGreaterEqual:
		return cmp >= 0
	}
	return false
}

// setContains reports whether the comma-separated set have contains every
// (any=false) or some (any=true) element of the comma-separated want.
func setContains(have, want string, any bool) bool {
	set := map[string]struct{}{}
	for _, h := range strings.Split(have, ",") {
		set[strings.TrimSpace(h)] = struct{}{}
	}
	for _, w := range strings.Split(want, ",") {
		_, in := set[strings.TrimSpace(w)]
		if any && in {
			return true
		}
		if !any && !in {
			return false
		}
	}
	return !any
}

// versionKey keys the parsed-version cache; strict selects semver parsing.
type versionKey struct {
	s      string
	strict bool
}

// parseVersion parses a node-side version through the eval's cache; nil
// means the string is not a valid version.
func (cc *constraintCheck) parseVersion(s string, strict bool) *version.Version {
	k := versionKey{s, strict}
	if v, ok := cc.vcache[k]; ok {
		return v
	}
	var v *version.Version
	var err error
	if strict {
		v, err = version.NewSemver(s)
	} else {
		v, err = version.NewVersion(s)
	}
	if err != nil {
		v = nil
	}
	if cc.vcache != nil {
		cc.vcache[k] = v
	}
	return v
}
