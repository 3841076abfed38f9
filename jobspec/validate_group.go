package jobspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orch-project/orch/structs"
)

var (
	validNetworkModes  = []string{"", "host", "bridge", "none"}
	validVolumeTypes   = []string{"host", "csi"}
	validReconcile     = []string{"best_score", "longest_running", "keep_original", "keep_replacement"}
	validCheckTypes    = []string{"http", "tcp", "script", "grpc"}
	validAddressModes  = []string{"", "auto", "host", "driver", "alloc"}
	validProviders     = []string{"nomad", "consul"}
	validOnUpdate      = []string{"", "require_healthy", "ignore_warnings", "ignore"}
	validLifecycleHook = []string{structs.TaskLifecycleHookPrestart, structs.TaskLifecycleHookPoststart, structs.TaskLifecycleHookPoststop}
)

func (v *validator) group(job *structs.Job, path string, tg *structs.TaskGroup) {
	if tg.Count < 0 {
		v.add(path, "count %d must not be negative", tg.Count)
	}
	v.scaling(path, tg)
	v.constraints(path, tg.Constraints)
	v.affinities(path, tg.Affinities)
	v.spreads(path, tg.Spreads)
	if tg.RestartPolicy != nil {
		v.restart(joinPath(path, "restart"), tg.RestartPolicy)
	}
	if tg.ReschedulePolicy != nil {
		v.reschedule(joinPath(path, "reschedule"), job.Type, tg.ReschedulePolicy)
	}
	if tg.Update != nil {
		v.update(joinPath(path, "update"), tg.Update)
		v.updateForType(joinPath(path, "update"), job.Type, tg.Update, job.Update != nil && *job.Update == *tg.Update)
		if tg.Update.Canary > 0 && tg.Update.MaxParallel > 0 && tg.Count > 0 && job.Type == structs.JobTypeService &&
			tg.Update.Canary > tg.Count {
			v.add(joinPath(path, "update"), "canary %d must not exceed count %d", tg.Update.Canary, tg.Count)
		}
	}
	if tg.Migrate != nil {
		v.migrate(joinPath(path, "migrate"), tg.Migrate)
	}
	if d := tg.EphemeralDisk; d != nil && d.SizeMB < 0 {
		v.add(joinPath(path, "ephemeral_disk"), "size must not be negative")
	}
	for _, p := range []struct {
		name string
		d    *time.Duration
	}{
		{"shutdown_delay", tg.ShutdownDelay}, {"stop_after_client_disconnect", tg.StopAfterClientDisconnect},
		{"max_client_disconnect", tg.MaxClientDisconnect}, {"max_run_duration", tg.MaxRunDuration},
	} {
		if p.d != nil && *p.d < 0 {
			v.add(path, "%s must not be negative", p.name)
		}
	}
	if ds := tg.Disconnect; ds != nil {
		dp := joinPath(path, "disconnect")
		if ds.LostAfter < 0 {
			v.add(dp, "lost_after must not be negative")
		}
		if ds.Reconcile != "" && !contains(validReconcile, ds.Reconcile) {
			v.add(dp, "invalid reconcile %q", ds.Reconcile)
		}
		if ds.LostAfter > 0 && tg.MaxClientDisconnect != nil {
			v.add(dp, "lost_after and the group's max_client_disconnect cannot both be set")
		}
		if ds.LostAfter > 0 && ds.StopOnClientAfter != nil {
			v.add(dp, "lost_after and stop_on_client_after cannot both be set")
		}
		if ds.StopOnClientAfter != nil && *ds.StopOnClientAfter < 0 {
			v.add(dp, "stop_on_client_after must not be negative")
		}
		if ds.StopOnClientAfter != nil && tg.StopAfterClientDisconnect != nil {
			v.add(dp, "stop_on_client_after and the group's stop_after_client_disconnect cannot both be set")
		}
	}

	ports := v.networks(path, tg.Networks)
	v.groupNamespace(path, tg)
	for i, s := range tg.Services {
		if s == nil {
			v.add(joinPath(path, fmt.Sprintf("service[%d]", i)), "service is null")
			continue
		}
		v.service(joinPath(path, fmt.Sprintf("service %q", s.Name)), s, ports, tg, true)
	}
	for name, vol := range tg.Volumes {
		vp := joinPath(path, fmt.Sprintf("volume %q", name))
		if vol == nil {
			v.add(vp, "volume is null")
			continue
		}
		if !contains(validVolumeTypes, vol.Type) {
			v.add(vp, "invalid volume type %q: must be host or csi", vol.Type)
		}
		if vol.Source == "" {
			v.add(vp, "missing volume source")
		}
	}

	if len(tg.Tasks) == 0 {
		v.add(path, "group must have at least one task")
	}
	seen := map[string]bool{}
	leaders, mains := 0, 0
	for i, t := range tg.Tasks {
		if t == nil {
			v.add(joinPath(path, fmt.Sprintf("task[%d]", i)), "task is null")
			continue
		}
		tp := joinPath(path, fmt.Sprintf("task %q", t.Name))
		if t.Name == "" {
			tp = joinPath(path, fmt.Sprintf("task[%d]", i))
			v.add(tp, "missing task name")
		} else if err := checkDirName(t.Name); err != nil {
			v.add(tp, "invalid task name: %v", err)
		} else if t.Name == "alloc" {
			// <alloc-dir>/alloc is the group's shared directory.
			v.add(tp, `invalid task name: "alloc" is reserved for the allocation's shared directory`)
		} else if seen[t.Name] {
			v.add(tp, "duplicate task name %q", t.Name)
		}
		seen[t.Name] = true
		if t.Leader {
			leaders++
		}
		if t.Lifecycle == nil {
			mains++
		}
		// Each task's log budget must fit the group's disk on its own, as
		// Nomad checks it (the budgets are not summed).
		if l, d := t.LogConfig, tg.EphemeralDisk; l != nil && !l.Disabled && d != nil && d.SizeMB > 0 {
			if mb := l.MaxFiles * l.MaxFileSizeMB; mb >= d.SizeMB {
				v.add(tp, "log storage (%d MB) must be less than requested disk capacity (%d MB)", mb, d.SizeMB)
			}
		}
		v.task(job, tp, tg, t, ports)
	}
	if leaders > 1 {
		v.add(path, "only one task may be the leader, found %d", leaders)
	}
	if len(tg.Tasks) > 0 && mains == 0 {
		v.add(path, "group must have at least one task without a lifecycle block")
	}
}

