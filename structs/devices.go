package structs

import (
	"strconv"
	"strings"
)

// NodeDeviceResource is a group of identical devices a node offers (one
// vendor, type and model), as Nomad's node JSON carries them in
// NodeResources.Devices.
type NodeDeviceResource struct {
	Vendor     string                `json:"Vendor"`
	Type       string                `json:"Type"`
	Name       string                `json:"Name"`
	Instances  []*NodeDevice         `json:"Instances"`
	Attributes map[string]*Attribute `json:"Attributes"`
}

// ID is the group's "vendor/type/name".
func (d *NodeDeviceResource) ID() string { return d.Vendor + "/" + d.Type + "/" + d.Name }

// NodeDevice is one device instance.
type NodeDevice struct {
	ID                string              `json:"ID"`
	Healthy           bool                `json:"Healthy"`
	HealthDescription string              `json:"HealthDescription"`
	Locality          *NodeDeviceLocality `json:"Locality"`
}

// NodeDeviceLocality is where a device sits in the node's hardware.
type NodeDeviceLocality struct {
	PciBusID string `json:"PciBusID"`
}

// Attribute is a typed device attribute with an optional unit ("4096
// MiB"), in Nomad's JSON shape: exactly one of the values is set.
type Attribute struct {
	FloatVal  *float64 `json:"Float,omitempty"`
	IntVal    *int64   `json:"Int,omitempty"`
	StringVal *string  `json:"String,omitempty"`
	BoolVal   *bool    `json:"Bool,omitempty"`
	Unit      string   `json:"Unit"`
}

// NewIntAttribute, NewFloatAttribute, NewStringAttribute and
// NewBoolAttribute build attributes.
func NewIntAttribute(v int64, unit string) *Attribute { return &Attribute{IntVal: &v, Unit: unit} }

func NewFloatAttribute(v float64, unit string) *Attribute {
	return &Attribute{FloatVal: &v, Unit: unit}
}

func NewStringAttribute(v string) *Attribute { return &Attribute{StringVal: &v} }

func NewBoolAttribute(v bool) *Attribute { return &Attribute{BoolVal: &v} }

// String renders the attribute as Nomad prints it ("4096 MiB").
func (a *Attribute) String() string {
	var s string
	switch {
	case a == nil:
		return ""
	case a.IntVal != nil:
		s = strconv.FormatInt(*a.IntVal, 10)
	case a.FloatVal != nil:
		s = strconv.FormatFloat(*a.FloatVal, 'f', -1, 64)
	case a.StringVal != nil:
		return *a.StringVal
	case a.BoolVal != nil:
		return strconv.FormatBool(*a.BoolVal)
	default:
		return ""
	}
	if a.Unit != "" {
		s += " " + a.Unit
	}
	return s
}

// AllocatedDeviceResource is the device instances granted to a task, as
// Nomad's AllocatedTaskResources.Devices carries them.
type AllocatedDeviceResource struct {
	Vendor    string   `json:"Vendor"`
	Type      string   `json:"Type"`
	Name      string   `json:"Name"`
	DeviceIDs []string `json:"DeviceIDs"`
}

// ID is the granted group's "vendor/type/name".
func (d *AllocatedDeviceResource) ID() string { return d.Vendor + "/" + d.Type + "/" + d.Name }

// DeviceName is a parsed device request name: "type", "vendor/type" or
// "vendor/type/model"; empty parts match anything.
type DeviceName struct {
	Vendor, Type, Model string
}

// ParseDeviceName splits a device block's name.
func ParseDeviceName(name string) DeviceName {
	parts := strings.SplitN(name, "/", 3)
	switch len(parts) {
	case 1:
		return DeviceName{Type: parts[0]}
	case 2:
		return DeviceName{Vendor: parts[0], Type: parts[1]}
	}
	return DeviceName{Vendor: parts[0], Type: parts[1], Model: parts[2]}
}

// Matches reports whether a node's device group is of the requested kind.
func (n DeviceName) Matches(d *NodeDeviceResource) bool {
	return d.Type == n.Type && (n.Vendor == "" || d.Vendor == n.Vendor) && (n.Model == "" || d.Name == n.Model)
}
