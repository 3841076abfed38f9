package jobspec

import (
	"fmt"

	"github.com/orch-project/orch/structs"
	"github.com/orch-project/orch/tmpl"
)

// Rules of services, checks and templates beyond their fields' shapes:
// what the native service catalog, the client's check runners and the
// template renderer can honour.

// serviceNative checks a service against what the native catalog does.
func (v *validator) serviceNative(path string, s *structs.Service, tg *structs.TaskGroup, groupLevel bool) {
	for i, c := range s.Checks {
		if c == nil {
			continue
		}
		cp := joinPath(path, fmt.Sprintf("check[%d]", i))
		if c.Name != "" {
			cp = joinPath(path, fmt.Sprintf("check %q", c.Name))
		}
		if !groupLevel {
			if c.TaskName != "" && tg != nil && !hasTask(tg, c.TaskName) {
				v.add(cp, "task %q does not exist in the group", c.TaskName)
			}
			continue
		}
		task := c.TaskName
		if task == "" {
			task = s.TaskName
		}
		switch {
		case task != "" && !hasTask(tg, task):
			v.add(cp, "task %q does not exist in the group", task)
		case task == "" && c.Type == "script":
			v.add(cp, "a script check of a group service runs in a task: set the check's task")
		}
	}
}

// templateNative parses an inline template and checks what its change
// mode needs.
func (v *validator) templateNative(path string, t *structs.Template) {
	if t.EmbeddedTmpl != "" && t.LeftDelim != "" && t.RightDelim != "" {
		if err := tmpl.Validate(t.EmbeddedTmpl, t.LeftDelim, t.RightDelim); err != nil {
			v.add(path, "%v", err)
		}
	}
	if t.ChangeMode == "script" {
		if t.ChangeScript == nil || t.ChangeScript.Command == "" {
			v.add(path, "change_mode \"script\" needs a change_script with a command")
		}
	}
	if cs := t.ChangeScript; cs != nil && cs.Timeout < 0 {
		v.add(joinPath(path, "change_script"), "timeout must not be negative")
	}
	if w := t.Wait; w != nil {
		if w.Min != nil && *w.Min < 0 || w.Max != nil && *w.Max < 0 {
			v.add(joinPath(path, "wait"), "min and max must not be negative")
		}
		if w.Min != nil && w.Max != nil && *w.Max > 0 && *w.Max < *w.Min {
			v.add(joinPath(path, "wait"), "max %s is less than min %s", *w.Max, *w.Min)
		}
	}
}

// serviceProviderMsg refuses the Consul provider: orch's catalog is its
// own (provider "nomad", the default).
func serviceProviderMsg(v any) string {
	if p, _ := v.(string); p == "consul" {
		return msgConsul + `; use provider = "nomad" (the default)`
	}
	return ""
}

// secretProviderMsg refuses the secret providers orch does not have:
// vault (no Vault) and custom plugins; the nomad provider works.
func secretProviderMsg(v any) string {
	switch p, _ := v.(string); p {
	case structs.SecretProviderNomad:
		return ""
	case "vault":
		return msgVault
	default:
		return fmt.Sprintf("secret provider %q is a custom provider plugin, which orch does not run; use provider = \"nomad\"", p)
	}
}

// addressModeMsg refuses the address modes that need networks orch does
// not create ("alloc" needs the group's bridge or CNI network: see
// validator.groupNamespace).
func addressModeMsg(v any) string {
	switch m, _ := v.(string); m {
	case "", "auto", "host", "alloc":
		return ""
	case "alloc_ipv6":
		return fmt.Sprintf("address_mode %q is not supported: orch's bridge network gives allocations IPv4 addresses (use alloc)", m)
	default:
		return fmt.Sprintf("address_mode %q is not supported: orch advertises the node's address (auto or host)", m)
	}
}
