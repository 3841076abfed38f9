package jobspec

import (
	"fmt"

	"github.com/orch-project/orch/structs"
)

// Older Nomad job files ask for ports in a task's resources { network }.
// Nomad 1.x still runs them (deprecated, host networking only) and gives
// the task its ports. orch keeps one network per group: at
// canonicalization a task-level block is folded into the group's network
// (mode host) wherever that means the same thing, on the HCL and every
// JSON path alike. Where it would not, the block stays on the task and
// the field table refuses it with taskNetworkProblems' reason.

// foldTaskNetworks moves the ports of tg's task-level networks into the
// group's network, creating a host-mode one if the group has none. It
// folds nothing when any task's block cannot be folded, so the refusal
// names the conflict as written.
func foldTaskNetworks(tg *structs.TaskGroup) {
	if tg == nil || !hasTaskNetworks(tg) || len(taskNetworkProblems(tg)) > 0 {
		return
	}
	if len(tg.Networks) == 0 {
		tg.Networks = []*structs.NetworkResource{{Mode: "host"}}
	}
	g := tg.Networks[0]
	for _, t := range tg.Tasks {
		if t == nil || t.Resources == nil {
			continue
		}
		for _, n := range t.Resources.Networks {
			// mbits is ignored as Nomad ignores it since 0.12; Device,
			// CIDR and IP are the scheduler's to fill in.
			g.ReservedPorts = append(g.ReservedPorts, n.ReservedPorts...)
			g.DynamicPorts = append(g.DynamicPorts, n.DynamicPorts...)
		}
		t.Resources.Networks = nil
	}
}

func hasTaskNetworks(tg *structs.TaskGroup) bool {
	for _, t := range tg.Tasks {
		if t != nil && t.Resources != nil && len(t.Resources.Networks) > 0 {
			return true
		}
	}
	return false
}

// taskNetworkProblems says, per task, why its task-level network cannot
// be folded into the group's network.
func taskNetworkProblems(tg *structs.TaskGroup) map[*structs.Task]string {
	probs := map[*structs.Task]string{}
	owners := map[string]string{} // port label -> who declares it
	groupMode := ""
	for _, n := range tg.Networks {
		if n == nil {
			continue
		}
		groupMode = n.Mode
		for _, p := range allPorts(n) {
			owners[p.Label] = "the group's network"
		}
	}
	for _, t := range tg.Tasks {
		if t == nil || t.Resources == nil || len(t.Resources.Networks) == 0 {
			continue
		}
		if msg := taskNetworkProblem(t, len(tg.Networks), groupMode, owners); msg != "" {
			probs[t] = msg
		}
	}
	return probs
}

func taskNetworkProblem(t *structs.Task, groupNets int, groupMode string, owners map[string]string) string {
	nets := t.Resources.Networks
	msg := ""
	switch n := nets[0]; {
	case len(nets) > 1:
		msg = fmt.Sprintf("a task may declare one network block, found %d", len(nets))
	case n == nil:
		msg = "network is null"
	case n.Mode != "" && n.Mode != "host":
		msg = fmt.Sprintf("a task-level network supports only mode \"host\", not %q; declare the network in the group", n.Mode)
	case groupNets > 1:
		msg = "the group declares more than one network"
	case groupMode != "" && groupMode != "host":
		msg = fmt.Sprintf("the group's network is in mode %q and a task-level network is host networking; declare the ports in the group's network", groupMode)
	case n.DNS != nil || n.CNI != nil || n.Hostname != "":
		msg = "a task-level network takes only mbits and port blocks; declare dns, hostname and cni in the group's network"
	}
	me := fmt.Sprintf("task %q", t.Name)
	for _, n := range nets {
		if n == nil {
			continue
		}
		for _, p := range allPorts(n) {
			if owner, ok := owners[p.Label]; ok && msg == "" && p.Label != "" {
				msg = fmt.Sprintf("port label %q is also declared by %s; port labels must be unique in the group", p.Label, owner)
			}
			owners[p.Label] = me
		}
	}
	return msg
}

func allPorts(n *structs.NetworkResource) []structs.Port {
	return append(append([]structs.Port(nil), n.ReservedPorts...), n.DynamicPorts...)
}

// taskNetworkRefusal is the field table's check of Resources.Networks: a
// task-level network still on its task after canonicalization is one
// that could not be folded.
func taskNetworkRefusal(v any, job *structs.Job) string {
	nets, ok := v.([]*structs.NetworkResource)
	if !ok || len(nets) == 0 || job == nil {
		return ""
	}
	for _, tg := range job.TaskGroups {
		if tg == nil {
			continue
		}
		for _, t := range tg.Tasks {
			if t != nil && t.Resources != nil && len(t.Resources.Networks) > 0 && &t.Resources.Networks[0] == &nets[0] {
				probs := taskNetworkProblems(tg)
				if msg := probs[t]; msg != "" || len(probs) > 0 {
					// Folding left it in place because another task's
					// block cannot be folded: that one is refused.
					return msg
				}
				return "task-level network was not folded into the group's network (job not canonicalized)"
			}
		}
	}
	return "task-level network blocks are not supported here; declare the network in the group"
}
