package scheduler

import (
	"slices"
	"strconv"
	"strings"

	"github.com/orch-project/orch/structs"
)

// maxPort bounds parsed ranges so a malformed node config cannot make the
// scheduler allocate a huge set.
const maxPort = 65535

// allocPorts lists the host ports an allocation holds.
func allocPorts(a *structs.Allocation) []int {
	ar := a.AllocatedResources
	if ar == nil {
		return nil
	}
	var ps []int
	for _, p := range ar.Shared.Ports {
		if p.Value > 0 && !p.IgnoreCollision {
			ps = append(ps, p.Value)
		}
	}
	ps = appendNetworkPorts(ps, ar.Shared.Networks)
	for _, t := range ar.Tasks {
		if t != nil {
			ps = appendNetworkPorts(ps, t.Networks)
		}
	}
	return ps
}

func appendNetworkPorts(ps []int, nets []*structs.NetworkResource) []int {
	for _, n := range nets {
		if n == nil {
			continue
		}
		for _, p := range n.ReservedPorts {
			if p.Value > 0 && !p.IgnoreCollision {
				ps = append(ps, p.Value)
			}
		}
		for _, p := range n.DynamicPorts {
			if p.Value > 0 {
				ps = append(ps, p.Value)
			}
		}
	}
	return ps
}

// allocSharedPorts lists the host ports an allocation holds with
// ignore_collision, once each: other sharers may take them too, a plain
// port may not (it would meet a program already bound there, or share
// its SO_REUSEPORT group with a job that never asked to).
func allocSharedPorts(a *structs.Allocation) []int {
	ar := a.AllocatedResources
	if ar == nil {
		return nil
	}
	// Most allocations share nothing: no map for them.
	var ps []int
	add := func(v int, shared bool) {
		if v > 0 && shared && !slices.Contains(ps, v) {
			ps = append(ps, v)
		}
	}
	addNets := func(nets []*structs.NetworkResource) {
		for _, n := range nets {
			if n != nil {
				for _, p := range n.ReservedPorts {
					add(p.Value, p.IgnoreCollision)
				}
			}
		}
	}
	for _, p := range ar.Shared.Ports {
		add(p.Value, p.IgnoreCollision)
	}
	// No merged copy of the networks: that would allocate for every
	// allocation with a network, sharer or not.
	addNets(ar.Shared.Networks)
	for _, t := range ar.Tasks {
		if t != nil {
			addNets(t.Networks)
		}
	}
	return ps
}

// parsePortRanges parses "22,80,8000-8010"; malformed parts are skipped.
func parsePortRanges(spec string) []int {
	var ps []int
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 1 || a > maxPort {
			continue
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(strings.TrimSpace(hi))
			if err != nil || b < a || b > maxPort {
				continue
			}
		}
		for p := a; p <= b; p++ {
			ps = append(ps, p)
		}
	}
	return ps
}

// groupStaticPorts lists the reserved host ports a group asks for (group
// and task networks), apart those with ignore_collision (shared), and
// whether it asks for the same port twice, which no node can satisfy.
func groupStaticPorts(tg *structs.TaskGroup) (ports, shared []int, selfCollision bool) {
	seen := map[int]bool{}
	add := func(nets []*structs.NetworkResource) {
		for _, n := range nets {
			if n == nil {
				continue
			}
			for _, p := range n.ReservedPorts {
				if p.Value <= 0 {
					continue
				}
				if p.IgnoreCollision {
					// ignore_collision: shared with the other sharers
					// (programs using SO_REUSEPORT) and the node's
					// reserved ports, not with a plain holder.
					shared = append(shared, p.Value)
					continue
				}
				if seen[p.Value] {
					selfCollision = true
					continue
				}
				seen[p.Value] = true
				ports = append(ports, p.Value)
			}
		}
	}
	add(tg.Networks)
	for _, t := range tg.Tasks {
		if t.Resources != nil {
			add(t.Resources.Networks)
		}
	}
	return ports, shared, selfCollision
}
