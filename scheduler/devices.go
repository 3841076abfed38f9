package scheduler

import (
	"regexp"
	"slices"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/orch-project/orch/structs"
)

// Devices are an exclusive resource with instance IDs: a task's device
// block asks for Count healthy instances of one device group (vendor, type,
// model) that satisfies its constraints; its affinities choose between
// groups. A node without any matching group is filtered ("missing devices:
// <name>"); one whose matching groups have too few free instances is
// exhausted ("devices: <name>").

const (
	reasonMissingDevices = "missing devices: "
	dimDevices           = "devices: "
	scoreDevices         = "devices"
)

// deviceAsk is one task's device block compiled for the eval.
type deviceAsk struct {
	task   string
	name   string
	want   structs.DeviceName
	count  int
	cons   []*deviceCheck
	affs   []*deviceCheck
	affSum float64
}

// deviceCheck is a device constraint or affinity: a comparison between
// ${device.*} references and literals.
type deviceCheck struct {
	op     string
	l, r   deviceTarget
	re     *regexp.Regexp
	vc     version.Constraints
	sv     []semverTerm
	weight float64
	bad    bool
}

type deviceTarget struct {
	kind string // "lit", "vendor", "type", "model", "ids", "attr"
	key  string
	lit  *structs.Attribute
}

func parseDeviceTarget(s string) deviceTarget {
	ref, isRef := strings.CutPrefix(s, "${")
	if isRef && strings.HasSuffix(ref, "}") {
		ref = strings.TrimSuffix(ref, "}")
		switch ref {
		case "device.vendor":
			return deviceTarget{kind: "vendor"}
		case "device.type":
			return deviceTarget{kind: "type"}
		case "device.model":
			return deviceTarget{kind: "model"}
		case "device.ids":
			return deviceTarget{kind: "ids"}
		}
		if k, ok := strings.CutPrefix(ref, "device.attr."); ok {
			return deviceTarget{kind: "attr", key: k}
		}
		return deviceTarget{kind: "unknown"}
	}
	return deviceTarget{kind: "lit", lit: parseAttribute(s)}
}

// resolve returns the target's value for a device group.
func (t deviceTarget) resolve(d *structs.NodeDeviceResource) *structs.Attribute {
	switch t.kind {
	case "lit":
		return t.lit
	case "vendor":
		return structs.NewStringAttribute(d.Vendor)
	case "type":
		return structs.NewStringAttribute(d.Type)
	case "model":
		return structs.NewStringAttribute(d.Name)
	case "ids":
		ids := make([]string, 0, len(d.Instances))
		for _, in := range d.Instances {
			if in != nil {
				ids = append(ids, in.ID)
			}
		}
		return structs.NewStringAttribute(strings.Join(ids, ","))
	case "attr":
		return d.Attributes[t.key]
	}
	return nil
}

func (c *evalCtx) compileDeviceCheck(lt, op, rt string, weight int8) *deviceCheck {
	dc := &deviceCheck{op: normalizeOperand(op), l: parseDeviceTarget(lt), r: parseDeviceTarget(rt), weight: float64(weight)}
	switch dc.op {
	case structs.ConstraintRegex:
		dc.re, dc.bad = c.regexp(rt)
	case structs.ConstraintVersion:
		dc.vc, dc.bad = c.versionConstraint(rt)
	case structs.ConstraintSemver:
		dc.sv, dc.bad = c.semverConstraint(rt)
	case structs.ConstraintEqual, structs.ConstraintNotEqual, structs.ConstraintLess, structs.ConstraintLessEqual,
		structs.ConstraintGreater, structs.ConstraintGreaterEqual, structs.ConstraintSetContains,
		structs.ConstraintSetContainsAny, structs.ConstraintIsSet, structs.ConstraintIsNotSet:
	default:
		dc.bad = true
	}
	if dc.l.kind == "unknown" || dc.r.kind == "unknown" {
		dc.bad = true
	}
	return dc
}

// match evaluates the check against a device group.
func (dc *deviceCheck) match(d *structs.NodeDeviceResource) bool {
	if dc.bad {
		return false
	}
	l, r := dc.l.resolve(d), dc.r.resolve(d)
	switch dc.op {
	case structs.ConstraintIsSet:
		return l != nil
	case structs.ConstraintIsNotSet:
		return l == nil
	}
	if l == nil || r == nil {
		return dc.op == structs.ConstraintNotEqual && (l == nil) != (r == nil)
	}
	switch dc.op {
	case structs.ConstraintRegex:
		return dc.re.MatchString(attrText(l))
	case structs.ConstraintVersion:
		v, err := version.NewVersion(attrText(l))
		return err == nil && dc.vc.Check(v)
	case structs.ConstraintSemver:
		v, err := version.NewSemver(attrText(l))
		return err == nil && semverCheck(dc.sv, v)
	case structs.ConstraintSetContains:
		return setContains(attrText(l), attrText(r), false)
	case structs.ConstraintSetContainsAny:
		return setContains(attrText(l), attrText(r), true)
	}
	cmp, ok := compareAttributes(l, r)
	if !ok {
		return dc.op == structs.ConstraintNotEqual
	}
	if l.BoolVal != nil && dc.op != structs.ConstraintEqual && dc.op != structs.ConstraintNotEqual {
		return false
	}
	switch dc.op {
	case structs.ConstraintEqual:
		return cmp == 0
	case structs.ConstraintNotEqual:
		return cmp != 0
	}
	return orderOK(dc.op, cmp)
}

