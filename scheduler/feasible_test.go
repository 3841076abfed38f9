package scheduler

import (
	"testing"

	"github.com/orch-project/orch/structs"
)

func constraintNode() *structs.Node {
	n := mkNode(1, "dc1", 1000, 1000)
	n.NodePool = "gpu"
	n.Attributes["os.version"] = "22.04"
	n.Attributes["driver.docker.version"] = "1.3.0-beta1"
	n.Attributes["nomad.version"] = "1.7.2"
	n.Attributes["cpu.numcores"] = "8"
	n.Attributes["cpu.frequency"] = "2.5"
	n.Attributes["features"] = "avx, sse4,aes"
	n.Meta["tier"] = "gold"
	return n
}

func TestConstraintOperands(t *testing.T) {
	n := constraintNode()
	cases := []struct {
		name  string
		l, op string
		r     string
		want  bool
	}{
		{"eq literal", "${attr.kernel.name}", "=", "linux", true},
		{"eq mismatch", "${attr.kernel.name}", "=", "windows", false},
		{"eq default operand", "${attr.kernel.name}", "", "linux", true},
		{"eq alias ==", "${attr.kernel.name}", "==", "linux", true},
		{"eq missing attr", "${attr.nope}", "=", "", false},
		{"neq", "${attr.kernel.name}", "!=", "windows", true},
		{"neq equal", "${attr.kernel.name}", "!=", "linux", false},
		{"neq missing attr", "${attr.nope}", "!=", "x", true},
		{"node id", "${node.unique.id}", "=", nodeID(1), true},
		{"node name", "${node.unique.name}", "=", "node-1", true},
		{"node dc", "${node.datacenter}", "=", "dc1", true},
		{"node class", "${node.class}", "=", "standard", true},
		{"node pool", "${node.pool}", "=", "gpu", true},
		{"meta", "${meta.tier}", "=", "gold", true},
		{"unknown ref", "${node.bogus}", "is_set", "", false},
		{"lt numeric", "${attr.cpu.numcores}", "<", "10", true},
		{"lt numeric false", "${attr.cpu.numcores}", "<", "4", false},
		{"le equal", "${attr.cpu.numcores}", "<=", "8", true},
		{"gt float", "${attr.cpu.frequency}", ">", "2.0", true},
		{"ge lexical", "${attr.kernel.name}", ">=", "linux", true},
		{"gt lexical false", "${attr.kernel.name}", ">", "zzz", false},
		{"order missing", "${attr.nope}", "<", "5", false},
		{"regexp", "${attr.kernel.name}", "regexp", "^lin.x$", true},
		{"regexp no match", "${attr.kernel.name}", "regexp", "^win", false},
		{"regexp invalid", "${attr.kernel.name}", "regexp", "([", false},
		{"version range", "${attr.nomad.version}", "version", ">= 1.2, < 2.0", true},
		{"version range out", "${attr.nomad.version}", "version", ">= 1.8", false},
		{"version pessimistic", "${attr.nomad.version}", "version", "~> 1.7", true},
		{"version prerelease excluded", "${attr.driver.docker.version}", "version", ">= 1.2", false},
		{"version invalid", "${attr.nomad.version}", "version", "not a version", false},
		{"semver prerelease ordered", "${attr.driver.docker.version}", "semver", ">= 1.2", true},
		{"semver below", "${attr.driver.docker.version}", "semver", ">= 1.3.0", false},
		{"semver range", "${attr.nomad.version}", "semver", ">= 1.7.0, < 1.8.0", true},
		{"semver invalid", "${attr.nomad.version}", "semver", "~> 1.7", false},
		{"set_contains", "${attr.features}", "set_contains", "avx,aes", true},
		{"set_contains missing one", "${attr.features}", "set_contains", "avx,avx512", false},
		{"set_contains_any", "${attr.features}", "set_contains_any", "avx512,sse4", true},
		{"set_contains_any none", "${attr.features}", "set_contains_any", "avx512,neon", false},
		{"is_set", "${attr.features}", "is_set", "", true},
		{"is_set missing", "${attr.nope}", "is_set", "", false},
		{"is_not_set", "${attr.nope}", "is_not_set", "", true},
		{"is_not_set present", "${meta.tier}", "is_not_set", "", false},
		{"literal both sides", "a", "=", "a", true},
		{"unknown operand", "a", "~~", "a", false},
	}
	c := newEvalCtx(nil, &structs.Evaluation{}, nil, "default", 0, Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc := c.compileConstraint(&structs.Constraint{LTarget: tc.l, Operand: tc.op, RTarget: tc.r})
			ok, reason := cc.Feasible(n)
			if ok != tc.want {
				t.Fatalf("%s %s %s: got %v, want %v", tc.l, tc.op, tc.r, ok, tc.want)
			}
			if !ok && reason != tc.l+" "+tc.op+" "+tc.r {
				t.Fatalf("reason %q", reason)
			}
		})
	}
}

