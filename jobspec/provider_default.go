package jobspec

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/orch-project/orch/structs"
)

// The stock nomad CLI and nomad/api's Job.Canonicalize write provider
// "consul" into every service that has none (Nomad's default provider is
// Consul; orch's is its native catalog, as it runs no Consul). A job whose
// services carry "consul" is therefore ambiguous: defaulted by the client
// library, or written by the user? UndoClientConsulDefault decides per
// service, before the job is validated:
//
//   - The submission's HCL2 source is the truth when there is one (the
//     stock `nomad job run` sends it): a service block without a provider
//     attribute had the library's default, and becomes "nomad" exactly as
//     `orch job run` of the same file would make it; a written provider =
//     "consul" stays and is refused as on the HCL path.
//   - Without a source (nomad/api callers, `nomad job plan`, JSON files)
//     the library's canonical form is the sign: Canonicalize sets Cluster
//     "default" together with the provider, which a hand-written job
//     rarely does. Such a "consul" becomes "nomad" with a warning, since
//     an explicit consul cannot be told apart there; a "consul" without
//     that mark is explicit and refused.
//
// It returns the warnings to give back to the caller.
func UndoClientConsulDefault(job *structs.Job, sub *structs.JobSubmission) []string {
	if job == nil || !hasConsulService(job) {
		return nil
	}
	written, fromSource := writtenProviders(job, sub)
	var warnings []string
	forEachService(job, func(path string, s *structs.Service, pos servicePos) {
		if s.Provider != "consul" {
			return
		}
		if fromSource {
			if !written[pos] {
				s.Provider = "nomad"
			}
			return
		}
		if s.Cluster == "default" {
			s.Provider = "nomad"
			warnings = append(warnings, fmt.Sprintf(
				`%s: provider "consul" (the nomad client library's default for a service without one) `+
					`registers in orch's native catalog as provider "nomad": orch does not run Consul`, path))
		}
	})
	return warnings
}

// servicePos names a service block by its group, task ("" for a group
// service) and index among its siblings.
type servicePos struct {
	group, task string
	index       int
}

func hasConsulService(job *structs.Job) bool {
	found := false
	forEachService(job, func(_ string, s *structs.Service, _ servicePos) {
		found = found || s.Provider == "consul"
	})
	return found
}

func forEachService(job *structs.Job, fn func(path string, s *structs.Service, pos servicePos)) {
	for _, tg := range job.TaskGroups {
		if tg == nil {
			continue
		}
		gp := fmt.Sprintf("group %q", tg.Name)
		for i, s := range tg.Services {
			if s != nil {
				fn(fmt.Sprintf("%s -> service %q", gp, s.Name), s, servicePos{tg.Name, "", i})
			}
		}
		for _, t := range tg.Tasks {
			if t == nil {
				continue
			}
			for i, s := range t.Services {
				if s != nil {
					fn(fmt.Sprintf("%s -> task %q -> service %q", gp, t.Name, s.Name), s, servicePos{tg.Name, t.Name, i})
				}
			}
		}
	}
}

// writtenProviders reads which service blocks of the submitted HCL2 source
// write a provider attribute. ok is false when there is no usable source
// or its blocks do not line up with the job's services (dynamic blocks,
// a source of another job).
func writtenProviders(job *structs.Job, sub *structs.JobSubmission) (map[servicePos]bool, bool) {
	if sub == nil || sub.Source == "" || !strings.EqualFold(sub.Format, "hcl2") {
		return nil, false
	}
	f, diags := hclsyntax.ParseConfig([]byte(sub.Source), "submission.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, false
	}
	var jobBody *hclsyntax.Body
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type == "job" {
			jobBody = b.Body
		}
	}
	if jobBody == nil {
		return nil, false
	}
	written := map[servicePos]bool{}
	counts := map[servicePos]int{} // index -1: number of service blocks
	for _, g := range jobBody.Blocks {
		if g.Type != "group" || len(g.Labels) != 1 {
			continue
		}
		markServices(g.Body, servicePos{group: g.Labels[0]}, written, counts)
		for _, tb := range g.Body.Blocks {
			if tb.Type == "task" && len(tb.Labels) == 1 {
				markServices(tb.Body, servicePos{group: g.Labels[0], task: tb.Labels[0]}, written, counts)
			}
		}
	}
	lined := true
	for _, tg := range job.TaskGroups {
		if tg == nil {
			continue
		}
		lined = lined && counts[servicePos{tg.Name, "", -1}] == len(tg.Services)
		for _, t := range tg.Tasks {
			if t != nil {
				lined = lined && counts[servicePos{tg.Name, t.Name, -1}] == len(t.Services)
			}
		}
	}
	return written, lined
}

// markServices records the service blocks of body under owner.
func markServices(body *hclsyntax.Body, owner servicePos, written map[servicePos]bool, counts map[servicePos]int) {
	n := 0
	for _, b := range body.Blocks {
		switch {
		case b.Type == "service":
			_, has := b.Body.Attributes["provider"]
			written[servicePos{owner.group, owner.task, n}] = has
			n++
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "service":
			n = -1000 // generated blocks: positions unknown
		}
	}
	counts[servicePos{owner.group, owner.task, -1}] += n
}
