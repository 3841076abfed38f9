// Package services registers an allocation's group and task services in
// the servers' native catalog and runs their health checks: the
// registration and check hooks, the client-wide registrar that keeps the
// servers' view in step (batched, retried), and the check runners whose
// results feed the registrations' status, check_restart and allocation
// health.
package services

import (
	"fmt"
	"net"
	"strconv"

	"github.com/orch-project/orch/client/taskenv"
	"github.com/orch-project/orch/structs"
)

// Address modes of services and checks.
const (
	AddressModeAuto   = "auto"
	AddressModeHost   = "host"
	AddressModeAlloc  = "alloc"
	AddressModeDriver = "driver"
)

// ServiceID is the ID of one service instance, as Nomad names them:
// _nomad-task-<alloc>-<task or "group-"+group>-<service>-<port label>.
func ServiceID(allocID, owner, service, port string) string {
	return "_nomad-task-" + allocID + "-" + owner + "-" + service + "-" + port
}

// GroupOwner is the owner part of a group service's ID.
func GroupOwner(group string) string { return "group-" + group }

// Instance is one service of an allocation with what its registration
// and checks need, resolved for the allocation.
type Instance struct {
	// Service is the job's service block, with its name and tags
	// interpolated.
	Service *structs.Service
	// Task is the owning task, "" for a group service.
	Task string
	Reg  *structs.ServiceRegistration
}

// Build resolves services (a group's or a task's) of alloc into
// registrations: interpolated names, tags (canary_tags for a canary),
// meta, and the address and port their address_mode picks. task is "" for
// group services. ports are the group's ports mapped onto the node;
// allocIP is the allocation's own address in its bridge or CNI network
// ("" in host networking), for address_mode "alloc".
func Build(alloc *structs.Allocation, task string, svcs []*structs.Service, env *taskenv.Env,
	node *structs.Node, ports []structs.AllocatedPort, allocIP string) ([]*Instance, error) {
	owner := task
	if task == "" {
		owner = GroupOwner(alloc.TaskGroup)
	}
	canary := isCanary(alloc)
	out := make([]*Instance, 0, len(svcs))
	for _, s := range svcs {
		svc := interpolate(s, env, canary)
		if !structs.ValidServiceName(svc.Name) {
			return nil, fmt.Errorf("service %q: name is not a valid RFC 1123 hostname label", svc.Name)
		}
		addr, port, err := serviceAddress(svc.AddressMode, svc.Address, svc.PortLabel, node, ports, allocIP)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		tags := svc.Tags
		meta := svc.Meta
		if canary {
			if len(svc.CanaryTags) > 0 {
				tags = svc.CanaryTags
			}
			if len(svc.CanaryMeta) > 0 {
				meta = svc.CanaryMeta
			}
		}
		reg := &structs.ServiceRegistration{
			ID: ServiceID(alloc.ID, owner, svc.Name, svc.PortLabel), ServiceName: svc.Name,
			Namespace: alloc.Namespace, JobID: alloc.JobID, AllocID: alloc.ID,
			Tags: append([]string{}, tags...), Address: addr, Port: port, Meta: copyMeta(meta),
		}
		if node != nil {
			reg.NodeID, reg.Datacenter = node.ID, node.Datacenter
		}
		if reg.Namespace == "" {
			reg.Namespace = structs.DefaultNamespace
		}
		out = append(out, &Instance{Service: svc, Task: task, Reg: reg})
	}
	return out, nil
}

// interpolate returns a copy of s with ${...} resolved in the fields Nomad
// interpolates: name, tags, canary tags, meta, address, port label.
func interpolate(s *structs.Service, env *taskenv.Env, canary bool) *structs.Service {
	c := *s
	c.Name = env.ReplaceString(s.Name)
	c.Tags = env.ReplaceStrings(s.Tags)
	c.CanaryTags = env.ReplaceStrings(s.CanaryTags)
	c.Address = env.ReplaceString(s.Address)
	c.PortLabel = env.ReplaceString(s.PortLabel)
	c.Meta = replaceMap(env, s.Meta)
	c.CanaryMeta = replaceMap(env, s.CanaryMeta)
	if c.AddressMode == "" {
		c.AddressMode = AddressModeAuto
	}
	return &c
}

func replaceMap(env *taskenv.Env, m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = env.ReplaceString(v)
	}
	return out
}

func copyMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// serviceAddress picks a service's address and port. "auto" and "host"
// are the node's address and the port's host port, a numeric port being
// taken as is; "address", when set, replaces the address. "alloc" is the
// allocation's address in its bridge or CNI network and the port inside
// it (`to`). "driver" (a driver's own network) is refused at submit.
func serviceAddress(mode, address, label string, node *structs.Node, ports []structs.AllocatedPort, allocIP string) (string, int, error) {
	switch mode {
	case "", AddressModeAuto, AddressModeHost:
	case AddressModeAlloc:
		return allocAddress(address, label, ports, allocIP)
	default:
		return "", 0, fmt.Errorf("address_mode %q needs a network mode orch does not offer", mode)
	}
	ip := nodeIP(node)
	port := 0
	if label != "" {
		p, found := lookupPort(ports, label)
		switch {
		case found:
			port = p.Value
			if p.HostIP != "" {
				ip = p.HostIP
			}
		default:
			n, err := strconv.Atoi(label)
			if err != nil || n < 0 || n > 65535 {
				return "", 0, fmt.Errorf("port %q is neither a port label of the group's network nor a port number", label)
			}
			port = n
		}
	}
	if address != "" {
		if mode == AddressModeHost {
			return "", 0, fmt.Errorf("address %q cannot be used with address_mode \"host\"", address)
		}
		ip = address
	}
	return ip, port, nil
}

// allocAddress is address_mode "alloc": the allocation's address and the
// port inside its namespace (a label's `to`, or a number as is).
func allocAddress(address, label string, ports []structs.AllocatedPort, allocIP string) (string, int, error) {
	if allocIP == "" {
		return "", 0, fmt.Errorf("address_mode \"alloc\" needs the group's network mode to be bridge or cni/<name> (the allocation has no address of its own)")
	}
	ip, port := allocIP, 0
	if address != "" {
		ip = address
	}
	if label != "" {
		if p, ok := lookupPort(ports, label); ok {
			port = p.To
			if port <= 0 {
				port = p.Value
			}
		} else if n, err := strconv.Atoi(label); err == nil && n >= 0 && n <= 65535 {
			port = n
		} else {
			return "", 0, fmt.Errorf("port %q is neither a port label of the group's network nor a port number", label)
		}
	}
	return ip, port, nil
}

func lookupPort(ports []structs.AllocatedPort, label string) (structs.AllocatedPort, bool) {
	for _, p := range ports {
		if p.Label == label {
			return p, true
		}
	}
	return structs.AllocatedPort{}, false
}

// nodeIP is the node's advertised address.
func nodeIP(node *structs.Node) string {
	if node == nil {
		return "127.0.0.1"
	}
	if ip := node.Attributes["unique.network.ip-address"]; ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(node.HTTPAddr); err == nil && host != "" {
		return host
	}
	return "127.0.0.1"
}