// networks validates group networks and returns the declared port labels.
func (v *validator) networks(path string, nets []*structs.NetworkResource) map[string]bool {
	ports := map[string]bool{}
	if len(nets) > 1 {
		v.add(path, "only one network block is allowed per group, found %d", len(nets))
	}
	for _, n := range nets {
		np := joinPath(path, "network")
		if n == nil {
			v.add(np, "network is null")
			continue
		}
		if !contains(validNetworkModes, n.Mode) && !isCNIMode(n.Mode) {
			v.add(np, "invalid network mode %q", n.Mode)
		}
		check := func(p structs.Port, static bool) {
			pp := joinPath(np, fmt.Sprintf("port %q", p.Label))
			if p.Label == "" {
				v.add(np, "port without a label")
			} else if ports[p.Label] {
				v.add(pp, "duplicate port label %q", p.Label)
			}
			ports[p.Label] = true
			if static && (p.Value < 1 || p.Value > 65535) {
				v.add(pp, "static port %d must be between 1 and 65535", p.Value)
			}
			if !static && p.Value != 0 {
				v.add(pp, "dynamic port must not set a value")
			}
			if p.To < -1 || p.To > 65535 {
				v.add(pp, "to %d must be between -1 and 65535", p.To)
			}
			if p.IgnoreCollision && n.Mode != "" && n.Mode != "host" {
				// A namespaced group's port is published by a DNAT rule,
				// not a bind the kernel refuses while another socket
				// holds the port: ignoring the collision would let the
				// group take over another allocation's or the
				// operator's port.
				v.add(joinPath(pp, "ignore_collision"), "ignore_collision needs network mode \"host\", not %q: the port would be taken over from whoever holds it", n.Mode)
			}
		}
		for _, p := range n.ReservedPorts {
			check(p, true)
		}
		for _, p := range n.DynamicPorts {
			check(p, false)
		}
	}
	return ports
}

func hasDriver(tg *structs.TaskGroup, driver string) bool {
	for _, t := range tg.Tasks {
		if t != nil && t.Driver == driver {
			return true
		}
	}
	return false
}

// allocAddressModes refuses address_mode "alloc" in a group without an
// address of its own (host or none networking).
func (v *validator) allocAddressModes(path string, tg *structs.TaskGroup) {
	const msg = `address_mode "alloc" needs the group's network mode to be bridge or cni/<name>`
	check := func(sp string, s *structs.Service) {
		if s == nil {
			return
		}
		if s.AddressMode == "alloc" {
			v.add(joinPath(sp, "address_mode"), msg)
		}
		for i, c := range s.Checks {
			if c != nil && c.AddressMode == "alloc" {
				v.add(joinPath(joinPath(sp, fmt.Sprintf("check[%d]", i)), "address_mode"), msg)
			}
		}
	}
	for _, s := range tg.Services {
		if s != nil {
			check(joinPath(path, fmt.Sprintf("service %q", s.Name)), s)
		}
	}
	for _, t := range tg.Tasks {
		if t == nil {
			continue
		}
		for _, s := range t.Services {
			if s != nil {
				check(joinPath(joinPath(path, fmt.Sprintf("task %q", t.Name)), fmt.Sprintf("service %q", s.Name)), s)
			}
		}
	}
}

func isCNIMode(m string) bool { return len(m) > 4 && m[:4] == "cni/" }

