package acl

import (
	"sort"
	"strings"

	"github.com/orch-project/orch/structs"
)

// ACL is a compiled, immutable set of permissions: the merge of a token's
// policies. When several policies speak about the same thing, the union of
// what they grant applies, except that a deny always wins.
type ACL struct {
	management bool
	// workload is set for a workload identity: its implicit policy (its
	// own job's variables, its namespace's services) on top of rules.
	workload *structs.WorkloadClaims

	namespaces rules[*nsPerms]
	volumes    rules[capSet]

	node, agent, operator, quota, plugin string
}

type capSet map[string]bool

// allows reports whether the set grants c and holds no deny.
func (c capSet) allows(cap string) bool { return c != nil && !c["deny"] && c[cap] }

// any reports whether the set grants anything at all.
func (c capSet) any() bool {
	if c == nil || c["deny"] {
		return false
	}
	return len(c) > 0
}

type nsPerms struct {
	caps capSet
	vars rules[capSet]
}

// rules maps exact names and globs to permissions. A name's permissions are
// its exact rule's if it has one, otherwise those of the closest matching
// glob: the one whose wildcards match the fewest characters.
type rules[T any] struct {
	exact map[string]T
	globs []glob[T]
}

type glob[T any] struct {
	pattern string
	literal int // characters outside wildcards
	val     T
}

func (r *rules[T]) getOrCreate(name string, mk func() T) T {
	if !strings.Contains(name, "*") {
		if r.exact == nil {
			r.exact = map[string]T{}
		}
		v, ok := r.exact[name]
		if !ok {
			v = mk()
			r.exact[name] = v
		}
		return v
	}
	for _, g := range r.globs {
		if g.pattern == name {
			return g.val
		}
	}
	v := mk()
	r.globs = append(r.globs, glob[T]{pattern: name, literal: len(name) - strings.Count(name, "*"), val: v})
	// Most specific first, then by pattern, so lookups are deterministic.
	sort.SliceStable(r.globs, func(i, j int) bool {
		if r.globs[i].literal != r.globs[j].literal {
			return r.globs[i].literal > r.globs[j].literal
		}
		return r.globs[i].pattern < r.globs[j].pattern
	})
	return v
}

// lookup returns the permissions governing name.
func (r *rules[T]) lookup(name string) (T, bool) {
	if v, ok := r.exact[name]; ok {
		return v, true
	}
	for _, g := range r.globs {
		if globMatch(g.pattern, name) {
			return g.val, true
		}
	}
	var zero T
	return zero, false
}

// each calls fn for every rule.
func (r *rules[T]) each(fn func(T) bool) bool {
	for _, v := range r.exact {
		if fn(v) {
			return true
		}
	}
	for _, g := range r.globs {
		if fn(g.val) {
			return true
		}
	}
	return false
}

// globMatch matches name against a pattern whose only wildcard is '*'
// (any run of characters, including none).
func globMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, last)
}

// ManagementACL may do anything.
var ManagementACL = &ACL{management: true}

// DenyAll may do nothing: the ACL of a request without a token when no
// anonymous policy exists.
var DenyAll = &ACL{}

// New merges policies into an ACL.
func New(policies []*Policy) *ACL {
	a := &ACL{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, r := range p.Namespaces {
			perms := a.namespaces.getOrCreate(r.Name, func() *nsPerms { return &nsPerms{caps: capSet{}} })
			for _, c := range expandNamespacePolicy(r.Policy) {
				perms.caps[c] = true
			}
			for _, c := range r.Capabilities {
				perms.caps[c] = true
			}
			if implicit := expandVariablesPolicy(r.Policy); len(implicit) > 0 {
				addCaps(perms.vars.getOrCreate("*", newCapSet), implicit)
			}
			for _, v := range r.Variables {
				addCaps(perms.vars.getOrCreate(v.Path, newCapSet), v.Capabilities)
			}
		}
		for _, r := range p.HostVolumes {
			caps := a.volumes.getOrCreate(r.Name, newCapSet)
			addCaps(caps, expandHostVolumePolicy(r.Policy))
			addCaps(caps, r.Capabilities)
		}
		a.node = mergeLevel(a.node, p.Node)
		a.agent = mergeLevel(a.agent, p.Agent)
		a.operator = mergeLevel(a.operator, p.Operator)
		a.quota = mergeLevel(a.quota, p.Quota)
		a.plugin = mergeLevel(a.plugin, p.Plugin)
	}
	return a
}

func newCapSet() capSet { return capSet{} }

func addCaps(c capSet, caps []string) {
	for _, x := range caps {
		c[x] = true
	}
}

var levelRank = map[string]int{"": 0, PolicyList: 1, PolicyRead: 2, PolicyScale: 2, PolicyWrite: 3, PolicyDeny: 4}

// mergeLevel combines two coarse dispositions: deny wins, otherwise the
// more permissive one.
func mergeLevel(a, b string) string {
	if levelRank[b] > levelRank[a] {
		return b
	}
	return a
}

func allowsLevel(have, want string) bool {
	switch have {
	case PolicyWrite:
		return true
	case PolicyRead:
		return want == PolicyRead || want == PolicyList
	case PolicyList:
		return want == PolicyList
	}
	return false
}

