// Package tmpl is the template language of the template block: Go's
// text/template with consul-template's function set over orch's native
// data (services, variables, the task's environment and files). It parses
// and validates templates (jobspec refuses at submit what cannot work) and
// renders them against a Data source (the client's shared watcher).
package tmpl

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/orch-project/orch/structs"
)

// Data is what templates read from the cluster.
type Data interface {
	// Service returns the instances of a service.
	Service(ns, name string) ([]*structs.ServiceRegistration, error)
	// Services returns the services of a namespace with their tags.
	Services(ns string) ([]*structs.ServiceRegistrationStub, error)
	// Variable returns a variable, nil when it does not exist.
	Variable(ns, path string) (*structs.VariableDecrypted, error)
	// Variables lists the variables under prefix.
	Variables(ns, prefix string) ([]*structs.VariableMetadata, error)
}

// Service is one service instance as templates see it (consul-template's
// NomadService, plus Meta and Status).
type Service struct {
	ID         string
	Name       string
	Namespace  string
	Node       string
	Datacenter string
	JobID      string
	AllocID    string
	Address    string
	Port       int
	Tags       ServiceTags
	Meta       map[string]string
	Status     string
}

// ServiceTags are a service's tags.
type ServiceTags []string

// Contains reports whether the tags hold s.
func (t ServiceTags) Contains(s string) bool {
	for _, x := range t {
		if x == s {
			return true
		}
	}
	return false
}

// ServiceStub is one entry of nomadServices.
type ServiceStub struct {
	Name string
	Tags ServiceTags
}

// VarItems are a variable's items: {{ .key }} reads one, range walks them
// in key order.
type VarItems map[string]string

// Keys returns the item names, sorted.
func (v VarItems) Keys() []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Values returns the item values in key order.
func (v VarItems) Values() []string {
	out := make([]string, 0, len(v))
	for _, k := range v.Keys() {
		out = append(out, v[k])
	}
	return out
}

// VarMeta is one entry of nomadVarList.
type VarMeta struct {
	Namespace   string
	Path        string
	CreateIndex uint64
	ModifyIndex uint64
	CreateTime  int64
	ModifyTime  int64
}

// Config is one render.
type Config struct {
	// Name names the template in errors.
	Name                  string
	Text                  string
	LeftDelim, RightDelim string
	// ErrMissingKey makes a missing map key an error instead of "".
	ErrMissingKey bool
	// Namespace is the task's namespace, where queries look by default.
	Namespace string
	// Region is the cluster's region ("name@region" must name it).
	Region string
	// Env is the task's environment (the env function reads only it).
	Env map[string]string
	// ReadFile reads a file for the file function, sandboxed to the task.
	ReadFile func(name string) (string, error)
	Data     Data
}

// Render executes the template.
func Render(cfg *Config) ([]byte, error) {
	t := template.New(cfg.Name).Delims(cfg.LeftDelim, cfg.RightDelim).Funcs(staticFuncs()).Funcs(dataFuncs(cfg))
	if cfg.ErrMissingKey {
		t = t.Option("missingkey=error")
	} else {
		t = t.Option("missingkey=zero")
	}
	t, err := t.Parse(cfg.Text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if err := refuseUnavailable(t); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		return nil, fmt.Errorf("execute template: %w", err)
	}
	return out.Bytes(), nil
}

// Validate parses a template and refuses functions that cannot work in
// orch (Consul, Vault, plugin, writeToFile) or that do not exist.
func Validate(text, left, right string) error {
	fm := staticFuncs()
	for name := range dataFuncs(&Config{}) {
		fm[name] = func(...any) any { return nil }
	}
	for name := range unavailable {
		fm[name] = func(...any) any { return nil }
	}
	t, err := template.New("t").Delims(left, right).Funcs(fm).Parse(text)
	if err != nil {
		return fmt.Errorf("parse template: %w", err)
	}
	return refuseUnavailable(t)
}

// refuseUnavailable walks every parsed template for calls of unavailable
// functions.
func refuseUnavailable(t *template.Template) error {
	var found []string
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		walk(tt.Tree.Root, func(name string) {
			if why, ok := unavailable[name]; ok {
				found = append(found, fmt.Sprintf("function %q: %s", name, why))
			}
		})
	}
	if len(found) > 0 {
		sort.Strings(found)
		return errors.New(strings.Join(dedup(found), "; "))
	}
	return nil
}

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || s[i-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// walk calls fn with the name of every function identifier under n.
func walk(n parse.Node, fn func(string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walk(c, fn)
		}
	case *parse.ActionNode:
		walk(n.Pipe, fn)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walk(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, fn)
		}
	case *parse.IdentifierNode:
		fn(n.Ident)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, fn)
	case *parse.TemplateNode:
		walk(n.Pipe, fn)
	}
}

func walkBranch(b *parse.BranchNode, fn func(string)) {
	walk(b.Pipe, fn)
	walk(b.List, fn)
	walk(b.ElseList, fn)
}
