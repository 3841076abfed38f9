package structs

import (
	"maps"
	"reflect"
)

// NodeStatusDisconnected is the status of a node that missed its
// heartbeats while some of its allocations may outlive a disconnection
// (their group's disconnect.lost_after): they are "unknown" until the node
// reconnects or lost_after passes.
const NodeStatusDisconnected = "disconnected"

// WithClientFields returns a copy of n with the fields a client owns taken
// from c: what the client fingerprinted and was configured with. Fields the
// servers own (ID, SecretID, Status and its description and time, Drain,
// SchedulingEligibility, Events, indexes, and any operator setting added
// later) stay n's, so a registration never undoes an operator's drain or
// eligibility change.
func (n *Node) WithClientFields(c *Node) *Node {
	out := *n
	out.Datacenter = c.Datacenter
	out.Name = c.Name
	out.HTTPAddr = c.HTTPAddr
	out.TLSEnabled = c.TLSEnabled
	out.Attributes = c.Attributes
	out.NodeResources = c.NodeResources
	out.ReservedResources = c.ReservedResources
	out.Links = c.Links
	out.Meta = c.Meta
	out.NodeClass = c.NodeClass
	out.NodePool = c.NodePool
	out.Drivers = c.Drivers
	out.HostVolumes = c.HostVolumes
	return &out
}

// ClientFieldsEqual reports whether a and b agree on every client-owned
// field, ignoring driver fingerprint times: a registration that changes
// nothing needs no Raft write.
func ClientFieldsEqual(a, b *Node) bool {
	if a.Datacenter != b.Datacenter || a.Name != b.Name || a.HTTPAddr != b.HTTPAddr ||
		a.TLSEnabled != b.TLSEnabled || a.NodeClass != b.NodeClass || a.NodePool != b.NodePool ||
		!maps.Equal(a.Attributes, b.Attributes) || !maps.Equal(a.Links, b.Links) || !maps.Equal(a.Meta, b.Meta) ||
		!reflect.DeepEqual(a.NodeResources, b.NodeResources) || !reflect.DeepEqual(a.ReservedResources, b.ReservedResources) ||
		!reflect.DeepEqual(a.HostVolumes, b.HostVolumes) || !reflect.DeepEqual(a.HostNetworks, b.HostNetworks) || len(a.Drivers) != len(b.Drivers) {
		return false
	}
	for name, da := range a.Drivers {
		db, ok := b.Drivers[name]
		if !ok || (da == nil) != (db == nil) {
			return false
		}
		if da == nil {
			continue
		}
		if da.Detected != db.Detected || da.Healthy != db.Healthy || da.HealthDescription != db.HealthDescription ||
			!maps.Equal(da.Attributes, db.Attributes) {
			return false
		}
	}
	return true
}