// IsManagement reports whether the ACL may do anything.
func (a *ACL) IsManagement() bool { return a.management }

// AllowNamespaceOperation reports whether cap is granted in namespace ns.
func (a *ACL) AllowNamespaceOperation(ns, cap string) bool {
	if a.management {
		return true
	}
	p, ok := a.namespaces.lookup(ns)
	return ok && p.caps.allows(cap)
}

// AllowNamespace reports whether anything at all is granted in ns (the
// test for seeing that a namespace exists).
func (a *ACL) AllowNamespace(ns string) bool {
	if a.management {
		return true
	}
	p, ok := a.namespaces.lookup(ns)
	if !ok || p.caps["deny"] {
		return false
	}
	return p.caps.any() || p.vars.each(func(c capSet) bool { return c.any() })
}

// AllowNamespaceOperationSomewhere reports whether some namespace rule
// grants cap: a cheap first check for endpoints that learn the namespace
// only from the object they touch.
func (a *ACL) AllowNamespaceOperationSomewhere(cap string) bool {
	if a.management {
		return true
	}
	return a.namespaces.each(func(p *nsPerms) bool { return p.caps.allows(cap) })
}

// NewWorkload returns the ACL of a workload identity: the implicit
// workload policy plus the policies attached to its job (JobACL).
func NewWorkload(w structs.WorkloadClaims, attached []*Policy) *ACL {
	a := New(attached)
	a.workload = &w
	return a
}

// Workload returns the claims of a workload identity's ACL, nil otherwise.
func (a *ACL) Workload() *structs.WorkloadClaims { return a.workload }

// workloadVariable applies the implicit workload policy: read and list of
// its own job's variables (structs.WorkloadVariableAccess).
func (a *ACL) workloadVariable(ns, path, op string) bool {
	if a.workload == nil || (op != VariablesCapabilityRead && op != VariablesCapabilityList) {
		return false
	}
	return structs.WorkloadVariableAccess(*a.workload, ns, path)
}

// AllowWorkloadNamespace reports whether this is a workload identity of
// namespace ns (which may read the namespace's services).
func (a *ACL) AllowWorkloadNamespace(ns string) bool {
	return a.workload != nil && normNamespace(a.workload.Namespace) == normNamespace(ns)
}

func normNamespace(ns string) string {
	if ns == "" {
		return structs.DefaultNamespace
	}
	return ns
}

// AllowVariableOperation reports whether op (a variables capability) is
// granted on path in namespace ns. The closest matching path rule decides.
func (a *ACL) AllowVariableOperation(ns, path, op string) bool {
	if a.management || a.workloadVariable(ns, path, op) {
		return true
	}
	p, ok := a.namespaces.lookup(ns)
	if !ok || p.caps["deny"] {
		return false
	}
	c, ok := p.vars.lookup(path)
	return ok && c.allows(op)
}

// AllowVariableSearch reports whether the caller may list some variables
// in ns; lists then filter path by path with AllowVariableOperation.
func (a *ACL) AllowVariableSearch(ns string) bool {
	if a.management || a.AllowWorkloadNamespace(ns) {
		return true
	}
	p, ok := a.namespaces.lookup(ns)
	if !ok || p.caps["deny"] {
		return false
	}
	return p.vars.each(func(c capSet) bool { return c.allows(VariablesCapabilityList) })
}

// AllowHostVolumeOperation reports whether cap is granted on host volume name.
func (a *ACL) AllowHostVolumeOperation(name, cap string) bool {
	if a.management {
		return true
	}
	c, ok := a.volumes.lookup(name)
	return ok && c.allows(cap)
}

// AllowHostVolume reports whether anything is granted on host volume name.
func (a *ACL) AllowHostVolume(name string) bool {
	if a.management {
		return true
	}
	c, ok := a.volumes.lookup(name)
	return ok && c.any()
}

func (a *ACL) AllowNodeRead() bool      { return a.management || allowsLevel(a.node, PolicyRead) }
func (a *ACL) AllowNodeWrite() bool     { return a.management || allowsLevel(a.node, PolicyWrite) }
func (a *ACL) AllowAgentRead() bool     { return a.management || allowsLevel(a.agent, PolicyRead) }
func (a *ACL) AllowAgentWrite() bool    { return a.management || allowsLevel(a.agent, PolicyWrite) }
func (a *ACL) AllowOperatorRead() bool  { return a.management || allowsLevel(a.operator, PolicyRead) }
func (a *ACL) AllowOperatorWrite() bool { return a.management || allowsLevel(a.operator, PolicyWrite) }
func (a *ACL) AllowQuotaRead() bool     { return a.management || allowsLevel(a.quota, PolicyRead) }
func (a *ACL) AllowQuotaWrite() bool    { return a.management || allowsLevel(a.quota, PolicyWrite) }
func (a *ACL) AllowPluginList() bool    { return a.management || allowsLevel(a.plugin, PolicyList) }
func (a *ACL) AllowPluginRead() bool    { return a.management || allowsLevel(a.plugin, PolicyRead) }
func (a *ACL) AllowPluginWrite() bool   { return a.management || allowsLevel(a.plugin, PolicyWrite) }
