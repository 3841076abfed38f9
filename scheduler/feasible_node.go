package scheduler

import (
	"strings"

	"github.com/orch-project/orch/structs"
)

// nodeCheck is one named feasibility predicate over a node. When a node is
// rejected, reason is the key it is counted under in
// AllocMetric.ConstraintFiltered (empty: filtered but not attributed).
type nodeCheck interface {
	Name() string
	Feasible(n *structs.Node) (ok bool, reason string)
}

// datacenterCheck admits nodes whose datacenter matches one of the job's
// datacenter patterns ("*" and "dc*" globs allowed). Verdicts are cached per
// datacenter name since clusters have few of them.
type datacenterCheck struct {
	patterns []string
	cache    map[string]bool
}

func newDatacenterCheck(job *structs.Job, cache map[string]bool) *datacenterCheck {
	p := job.Datacenters
	if len(p) == 0 {
		p = []string{"*"}
	}
	return &datacenterCheck{patterns: p, cache: cache}
}

func (*datacenterCheck) Name() string { return "NodeDatacenter" }

func (d *datacenterCheck) Feasible(n *structs.Node) (bool, string) {
	ok, seen := d.cache[n.Datacenter]
	if !seen {
		for _, p := range d.patterns {
			if globMatch(p, n.Datacenter) {
				ok = true
				break
			}
		}
		d.cache[n.Datacenter] = ok
	}
	return ok, ""
}

// globMatch matches s against a pattern where '*' stands for any run of
// characters; every other character is literal.
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// nodePoolCheck admits nodes of the job's pool; the "all" pool admits every node.
type nodePoolCheck struct{ pool string }

func newNodePoolCheck(job *structs.Job) nodePoolCheck {
	p := job.NodePool
	if p == "" {
		p = structs.DefaultNodePool
	}
	return nodePoolCheck{pool: p}
}

func (nodePoolCheck) Name() string { return "NodePool" }

func (c nodePoolCheck) Feasible(n *structs.Node) (bool, string) {
	if c.pool == "all" {
		return true, ""
	}
	np := n.NodePool
	if np == "" {
		np = structs.DefaultNodePool
	}
	return np == c.pool, ""
}

// nodeReadyCheck admits nodes that are up, eligible and not draining.
type nodeReadyCheck struct{}

func (nodeReadyCheck) Name() string { return "NodeReady" }

func (nodeReadyCheck) Feasible(n *structs.Node) (bool, string) { return n.Ready(), "" }

// driverCheck admits nodes where every driver the group's tasks use is
// detected and healthy. Nodes that predate driver fingerprints advertise
// drivers as the attribute "driver.<name>".
type driverCheck struct{ drivers []string }

// reasonMissingDrivers is Nomad's metric key for driver rejections.
const reasonMissingDrivers = "missing drivers"

func newDriverCheck(tg *structs.TaskGroup) driverCheck {
	var ds []string
	seen := map[string]bool{}
	for _, t := range tg.Tasks {
		if t.Driver != "" && !seen[t.Driver] {
			seen[t.Driver] = true
			ds = append(ds, t.Driver)
		}
	}
	return driverCheck{drivers: ds}
}

func (driverCheck) Name() string { return "TaskDrivers" }

func (c driverCheck) Feasible(n *structs.Node) (bool, string) {
	for _, d := range c.drivers {
		if !driverUsable(n, d) {
			return false, reasonMissingDrivers
		}
	}
	return true, ""
}

func driverUsable(n *structs.Node, d string) bool {
	if info, ok := n.Drivers[d]; ok && info != nil {
		return info.Detected && info.Healthy
	}
	switch n.Attributes["driver."+d] {
	case "1", "true":
		return true
	}
	return false
}

// runChecks applies checks in order and returns the first rejection.
func runChecks(checks []nodeCheck, n *structs.Node) (bool, string) {
	for _, ch := range checks {
		if ok, reason := ch.Feasible(n); !ok {
			return false, reason
		}
	}
	return true, ""
}
