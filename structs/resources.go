package structs

// Resources is what a task asks for.
type Resources struct {
	CPU         int                `json:"CPU"`
	Cores       int                `json:"Cores"`
	MemoryMB    int                `json:"MemoryMB"`
	MemoryMaxMB int                `json:"MemoryMaxMB"`
	DiskMB      int                `json:"DiskMB,omitempty"`
	Networks    []*NetworkResource `json:"Networks"`
	Devices     []*RequestedDevice `json:"Devices"`
	NUMA        *Opaque            `json:"NUMA"`
	SecretsMB   *int               `json:"SecretsMB"`
	IOPS        *int               `json:"IOPS"`
}

// SecretsMemoryMB is the memory the task's secrets tmpfs takes from the
// node: the secrets size when the job sets one (Nomad counts it into the
// task's memory), 0 otherwise.
func (r *Resources) SecretsMemoryMB() int {
	if r == nil || r.SecretsMB == nil {
		return 0
	}
	return *r.SecretsMB
}

// Default task resources, as Nomad applies them.
const (
	DefaultTaskCPU      = 100
	DefaultTaskMemoryMB = 300
	MinTaskMemoryMB     = 10
)

// RequestedDevice asks for devices of a type.
type RequestedDevice struct {
	Name        string        `json:"Name"`
	Count       uint64        `json:"Count"`
	Constraints []*Constraint `json:"Constraints"`
	Affinities  []*Affinity   `json:"Affinities"`
}

// NetworkResource is a requested or assigned network with its ports.
type NetworkResource struct {
	Mode          string     `json:"Mode"`
	Device        string     `json:"Device"`
	CIDR          string     `json:"CIDR"`
	IP            string     `json:"IP"`
	Hostname      string     `json:"Hostname,omitempty"`
	MBits         int        `json:"MBits"`
	DNS           *DNSConfig `json:"DNS"`
	ReservedPorts []Port     `json:"ReservedPorts"`
	DynamicPorts  []Port     `json:"DynamicPorts"`
	CNI           *CNIConfig `json:"CNI"`
}

// CNIConfig passes arguments to a CNI network's plugins.
type CNIConfig struct {
	Args map[string]string `json:"Args"`
}

// DNSConfig overrides a network's resolver settings.
type DNSConfig struct {
	Servers  []string `json:"Servers"`
	Searches []string `json:"Searches"`
	Options  []string `json:"Options"`
}

// Port is a labelled port: Value is the host port (0 = dynamic, assigned at
// placement), To the port inside the task's network namespace.
type Port struct {
	Label           string `json:"Label"`
	Value           int    `json:"Value"`
	To              int    `json:"To"`
	HostNetwork     string `json:"HostNetwork"`
	IgnoreCollision bool   `json:"IgnoreCollision"`
}

// NodeResources is what a node offers in total.
type NodeResources struct {
	Cpu      NodeCpuResources      `json:"Cpu"`
	Memory   NodeMemoryResources   `json:"Memory"`
	Disk     NodeDiskResources     `json:"Disk"`
	Networks []*NetworkResource    `json:"Networks"`
	Devices  []*NodeDeviceResource `json:"Devices"`
	// NodeNetworks are the node's interfaces with their host networks'
	// addresses (structs/hostnetwork.go).
	NodeNetworks   []*NodeNetworkResource `json:"NodeNetworks"`
	MinDynamicPort int                    `json:"MinDynamicPort"`
	MaxDynamicPort int                    `json:"MaxDynamicPort"`
}

// NodeCpuResources is CPU capacity in MHz and cores.
type NodeCpuResources struct {
	CpuShares          int64    `json:"CpuShares"`
	TotalCpuCores      uint16   `json:"TotalCpuCores"`
	ReservableCpuCores []uint16 `json:"ReservableCpuCores"`
}

// NodeMemoryResources is memory capacity.
type NodeMemoryResources struct {
	MemoryMB int64 `json:"MemoryMB"`
}

// NodeDiskResources is disk capacity.
type NodeDiskResources struct {
	DiskMB int64 `json:"DiskMB"`
}

// NodeReservedResources is held back from scheduling for the OS and agent.
type NodeReservedResources struct {
	Cpu      NodeReservedCpuResources     `json:"Cpu"`
	Memory   NodeReservedMemoryResources  `json:"Memory"`
	Disk     NodeReservedDiskResources    `json:"Disk"`
	Networks NodeReservedNetworkResources `json:"Networks"`
}

