// Package taskenv builds a task's environment (NOMAD_* variables, their
// ORCH_* aliases, meta, ports, the task's env block) and interpolates
// ${...} references in env values, args and driver config.
package taskenv

import (
	"net"
	"strconv"
	"strings"

	"github.com/orch-project/orch/structs"
)

// Dirs are the task's directories as the task sees them: host paths for
// unisolated drivers (raw_exec), /alloc, /local, /secrets otherwise.
type Dirs struct {
	AllocDir   string
	TaskDir    string // the task's local/ dir, Nomad's NOMAD_TASK_DIR
	SecretsDir string
	TmpDir     string
}

// IsolatedDirs are the paths inside a chroot or container.
var IsolatedDirs = Dirs{AllocDir: "/alloc", TaskDir: "/local", SecretsDir: "/secrets", TmpDir: "/tmp"}

// NodeInfo is what interpolation may read about the node.
type NodeInfo struct {
	Node   *structs.Node
	Region string
}

// Env is a task's built environment.
type Env struct {
	vars map[string]string // the process environment
	node map[string]string // node.*, attr.*, meta.* for interpolation only
}

// Build assembles the environment of task in alloc.
func Build(ni NodeInfo, alloc *structs.Allocation, task *structs.Task, dirs Dirs) *Env {
	e := &Env{vars: make(map[string]string, 64), node: nodeVars(ni)}
	nomad := make(map[string]string, 32)
	job := alloc.Job
	var tg *structs.TaskGroup
	if job != nil {
		tg = job.LookupTaskGroup(alloc.TaskGroup)
	}

	nomad["ALLOC_ID"] = alloc.ID
	if len(alloc.ID) >= 8 {
		nomad["SHORT_ALLOC_ID"] = alloc.ID[:8]
	}
	nomad["ALLOC_NAME"] = alloc.Name
	nomad["ALLOC_INDEX"] = strconv.Itoa(max(alloc.Index(), 0))
	nomad["JOB_ID"] = alloc.JobID
	nomad["GROUP_NAME"] = alloc.TaskGroup
	nomad["TASK_NAME"] = task.Name
	nomad["NAMESPACE"] = alloc.Namespace
	if job != nil {
		nomad["JOB_NAME"] = job.Name
		if job.ParentID != "" {
			nomad["JOB_PARENT_ID"] = job.ParentID
		}
		if nomad["NAMESPACE"] == "" {
			nomad["NAMESPACE"] = job.Namespace
		}
	}
	region := ni.Region
	if job != nil && job.Region != "" {
		region = job.Region
	}
	nomad["REGION"] = region
	if ni.Node != nil {
		nomad["DC"] = ni.Node.Datacenter
	}
	nomad["ALLOC_DIR"] = dirs.AllocDir
	nomad["TASK_DIR"] = dirs.TaskDir
	nomad["SECRETS_DIR"] = dirs.SecretsDir

	addResources(nomad, alloc, task)
	// Docker and a group network namespace (bridge, cni/*: portmap) map
	// host ports onto other ports inside the task's network namespace;
	// elsewhere the task binds the host port.
	addPorts(nomad, alloc, task.Name, task.Driver == "docker" || groupNamespace(alloc))

	// Meta: job < group < task, each key under its cleaned name and upper-cased.
	meta := map[string]string{}
	if job != nil {
		for k, v := range job.Meta {
			meta[k] = v
		}
	}
	if tg != nil {
		for k, v := range tg.Meta {
			meta[k] = v
		}
	}
	for k, v := range task.Meta {
		meta[k] = v
	}
	for k, v := range meta {
		ck := cleanName(k)
		nomad["META_"+ck] = v
		nomad["META_"+strings.ToUpper(ck)] = v
	}

	for k, v := range nomad {
		e.vars["NOMAD_"+k] = v
		e.vars["ORCH_"+k] = v
	}
	if dirs.TmpDir != "" {
		e.vars["TMPDIR"] = dirs.TmpDir
	}
	// The task's env block may reference everything above, not itself.
	for k, v := range task.Env {
		e.vars[k] = e.ReplaceString(v)
	}
	return e
}

func nodeVars(ni NodeInfo) map[string]string {
	m := map[string]string{"node.region": ni.Region}
	n := ni.Node
	if n == nil {
		return m
	}
	m["node.unique.id"] = n.ID
	m["node.unique.name"] = n.Name
	m["node.datacenter"] = n.Datacenter
	m["node.class"] = n.NodeClass
	m["node.pool"] = n.NodePool
	for k, v := range n.Attributes {
		m["attr."+k] = v
	}
	for k, v := range n.Meta {
		m["meta."+k] = v
	}
	return m
}