// groupNamespace refuses what a group network namespace (bridge, none,
// cni/*) cannot give: a dns block for raw_exec tasks (no mount namespace
// to bind resolv.conf into) and ports in mode none (nothing to publish
// them on). Like the field-state table, these say what orch cannot do, so
// they follow its switch.
func (v *validator) groupNamespace(path string, tg *structs.TaskGroup) {
	if !v.fields {
		return
	}
	var n *structs.NetworkResource
	if len(tg.Networks) > 0 {
		n = tg.Networks[0]
	}
	if n == nil || n.Mode != "bridge" && !isCNIMode(n.Mode) {
		v.allocAddressModes(path, tg)
	}
	if n != nil && n.Hostname != "" && !((n.Mode == "bridge" || isCNIMode(n.Mode)) && hasDriver(tg, "docker")) {
		v.add(joinPath(joinPath(path, "network"), "hostname"), "hostname needs network mode bridge (or cni/<name>) and a docker task in the group: the docker driver's sandbox holds the namespace's hostname, as in Nomad")
	}
	if n == nil || n.Mode != "bridge" && n.Mode != "none" && !isCNIMode(n.Mode) {
		return
	}
	np := joinPath(path, "network")
	if n.DNS != nil && len(n.DNS.Servers)+len(n.DNS.Searches)+len(n.DNS.Options) > 0 {
		for _, t := range tg.Tasks {
			if t != nil && t.Driver == "raw_exec" {
				v.add(joinPath(np, "dns"), "dns cannot be given to raw_exec task %q: raw_exec has no mount namespace to bind the allocation's resolv.conf into", t.Name)
			}
		}
	}
	if n.Mode == "none" && len(n.ReservedPorts)+len(n.DynamicPorts) > 0 {
		v.add(joinPath(np, "port"), "ports cannot be published in network mode none")
	}
}

func (v *validator) service(path string, s *structs.Service, ports map[string]bool, tg *structs.TaskGroup, groupLevel bool) {
	if s.Name == "" {
		v.add(path, "missing service name")
	} else if !strings.Contains(s.Name, "${") && !validServiceName(s.Name) {
		v.add(path, "service name %q must be alphanumeric with dashes, at most 63 characters, and not start or end with a dash", s.Name)
	}
	if !contains(validProviders, s.Provider) {
		v.add(path, "invalid provider %q: must be nomad or consul", s.Provider)
	}
	if !contains(validAddressModes, s.AddressMode) {
		v.add(path, "invalid address_mode %q", s.AddressMode)
	}
	if !contains(validOnUpdate, s.OnUpdate) {
		v.add(path, "invalid on_update %q", s.OnUpdate)
	}
	v.portRef(path, s.PortLabel, ports)
	if groupLevel && s.TaskName != "" && !hasTask(tg, s.TaskName) {
		v.add(path, "task %q does not exist in the group", s.TaskName)
	}
	v.serviceNative(path, s, tg, groupLevel)
	for i, c := range s.Checks {
		if c == nil {
			v.add(joinPath(path, fmt.Sprintf("check[%d]", i)), "check is null")
			continue
		}
		cp := joinPath(path, fmt.Sprintf("check[%d]", i))
		if c.Name != "" {
			cp = joinPath(path, fmt.Sprintf("check %q", c.Name))
		}
		v.check(cp, c, s, ports)
	}
}

// portRef checks that a service or check refers to a port the group's
// network defines (a literal port number is allowed as well).
func (v *validator) portRef(path, label string, ports map[string]bool) {
	if label == "" {
		return
	}
	if n, err := strconv.Atoi(label); err == nil {
		if n < 1 || n > 65535 {
			v.add(path, "port %d must be between 1 and 65535", n)
		}
		return
	}
	if !ports[label] {
		v.add(path, "port label %q is not defined by any network in the group", label)
	}
}

func (v *validator) check(path string, c *structs.ServiceCheck, s *structs.Service, ports map[string]bool) {
	if !contains(validCheckTypes, c.Type) {
		v.add(path, "invalid check type %q: must be one of http, tcp, script, grpc", c.Type)
	}
	if c.Interval <= 0 {
		v.add(path, "check interval must be greater than zero")
	}
	if c.Timeout <= 0 {
		v.add(path, "check timeout must be greater than zero")
	}
	switch c.Type {
	case "http":
		if c.Path == "" {
			v.add(path, "http check needs a path")
		}
	case "script":
		if c.Command == "" {
			v.add(path, "script check needs a command")
		}
	}
	if c.Type != "script" && c.PortLabel == "" && s.PortLabel == "" && c.AddressMode != "driver" {
		v.add(path, "%s check needs a port (on the check or its service)", c.Type)
	}
	if !contains(validAddressModes, c.AddressMode) {
		v.add(path, "invalid address_mode %q", c.AddressMode)
	}
	if !contains(validOnUpdate, c.OnUpdate) {
		v.add(path, "invalid on_update %q", c.OnUpdate)
	}
	v.portRef(path, c.PortLabel, ports)
	if cr := c.CheckRestart; cr != nil {
		if cr.Limit < 0 {
			v.add(path, "check_restart limit must not be negative")
		}
		if cr.Grace < 0 {
			v.add(path, "check_restart grace must not be negative")
		}
	}
}

// validServiceName follows RFC 1123 labels, as Nomad does.
func validServiceName(n string) bool {
	if len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func hasTask(tg *structs.TaskGroup, name string) bool {
	for _, t := range tg.Tasks {
		if t != nil && t.Name == name {
			return true
		}
	}
	return false
}
