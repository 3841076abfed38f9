package acl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// Policy is one parsed ACL policy document.
type Policy struct {
	Namespaces  []*NamespaceRule
	HostVolumes []*HostVolumeRule
	Node        string
	Agent       string
	Operator    string
	Quota       string
	Plugin      string
}

// NamespaceRule is a `namespace "<glob>" { ... }` block.
type NamespaceRule struct {
	Name         string
	Policy       string
	Capabilities []string
	Variables    []*VariablesPathRule
}

// VariablesPathRule is a `path "<glob>" { capabilities = [...] }` block
// inside a namespace rule's `variables` block.
type VariablesPathRule struct {
	Path         string
	Capabilities []string
}

// HostVolumeRule is a `host_volume "<glob>" { ... }` block.
type HostVolumeRule struct {
	Name         string
	Policy       string
	Capabilities []string
}

// The HCL schema. Unknown arguments and blocks are errors: a policy that
// says more than orch understands must not be half-applied.
type policyFile struct {
	Namespaces  []*nsBlock    `hcl:"namespace,block"`
	HostVolumes []*hvBlock    `hcl:"host_volume,block"`
	Node        []*levelBlock `hcl:"node,block"`
	Agent       []*levelBlock `hcl:"agent,block"`
	Operator    []*levelBlock `hcl:"operator,block"`
	Quota       []*levelBlock `hcl:"quota,block"`
	Plugin      []*levelBlock `hcl:"plugin,block"`
}

type nsBlock struct {
	Name         string      `hcl:"name,label"`
	Policy       *string     `hcl:"policy"`
	Capabilities []string    `hcl:"capabilities,optional"`
	Variables    []*varBlock `hcl:"variables,block"`
}

type varBlock struct {
	Paths []*pathBlock `hcl:"path,block"`
}

type pathBlock struct {
	Path         string   `hcl:"path,label"`
	Capabilities []string `hcl:"capabilities"`
}

type hvBlock struct {
	Name         string   `hcl:"name,label"`
	Policy       *string  `hcl:"policy"`
	Capabilities []string `hcl:"capabilities,optional"`
}

type levelBlock struct {
	Policy string `hcl:"policy"`
}

// Parse parses policy rules in Nomad's ACL policy language, HCL or its JSON
// form, and validates every disposition and capability.
func Parse(rules string) (*Policy, error) {
	if strings.TrimSpace(rules) == "" {
		return nil, fmt.Errorf("failed to parse ACL policy: policy has no rules")
	}
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasPrefix(strings.TrimSpace(rules), "{") {
		f, diags = p.ParseJSON([]byte(rules), "policy.json")
	} else {
		f, diags = p.ParseHCL([]byte(rules), "policy.hcl")
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("failed to parse ACL policy: %s", diags.Error())
	}
	var pf policyFile
	if diags := gohcl.DecodeBody(f.Body, nil, &pf); diags.HasErrors() {
		return nil, fmt.Errorf("failed to parse ACL policy: %s", diags.Error())
	}
	out := &Policy{}
	for _, b := range pf.Namespaces {
		r, err := namespaceRule(b)
		if err != nil {
			return nil, err
		}
		out.Namespaces = append(out.Namespaces, r)
	}
	for _, b := range pf.HostVolumes {
		r, err := hostVolumeRule(b)
		if err != nil {
			return nil, err
		}
		out.HostVolumes = append(out.HostVolumes, r)
	}
	levels := []struct {
		name   string
		blocks []*levelBlock
		dst    *string
		valid  []string
	}{
		{"node", pf.Node, &out.Node, []string{PolicyDeny, PolicyRead, PolicyWrite}},
		{"agent", pf.Agent, &out.Agent, []string{PolicyDeny, PolicyRead, PolicyWrite}},
		{"operator", pf.Operator, &out.Operator, []string{PolicyDeny, PolicyRead, PolicyWrite}},
		{"quota", pf.Quota, &out.Quota, []string{PolicyDeny, PolicyRead, PolicyWrite}},
		{"plugin", pf.Plugin, &out.Plugin, []string{PolicyDeny, PolicyList, PolicyRead, PolicyWrite}},
	}
	for _, l := range levels {
		if len(l.blocks) > 1 {
			return nil, fmt.Errorf("failed to parse ACL policy: more than one %s block", l.name)
		}
		if len(l.blocks) == 0 {
			continue
		}
		v := l.blocks[0].Policy
		if !contains(l.valid, v) {
			return nil, fmt.Errorf("invalid %s policy: %q (want one of %s)", l.name, v, strings.Join(l.valid, ", "))
		}
		*l.dst = v
	}
	return out, nil
}

func namespaceRule(b *nsBlock) (*NamespaceRule, error) {
	r := &NamespaceRule{Name: b.Name}
	if err := validGlob("namespace", b.Name); err != nil {
		return nil, err
	}
	if b.Policy != nil {
		switch *b.Policy {
		case PolicyDeny, PolicyRead, PolicyWrite, PolicyScale:
			r.Policy = *b.Policy
		default:
			return nil, fmt.Errorf("invalid namespace policy: %q (want deny, read, write or scale)", *b.Policy)
		}
	}
	for _, c := range b.Capabilities {
		if !namespaceCapabilities[c] {
			return nil, fmt.Errorf("invalid namespace capability %q in namespace %q", c, b.Name)
		}
	}
	r.Capabilities = b.Capabilities
	if len(b.Variables) > 1 {
		return nil, fmt.Errorf("namespace %q: more than one variables block", b.Name)
	}
	for _, vb := range b.Variables {
		for _, pb := range vb.Paths {
			if pb.Path == "" {
				return nil, fmt.Errorf("namespace %q: variables path must not be empty", b.Name)
			}
			for _, c := range pb.Capabilities {
				if !variablesCapabilities[c] {
					return nil, fmt.Errorf("invalid variable capability %q on path %q", c, pb.Path)
				}
			}
			r.Variables = append(r.Variables, &VariablesPathRule{Path: pb.Path, Capabilities: pb.Capabilities})
		}
	}
	return r, nil
}

func hostVolumeRule(b *hvBlock) (*HostVolumeRule, error) {
	r := &HostVolumeRule{Name: b.Name}
	if err := validGlob("host_volume", b.Name); err != nil {
		return nil, err
	}
	if b.Policy != nil {
		switch *b.Policy {
		case PolicyDeny, PolicyRead, PolicyWrite:
			r.Policy = *b.Policy
		default:
			return nil, fmt.Errorf("invalid host volume policy: %q (want deny, read or write)", *b.Policy)
		}
	}
	for _, c := range b.Capabilities {
		if !hostVolumeCapabilities[c] {
			return nil, fmt.Errorf("invalid host volume capability %q on %q", c, b.Name)
		}
	}
	r.Capabilities = b.Capabilities
	return r, nil
}

func validGlob(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s rule needs a name", kind)
	}
	return nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func set(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