func TestRegexpCompiledOncePerEval(t *testing.T) {
	c := newEvalCtx(nil, &structs.Evaluation{}, nil, "default", 0, Config{})
	a := c.compileConstraint(&structs.Constraint{LTarget: "${attr.kernel.name}", Operand: "regexp", RTarget: "^l"})
	b := c.compileConstraint(&structs.Constraint{LTarget: "${meta.x}", Operand: "regexp", RTarget: "^l"})
	if a.re == nil || a.re != b.re {
		t.Fatalf("regexp not shared: %p %p", a.re, b.re)
	}
}

func TestNodeChecks(t *testing.T) {
	base := func(mut func(n *structs.Node)) *structs.Node {
		n := mkNode(1, "dc-east-1", 1000, 1000)
		if mut != nil {
			mut(n)
		}
		return n
	}
	dc := func(pats ...string) nodeCheck {
		return newDatacenterCheck(&structs.Job{Datacenters: pats}, map[string]bool{})
	}
	pool := func(p string) nodeCheck { return newNodePoolCheck(&structs.Job{NodePool: p}) }
	drv := func(ds ...string) nodeCheck {
		tg := &structs.TaskGroup{}
		for _, d := range ds {
			tg.Tasks = append(tg.Tasks, &structs.Task{Name: d, Driver: d})
		}
		return newDriverCheck(tg)
	}
	cases := []struct {
		name  string
		check nodeCheck
		node  *structs.Node
		want  bool
	}{
		{"dc exact", dc("dc-east-1"), base(nil), true},
		{"dc other", dc("dc2"), base(nil), false},
		{"dc star", dc("*"), base(nil), true},
		{"dc prefix glob", dc("dc-east*"), base(nil), true},
		{"dc middle glob", dc("dc*-1"), base(nil), true},
		{"dc glob miss", dc("dc-west*"), base(nil), false},
		{"dc empty means all", dc(), base(nil), true},
		{"dc second pattern", dc("x", "dc-*"), base(nil), true},
		{"pool default", pool(""), base(nil), true},
		{"pool other", pool("gpu"), base(nil), false},
		{"pool all", pool("all"), base(func(n *structs.Node) { n.NodePool = "gpu" }), true},
		{"pool match", pool("gpu"), base(func(n *structs.Node) { n.NodePool = "gpu" }), true},
		{"ready", nodeReadyCheck{}, base(nil), true},
		{"down", nodeReadyCheck{}, base(func(n *structs.Node) { n.Status = structs.NodeStatusDown }), false},
		{"ineligible", nodeReadyCheck{}, base(func(n *structs.Node) { n.SchedulingEligibility = structs.NodeSchedulingIneligible }), false},
		{"draining", nodeReadyCheck{}, base(func(n *structs.Node) { n.Drain = true }), false},
		{"driver healthy", drv("raw_exec"), base(nil), true},
		{"driver missing", drv("docker"), base(nil), false},
		{"driver unhealthy", drv("raw_exec"), base(func(n *structs.Node) { n.Drivers["raw_exec"].Healthy = false }), false},
		{"driver undetected", drv("raw_exec"), base(func(n *structs.Node) { n.Drivers["raw_exec"].Detected = false }), false},
		{"driver attribute", drv("exec"), base(func(n *structs.Node) { n.Attributes["driver.exec"] = "1" }), true},
		{"driver attribute false", drv("exec"), base(func(n *structs.Node) { n.Attributes["driver.exec"] = "0" }), false},
		{"two drivers one missing", drv("raw_exec", "java"), base(nil), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ok, _ := tc.check.Feasible(tc.node); ok != tc.want {
				t.Fatalf("%s: got %v, want %v", tc.check.Name(), ok, tc.want)
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "abc", true}, {"a*c", "ab", false}, {"a*b*c", "axbyc", true}, {"a*b*c", "acb", false},
		{"abc", "abc", true}, {"abc", "abd", false}, {"ab*ab", "ab", false},
	}
	for _, tc := range cases {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestParsePortRanges(t *testing.T) {
	got := parsePortRanges("22, 80,8000-8002,bad,9-1,70000")
	want := []int{22, 80, 8000, 8001, 8002}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v", got)
		}
	}
}

func TestBinPackScorePrefersFuller(t *testing.T) {
	ask := structs.ComparableResources{CPU: 100, MemoryMB: 100}
	empty := &nodeInfo{capacity: structs.ComparableResources{CPU: 1000, MemoryMB: 1000}}
	half := &nodeInfo{capacity: empty.capacity, used: structs.ComparableResources{CPU: 500, MemoryMB: 500}}
	full := &nodeInfo{capacity: empty.capacity, used: structs.ComparableResources{CPU: 900, MemoryMB: 900}}
	se, sh, sf := binPackScore(empty, ask), binPackScore(half, ask), binPackScore(full, ask)
	if !(se < sh && sh < sf) {
		t.Fatalf("scores not increasing with fullness: %v %v %v", se, sh, sf)
	}
	if sf != 1 || se < 0 {
		t.Fatalf("scores out of range: empty %v full %v", se, sf)
	}
}
