package structs

import "time"

// Node status values.
const (
	NodeStatusInit  = "initializing"
	NodeStatusReady = "ready"
	NodeStatusDown  = "down"
)

// Scheduling eligibility values.
const (
	NodeSchedulingEligible   = "eligible"
	NodeSchedulingIneligible = "ineligible"
)

// Node is a client machine that runs allocations.
type Node struct {
	ID                string                 `json:"ID"`
	SecretID          string                 `json:"SecretID,omitempty"`
	Datacenter        string                 `json:"Datacenter"`
	Name              string                 `json:"Name"`
	HTTPAddr          string                 `json:"HTTPAddr"`
	TLSEnabled        bool                   `json:"TLSEnabled"`
	Attributes        map[string]string      `json:"Attributes"`
	NodeResources     *NodeResources         `json:"NodeResources"`
	ReservedResources *NodeReservedResources `json:"ReservedResources"`
	Links             map[string]string      `json:"Links"`
	Meta              map[string]string      `json:"Meta"`
	NodeClass         string                 `json:"NodeClass"`
	NodePool          string                 `json:"NodePool"`
	// Drain is set while DrainStrategy is: the node is being drained.
	Drain bool `json:"Drain"`
	// DrainStrategy is the drain in progress (operator-set, never taken
	// from a client's registration); LastDrain describes the latest one.
	DrainStrategy         *DrainStrategy `json:"DrainStrategy"`
	LastDrain             *DrainMetadata `json:"LastDrain"`
	SchedulingEligibility string         `json:"SchedulingEligibility"`
	Status                string         `json:"Status"`
	StatusDescription     string         `json:"StatusDescription"`
	// StatusUpdatedAt is Unix seconds, as Nomad reports it.
	StatusUpdatedAt int64                  `json:"StatusUpdatedAt"`
	Events          []*NodeEvent           `json:"Events"`
	Drivers         map[string]*DriverInfo `json:"Drivers"`
	// HostVolumes are the client's host_volume blocks (structs/volumes.go).
	HostVolumes map[string]*ClientHostVolumeConfig `json:"HostVolumes"`
	// HostNetworks are the client's host_network blocks.
	HostNetworks map[string]*ClientHostNetworkConfig `json:"HostNetworks"`
	CreateIndex  uint64                              `json:"CreateIndex"`
	ModifyIndex  uint64                              `json:"ModifyIndex"`
}

// Ready reports whether the scheduler may place work on the node.
func (n *Node) Ready() bool {
	return n.Status == NodeStatusReady && !n.Drain && n.SchedulingEligibility != NodeSchedulingIneligible
}

// NodeEvent is a notable change in a node's life.
type NodeEvent struct {
	Message   string            `json:"Message"`
	Subsystem string            `json:"Subsystem"`
	Details   map[string]string `json:"Details"`
	// Timestamp is RFC 3339 on the wire, as Nomad's clients decode it.
	Timestamp   time.Time `json:"Timestamp"`
	CreateIndex uint64    `json:"CreateIndex"`
}

// DriverInfo is a driver's fingerprint on a node.
type DriverInfo struct {
	Attributes        map[string]string `json:"Attributes"`
	Detected          bool              `json:"Detected"`
	Healthy           bool              `json:"Healthy"`
	HealthDescription string            `json:"HealthDescription"`
	// UpdateTime is RFC 3339, as Nomad encodes it.
	UpdateTime string `json:"UpdateTime"`
}

// NodeListStub is the summary row of GET /v1/nodes.
type NodeListStub struct {
	Address               string                 `json:"Address"`
	ID                    string                 `json:"ID"`
	Attributes            map[string]string      `json:"Attributes,omitempty"`
	Datacenter            string                 `json:"Datacenter"`
	Name                  string                 `json:"Name"`
	NodeClass             string                 `json:"NodeClass"`
	NodePool              string                 `json:"NodePool"`
	Version               string                 `json:"Version"`
	Drain                 bool                   `json:"Drain"`
	LastDrain             *DrainMetadata         `json:"LastDrain"`
	SchedulingEligibility string                 `json:"SchedulingEligibility"`
	Status                string                 `json:"Status"`
	StatusDescription     string                 `json:"StatusDescription"`
	Drivers               map[string]*DriverInfo `json:"Drivers"`
	NodeResources         *NodeResources         `json:"NodeResources,omitempty"`
	ReservedResources     *NodeReservedResources `json:"ReservedResources,omitempty"`
	CreateIndex           uint64                 `json:"CreateIndex"`
	ModifyIndex           uint64                 `json:"ModifyIndex"`
}

// Stub returns the node's list row.
func (n *Node) Stub() *NodeListStub {
	addr := n.Attributes["unique.network.ip-address"]
	return &NodeListStub{
		Address: addr, ID: n.ID, Datacenter: n.Datacenter, Name: n.Name,
		NodeClass: n.NodeClass, NodePool: n.NodePool, Version: n.Attributes["nomad.version"],
		Drain: n.Drain, LastDrain: n.LastDrain, SchedulingEligibility: n.SchedulingEligibility,
		Status: n.Status, StatusDescription: n.StatusDescription, Drivers: n.Drivers,
		CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
	}
}