func addResources(nomad map[string]string, alloc *structs.Allocation, task *structs.Task) {
	var cpu, mem, memMax int64
	var cores []uint16
	if ar := alloc.AllocatedResources; ar != nil && ar.Tasks[task.Name] != nil {
		tr := ar.Tasks[task.Name]
		cpu, mem, memMax, cores = tr.Cpu.CpuShares, tr.Memory.MemoryMB, tr.Memory.MemoryMaxMB, tr.Cpu.ReservedCores
	} else if r := task.Resources; r != nil {
		cpu, mem, memMax = int64(r.CPU), int64(r.MemoryMB), int64(r.MemoryMaxMB)
	}
	nomad["CPU_LIMIT"] = strconv.FormatInt(cpu, 10)
	nomad["MEMORY_LIMIT"] = strconv.FormatInt(mem, 10)
	if memMax > 0 {
		nomad["MEMORY_MAX_LIMIT"] = strconv.FormatInt(memMax, 10)
	}
	if len(cores) > 0 {
		s := make([]string, len(cores))
		for i, c := range cores {
			s[i] = strconv.Itoa(int(c))
		}
		nomad["CPU_CORES"] = strings.Join(s, ",")
	}
}

// addPorts exposes each port label as NOMAD_{IP,PORT,ADDR,ALLOC_PORT,
// HOST_IP,HOST_PORT,HOST_ADDR}_<label>. NOMAD_PORT is the port the task
// binds: the mapped `to` port for a driver that maps ports (docker), the
// host port otherwise. NOMAD_ALLOC_PORT is the port inside the allocation's
// network, `to` (which defaults to the host port).
func addPorts(nomad map[string]string, alloc *structs.Allocation, task string, mapped bool) {
	add := func(label, ip string, value, to int) {
		l := cleanName(label)
		if to <= 0 {
			to = value
		}
		port := value
		if mapped {
			port = to
		}
		hp := strconv.Itoa(value)
		nomad["IP_"+l] = ip
		nomad["PORT_"+l] = strconv.Itoa(port)
		nomad["ADDR_"+l] = net.JoinHostPort(ip, strconv.Itoa(port))
		nomad["ALLOC_PORT_"+l] = strconv.Itoa(to)
		nomad["HOST_IP_"+l] = ip
		nomad["HOST_PORT_"+l] = hp
		nomad["HOST_ADDR_"+l] = net.JoinHostPort(ip, hp)
	}
	ar := alloc.AllocatedResources
	if ar == nil {
		return
	}
	for _, nw := range ar.Shared.Networks {
		for _, p := range append(append([]structs.Port{}, nw.ReservedPorts...), nw.DynamicPorts...) {
			if p.Value > 0 {
				add(p.Label, nw.IP, p.Value, p.To)
			}
		}
	}
	if tr := ar.Tasks[task]; tr != nil {
		for _, nw := range tr.Networks {
			for _, p := range append(append([]structs.Port{}, nw.ReservedPorts...), nw.DynamicPorts...) {
				if p.Value > 0 {
					add(p.Label, nw.IP, p.Value, p.To)
				}
			}
		}
	}
	// Shared.Ports is the authoritative mapping; it wins over networks.
	for _, p := range ar.Shared.Ports {
		add(p.Label, p.HostIP, p.Value, p.To)
	}
}

// cleanName makes s usable in an environment variable name.
func cleanName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Map returns a copy of the process environment.
func (e *Env) Map() map[string]string {
	out := make(map[string]string, len(e.vars))
	for k, v := range e.vars {
		out[k] = v
	}
	return out
}

// Get returns one variable of the process environment.
func (e *Env) Get(k string) (string, bool) {
	v, ok := e.vars[k]
	return v, ok
}

// WithVars returns a copy of e whose process environment also holds extra,
// which overrides what e has (a task hook's contribution, e.g. a template
// with env = true). e is unchanged, so it is safe to share.
func (e *Env) WithVars(extra map[string]string) *Env {
	if len(extra) == 0 {
		return e
	}
	c := &Env{vars: make(map[string]string, len(e.vars)+len(extra)), node: e.node}
	for k, v := range e.vars {
		c.vars[k] = v
	}
	for k, v := range extra {
		c.vars[k] = v
	}
	return c
}

// WithInterp returns a copy of e that also resolves extra's names in
// ${...} interpolation without putting them in the process environment
// (a secret block's ${secret.<name>.<key>}). e is unchanged.
func (e *Env) WithInterp(extra map[string]string) *Env {
	if len(extra) == 0 {
		return e
	}
	c := &Env{vars: e.vars, node: make(map[string]string, len(e.node)+len(extra))}
	for k, v := range e.node {
		c.node[k] = v
	}
	for k, v := range extra {
		c.node[k] = v
	}
	return c
}

// groupNamespace reports whether the allocation's group has a network
// namespace of its own, where ports are mapped (bridge or cni/<name>).
func groupNamespace(alloc *structs.Allocation) bool {
	if alloc == nil || alloc.Job == nil {
		return false
	}
	tg := alloc.Job.LookupTaskGroup(alloc.TaskGroup)
	if tg == nil || len(tg.Networks) == 0 {
		return false
	}
	m := tg.Networks[0].Mode
	return m == "bridge" || strings.HasPrefix(m, "cni/")
}
