package client

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/orch-project/orch/structs"
)

// portStore persists assignments; *state.DB implements it.
type portStore interface {
	PutPorts(allocID string, ports []structs.AllocatedPort) error
	DeletePorts(allocID string) error
}

// ErrPortsExhausted is returned when every port of the dynamic range is
// held or in use.
var ErrPortsExhausted = errors.New("dynamic port range exhausted")

// portAllocator hands out the node's host ports to allocations: a free
// port of [min, max] for each dynamic port, the asked-for port for each
// static one. The scheduler only knows about static ports, so dynamic ones
// are picked here, where the node's real port usage can be seen.
type portAllocator struct {
	min, max int
	ip       string
	store    portStore
	// bindable reports whether a port can be bound on ip right now;
	// replaced in tests.
	bindable func(ip string, port int) bool
	// hostAddr resolves a port's host_network to this node's address
	// (nil: every port is on ip).
	hostAddr func(alias string) (string, bool)

	mu   sync.Mutex
	held map[int]string // host port -> alloc ID
	// shared are the holders of ignore_collision ports: other sharers
	// may take such a port, a plain port may not.
	shared map[int]map[string]bool
	// reserved are the node's reserved ports (host_network
	// reserved_ports), which no dynamic port takes.
	reserved map[int]bool
	byAlloc  map[string][]structs.AllocatedPort
	// next rotates through the range so a just-freed port is not handed
	// out again at once (a client of the old alloc may still dial it).
	next int
}

func newPortAllocator(min, max int, ip string, store portStore, restored map[string][]structs.AllocatedPort) *portAllocator {
	p := &portAllocator{
		min: min, max: max, ip: ip, store: store, bindable: canBind,
		held: map[int]string{}, shared: map[int]map[string]bool{}, byAlloc: map[string][]structs.AllocatedPort{}, next: min,
	}
	for id, ps := range restored {
		p.byAlloc[id] = ps
		p.hold(id, ps)
	}
	return p
}

// reserve keeps ports off dynamic assignments.
func (p *portAllocator) reserve(ports []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, port := range ports {
		if p.reserved == nil {
			p.reserved = map[int]bool{}
		}
		p.reserved[port] = true
	}
}

// hold records the ports of allocation id as taken.
func (p *portAllocator) hold(id string, ps []structs.AllocatedPort) {
	for _, port := range ps {
		if !port.IgnoreCollision {
			p.held[port.Value] = id
			continue
		}
		if p.shared[port.Value] == nil {
			p.shared[port.Value] = map[string]bool{}
		}
		p.shared[port.Value][id] = true
	}
}

// sharedByOthers reports whether an allocation other than id holds port
// with ignore_collision.
func (p *portAllocator) sharedByOthers(port int, id string) bool {
	for owner := range p.shared[port] {
		if owner != id {
			return true
		}
	}
	return false
}