// compileDevices compiles the device blocks of a group's tasks.
func (c *evalCtx) compileDevices(tg *structs.TaskGroup) []*deviceAsk {
	var out []*deviceAsk
	for _, t := range tg.Tasks {
		if t.Resources == nil {
			continue
		}
		for _, rd := range t.Resources.Devices {
			if rd == nil {
				continue
			}
			ask := &deviceAsk{task: t.Name, name: rd.Name, want: structs.ParseDeviceName(rd.Name), count: max(int(rd.Count), 1)}
			for _, con := range rd.Constraints {
				if con != nil {
					ask.cons = append(ask.cons, c.compileDeviceCheck(con.LTarget, con.Operand, con.RTarget, 0))
				}
			}
			for _, a := range rd.Affinities {
				if a != nil && a.Weight != 0 {
					ask.affs = append(ask.affs, c.compileDeviceCheck(a.LTarget, a.Operand, a.RTarget, a.Weight))
					ask.affSum += abs(float64(a.Weight))
				}
			}
			out = append(out, ask)
		}
	}
	return out
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// eligible reports whether a node's device group can serve the ask: the
// right kind and every constraint met.
func (ask *deviceAsk) eligible(d *structs.NodeDeviceResource) bool {
	if d == nil || !ask.want.Matches(d) {
		return false
	}
	for _, dc := range ask.cons {
		if !dc.match(d) {
			return false
		}
	}
	return true
}

// affinity scores a device group for the ask in -1..1.
func (ask *deviceAsk) affinity(d *structs.NodeDeviceResource) float64 {
	if ask.affSum == 0 {
		return 0
	}
	var s float64
	for _, a := range ask.affs {
		if a.match(d) {
			s += a.weight
		}
	}
	return s / ask.affSum
}

// devicesCheck is the static half: every ask has an eligible group with
// enough healthy instances on the node, free or not.
type devicesCheck struct{ asks []*deviceAsk }

func (devicesCheck) Name() string { return "Devices" }

func (dc devicesCheck) Feasible(n *structs.Node) (bool, string) {
	for _, ask := range dc.asks {
		ok := false
		if n.NodeResources != nil {
			for _, d := range n.NodeResources.Devices {
				if ask.eligible(d) && healthyCount(d) >= ask.count {
					ok = true
					break
				}
			}
		}
		if !ok {
			return false, reasonMissingDevices + ask.name
		}
	}
	return true, ""
}

func healthyCount(d *structs.NodeDeviceResource) int {
	n := 0
	for _, in := range d.Instances {
		if in != nil && in.Healthy {
			n++
		}
	}
	return n
}

// deviceGrant is the instances chosen for one ask.
type deviceGrant struct {
	task  string
	group *structs.NodeDeviceResource
	ids   []string
}

// assignDevices chooses instances for every ask on the node, given the
// instances already held there: for each ask the eligible group with the
// best affinity that has enough free healthy instances, its first free
// ones in the node's order. It returns the grants, the mean affinity score
// of asks that have affinities, and the dimension exhausted when an ask
// cannot be served.
func assignDevices(asks []*deviceAsk, n *structs.Node, held map[string]struct{}) ([]deviceGrant, float64, string) {
	if n.NodeResources == nil {
		return nil, 0, dimDevices + asks[0].name
	}
	taken := map[string]struct{}{}
	free := func(id string) bool {
		_, h := held[id]
		_, t := taken[id]
		return !h && !t
	}
	var (
		grants         []deviceGrant
		scoreSum       float64
		scored         int
		groups         = n.NodeResources.Devices
		order          = make([]int, 0, len(groups))
		affinityScores = make([]float64, len(groups))
	)
	for _, ask := range asks {
		order = order[:0]
		for i, d := range groups {
			if ask.eligible(d) {
				order = append(order, i)
				affinityScores[i] = ask.affinity(d)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return compareFloat(affinityScores[b], affinityScores[a]) })
		granted := false
		for _, i := range order {
			d := groups[i]
			var ids []string
			for _, in := range d.Instances {
				if in != nil && in.Healthy && free(in.ID) {
					ids = append(ids, in.ID)
					if len(ids) == ask.count {
						break
					}
				}
			}
			if len(ids) < ask.count {
				continue
			}
			for _, id := range ids {
				taken[id] = struct{}{}
			}
			grants = append(grants, deviceGrant{task: ask.task, group: d, ids: ids})
			if ask.affSum > 0 {
				scoreSum += affinityScores[i]
				scored++
			}
			granted = true
			break
		}
		if !granted {
			return nil, 0, dimDevices + ask.name
		}
	}
	if scored > 0 {
		scoreSum /= float64(scored)
	}
	return grants, scoreSum, ""
}