// NodeReservedCpuResources is reserved CPU: MHz, and cores no allocation
// may be given.
type NodeReservedCpuResources struct {
	CpuShares        uint64   `json:"CpuShares"`
	ReservedCpuCores []uint16 `json:"ReservedCpuCores"`
}

// NodeReservedMemoryResources is reserved memory.
type NodeReservedMemoryResources struct {
	MemoryMB uint64 `json:"MemoryMB"`
}

// NodeReservedDiskResources is reserved disk.
type NodeReservedDiskResources struct {
	DiskMB uint64 `json:"DiskMB"`
}

// NodeReservedNetworkResources lists host ports nothing may claim.
type NodeReservedNetworkResources struct {
	ReservedHostPorts string `json:"ReservedHostPorts"`
}

// AllocatedResources is what the scheduler granted an allocation.
type AllocatedResources struct {
	Tasks  map[string]*AllocatedTaskResources `json:"Tasks"`
	Shared AllocatedSharedResources           `json:"Shared"`
}

// AllocatedTaskResources is one task's grant.
type AllocatedTaskResources struct {
	Cpu      AllocatedCpuResources    `json:"Cpu"`
	Memory   AllocatedMemoryResources `json:"Memory"`
	Networks []*NetworkResource       `json:"Networks"`
	// Devices are the device instances granted, by group.
	Devices []*AllocatedDeviceResource `json:"Devices"`
}

// AllocatedCpuResources is granted CPU. A task asking for cores gets
// those core IDs to itself, and CpuShares is their MHz.
type AllocatedCpuResources struct {
	CpuShares     int64    `json:"CpuShares"`
	ReservedCores []uint16 `json:"ReservedCores"`
}

// AllocatedMemoryResources is granted memory.
type AllocatedMemoryResources struct {
	MemoryMB    int64 `json:"MemoryMB"`
	MemoryMaxMB int64 `json:"MemoryMaxMB"`
}

// AllocatedSharedResources is granted to the group as a whole.
type AllocatedSharedResources struct {
	DiskMB   int64              `json:"DiskMB"`
	Networks []*NetworkResource `json:"Networks"`
	Ports    []AllocatedPort    `json:"Ports"`
}

// AllocatedPort is a group port mapped onto the node.
type AllocatedPort struct {
	Label  string `json:"Label"`
	Value  int    `json:"Value"`
	To     int    `json:"To"`
	HostIP string `json:"HostIP"`
	// IgnoreCollision: the port is not checked against, nor reserved
	// for, other allocations on the node (ignore_collision).
	IgnoreCollision bool `json:"IgnoreCollision,omitempty"`
}

// ComparableResources is the scalar view of resources the scheduler packs with.
type ComparableResources struct {
	CPU      int64
	MemoryMB int64
	DiskMB   int64
}

// Add adds o to r in place.
func (r *ComparableResources) Add(o ComparableResources) {
	r.CPU += o.CPU
	r.MemoryMB += o.MemoryMB
	r.DiskMB += o.DiskMB
}

// Sub subtracts o from r in place.
func (r *ComparableResources) Sub(o ComparableResources) {
	r.CPU -= o.CPU
	r.MemoryMB -= o.MemoryMB
	r.DiskMB -= o.DiskMB
}

// Comparable returns the scalar total of an allocation's grant.
func (a *AllocatedResources) Comparable() ComparableResources {
	var c ComparableResources
	if a == nil {
		return c
	}
	for _, t := range a.Tasks {
		c.CPU += t.Cpu.CpuShares
		c.MemoryMB += t.Memory.MemoryMB
	}
	c.DiskMB += a.Shared.DiskMB
	return c
}

// Comparable returns the node's schedulable capacity: total less reserved.
func (n *Node) Comparable() ComparableResources {
	if n.NodeResources == nil {
		return ComparableResources{}
	}
	c := ComparableResources{
		CPU:      n.NodeResources.Cpu.CpuShares,
		MemoryMB: n.NodeResources.Memory.MemoryMB,
		DiskMB:   n.NodeResources.Disk.DiskMB,
	}
	if r := n.ReservedResources; r != nil {
		c.CPU -= int64(r.Cpu.CpuShares) + int64(len(r.Cpu.ReservedCpuCores))*n.CoreMHz()
		c.MemoryMB -= int64(r.Memory.MemoryMB)
		c.DiskMB -= int64(r.Disk.DiskMB)
	}
	return c
}