// canBind checks that no other process listens on ip:port (TCP).
func canBind(ip string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Assign returns the allocation's port mapping, choosing and persisting it
// the first time. Calling it again (a newer version of the allocation, a
// restarted client) returns the same ports.
func (p *portAllocator) Assign(a *structs.Allocation) ([]structs.AllocatedPort, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps, ok := p.byAlloc[a.ID]; ok {
		return clonePorts(ps), nil
	}
	static, dynamic := groupPorts(a)
	if len(static) == 0 && len(dynamic) == 0 {
		return nil, nil
	}
	out := make([]structs.AllocatedPort, 0, len(static)+len(dynamic))
	mine := map[int]bool{}
	for _, sp := range static {
		ip, err := p.addrOf(sp)
		if err != nil {
			return nil, err
		}
		if owner, ok := p.held[sp.Value]; ok && owner != a.ID {
			return nil, fmt.Errorf("static port %d (label %q) is already in use by allocation %s on this node", sp.Value, sp.Label, owner)
		}
		if !sp.IgnoreCollision && p.sharedByOthers(sp.Value, a.ID) {
			return nil, fmt.Errorf("static port %d (label %q) is shared with ignore_collision by other allocations on this node", sp.Value, sp.Label)
		}
		if mine[sp.Value] {
			return nil, fmt.Errorf("static port %d (label %q) is requested twice", sp.Value, sp.Label)
		}
		mine[sp.Value] = true
		to := sp.To
		if to <= 0 {
			to = sp.Value
		}
		out = append(out, structs.AllocatedPort{Label: sp.Label, Value: sp.Value, To: to, HostIP: hostIP(sp.HostIP, ip),
			IgnoreCollision: sp.IgnoreCollision})
	}
	for _, dp := range dynamic {
		ip, err := p.addrOf(dp)
		if err != nil {
			return nil, err
		}
		port, err := p.pick(ip, mine)
		if err != nil {
			return nil, fmt.Errorf("dynamic port %q: %w", dp.Label, err)
		}
		mine[port] = true
		to := dp.To
		if to <= 0 {
			to = port
		}
		out = append(out, structs.AllocatedPort{Label: dp.Label, Value: port, To: to, HostIP: hostIP(dp.HostIP, ip)})
	}
	if p.store != nil {
		if err := p.store.PutPorts(a.ID, out); err != nil {
			return nil, err
		}
	}
	p.byAlloc[a.ID] = out
	p.hold(a.ID, out)
	return clonePorts(out), nil
}

// addrOf is the host address a port is bound on: the scheduler's choice
// for static ports, else its host network's address on this node.
func (p *portAllocator) addrOf(r portReq) (string, error) {
	if r.HostIP != "" {
		return r.HostIP, nil
	}
	if r.HostNetwork == "" || r.HostNetwork == structs.DefaultHostNetwork || p.hostAddr == nil {
		return p.ip, nil
	}
	addr, ok := p.hostAddr(r.HostNetwork)
	if !ok {
		return "", fmt.Errorf("port %q: host network %q is not available on this node", r.Label, r.HostNetwork)
	}
	return addr, nil
}

// pick finds the next free port of the range, starting at the cursor.
func (p *portAllocator) pick(ip string, mine map[int]bool) (int, error) {
	n := p.max - p.min + 1
	if n <= 0 {
		return 0, fmt.Errorf("%w: empty range [%d, %d]", ErrPortsExhausted, p.min, p.max)
	}
	for i := 0; i < n; i++ {
		port := p.next
		p.next++
		if p.next > p.max {
			p.next = p.min
		}
		if _, taken := p.held[port]; taken || mine[port] || len(p.shared[port]) > 0 || p.reserved[port] {
			continue
		}
		if p.bindable != nil && !p.bindable(ip, port) {
			continue
		}
		return port, nil
	}
	return 0, fmt.Errorf("%w: no free port in [%d, %d]", ErrPortsExhausted, p.min, p.max)
}

// Lookup returns an allocation's current assignment.
func (p *portAllocator) Lookup(allocID string) ([]structs.AllocatedPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.byAlloc[allocID]
	return clonePorts(ps), ok
}

// Release frees an allocation's ports.
func (p *portAllocator) Release(allocID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps, ok := p.byAlloc[allocID]
	if !ok {
		return nil
	}
	delete(p.byAlloc, allocID)
	for _, port := range ps {
		if p.held[port.Value] == allocID {
			delete(p.held, port.Value)
		}
		if holders := p.shared[port.Value]; holders != nil {
			if delete(holders, allocID); len(holders) == 0 {
				delete(p.shared, port.Value)
			}
		}
	}
	if p.store != nil {
		return p.store.DeletePorts(allocID)
	}
	return nil
}

func hostIP(asked, def string) string {
	if asked != "" {
		return asked
	}
	return def
}

func clonePorts(ps []structs.AllocatedPort) []structs.AllocatedPort {
	return append([]structs.AllocatedPort(nil), ps...)
}

// groupPorts lists the ports the allocation's group asks for. Static ports
// come from the group's networks and from what the scheduler already put in
// Shared.Ports; dynamic ports are those without a value.
func groupPorts(a *structs.Allocation) (static, dynamic []portReq) {
	seen := map[string]bool{}
	if ar := a.AllocatedResources; ar != nil {
		for _, p := range ar.Shared.Ports {
			if p.Value > 0 && !seen[p.Label] {
				seen[p.Label] = true
				static = append(static, portReq{Label: p.Label, Value: p.Value, To: p.To, HostIP: p.HostIP, IgnoreCollision: p.IgnoreCollision})
			}
		}
	}
	var nets []*structs.NetworkResource
	if a.AllocatedResources != nil && len(a.AllocatedResources.Shared.Networks) > 0 {
		nets = a.AllocatedResources.Shared.Networks
	} else if a.Job != nil {
		if tg := a.Job.LookupTaskGroup(a.TaskGroup); tg != nil {
			nets = tg.Networks
		}
	}
	for _, nw := range nets {
		if nw == nil {
			continue
		}
		for _, p := range nw.ReservedPorts {
			if p.Value > 0 && !seen[p.Label] {
				seen[p.Label] = true
				static = append(static, portReq{Label: p.Label, Value: p.Value, To: p.To, IgnoreCollision: p.IgnoreCollision,
					HostNetwork: p.HostNetwork})
			}
		}
		for _, p := range nw.DynamicPorts {
			if seen[p.Label] {
				continue
			}
			seen[p.Label] = true
			if p.Value > 0 {
				// Already chosen (a scheduler that assigns dynamic ports).
				static = append(static, portReq{Label: p.Label, Value: p.Value, To: p.To, HostNetwork: p.HostNetwork})
				continue
			}
			dynamic = append(dynamic, portReq{Label: p.Label, To: p.To, HostNetwork: p.HostNetwork})
		}
	}
	return static, dynamic
}

type portReq struct {
	Label  string
	Value  int
	To     int
	HostIP string
	// IgnoreCollision ports are shared with the other allocations
	// sharing them, not with a plain holder.
	IgnoreCollision bool
	// HostNetwork names the host network the port is bound on.
	HostNetwork string
}

// withPorts returns a copy of a whose Shared.Ports (and the values of its
// networks' dynamic ports) carry the assignment.
func withPorts(a *structs.Allocation, ports []structs.AllocatedPort) *structs.Allocation {
	if len(ports) == 0 {
		return a
	}
	c := a.Copy()
	// Copy is shallow and a's resources may be shared with other readers.
	var res structs.AllocatedResources
	if a.AllocatedResources != nil {
		res = *a.AllocatedResources
	}
	c.AllocatedResources = &res
	sh := &c.AllocatedResources.Shared
	sh.Ports = clonePorts(ports)
	byLabel := make(map[string]structs.AllocatedPort, len(ports))
	for _, p := range ports {
		byLabel[p.Label] = p
	}
	nets := make([]*structs.NetworkResource, 0, len(sh.Networks))
	for _, nw := range sh.Networks {
		if nw == nil {
			continue
		}
		n := *nw
		n.ReservedPorts = append([]structs.Port(nil), nw.ReservedPorts...)
		n.DynamicPorts = append([]structs.Port(nil), nw.DynamicPorts...)
		for i, dp := range n.DynamicPorts {
			if ap, ok := byLabel[dp.Label]; ok {
				n.DynamicPorts[i].Value, n.DynamicPorts[i].To = ap.Value, ap.To
			}
		}
		nets = append(nets, &n)
	}
	sh.Networks = nets
	return c
}
