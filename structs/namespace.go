package structs

import "fmt"

// Namespace partitions jobs and what derives from them (allocations,
// evaluations, deployments, variables, services). The "default" namespace
// always exists.
type Namespace struct {
	Name         string                 `json:"Name"`
	Description  string                 `json:"Description"`
	Quota        string                 `json:"Quota"`
	Capabilities *NamespaceCapabilities `json:"Capabilities"`
	// NodePoolConfiguration, VaultConfiguration and ConsulConfiguration
	// are Nomad Enterprise settings: accepted on the wire only when empty.
	NodePoolConfiguration *NamespaceNodePoolConfiguration `json:"NodePoolConfiguration"`
	VaultConfiguration    map[string]any                  `json:"VaultConfiguration,omitempty"`
	ConsulConfiguration   map[string]any                  `json:"ConsulConfiguration,omitempty"`
	Meta                  map[string]string               `json:"Meta"`
	CreateIndex           uint64                          `json:"CreateIndex"`
	ModifyIndex           uint64                          `json:"ModifyIndex"`
}

// NamespaceCapabilities restricts what jobs in a namespace may use; it is
// checked when a job is submitted.
type NamespaceCapabilities struct {
	EnabledTaskDrivers   []string `json:"EnabledTaskDrivers"`
	DisabledTaskDrivers  []string `json:"DisabledTaskDrivers"`
	EnabledNetworkModes  []string `json:"EnabledNetworkModes"`
	DisabledNetworkModes []string `json:"DisabledNetworkModes"`
}

// NamespaceNodePoolConfiguration is Nomad Enterprise's per-namespace node
// pool setting.
type NamespaceNodePoolConfiguration struct {
	Default string   `json:"Default"`
	Allowed []string `json:"Allowed"`
	Denied  []string `json:"Denied"`
}

// DefaultNamespaceDescription is the built-in default namespace's description.
const DefaultNamespaceDescription = "Default shared namespace"

// NewDefaultNamespace returns the built-in default namespace.
func NewDefaultNamespace() *Namespace {
	return &Namespace{Name: DefaultNamespace, Description: DefaultNamespaceDescription, Meta: map[string]string{}}
}

// AllowsDriver reports whether a task with driver may run in the namespace.
func (c *NamespaceCapabilities) AllowsDriver(driver string) bool {
	return c == nil || allowedBy(c.EnabledTaskDrivers, c.DisabledTaskDrivers, driver)
}

// AllowsNetworkMode reports whether a group network mode may be used.
func (c *NamespaceCapabilities) AllowsNetworkMode(mode string) bool {
	return c == nil || allowedBy(c.EnabledNetworkModes, c.DisabledNetworkModes, mode)
}

// allowedBy applies an enabled/disabled pair of lists: a disabled entry
// always refuses; a non-empty enabled list admits only its entries.
func allowedBy(enabled, disabled []string, v string) bool {
	for _, d := range disabled {
		if d == v {
			return false
		}
	}
	if len(enabled) == 0 {
		return true
	}
	for _, e := range enabled {
		if e == v {
			return true
		}
	}
	return false
}

// AllowsJob applies the namespace's capabilities to a job: every task's
// driver and every group network's mode must be allowed.
func (ns *Namespace) AllowsJob(job *Job) error {
	c := ns.Capabilities
	if c == nil {
		return nil
	}
	for _, tg := range job.TaskGroups {
		for _, t := range tg.Tasks {
			if !c.AllowsDriver(t.Driver) {
				return fmt.Errorf("used task driver %q in %s[%s] is not allowed in namespace %q", t.Driver, tg.Name, t.Name, ns.Name)
			}
		}
		for _, n := range tg.Networks {
			mode := n.Mode
			if mode == "" {
				mode = "host"
			}
			if !c.AllowsNetworkMode(mode) {
				return fmt.Errorf("used group network mode %q in %s is not allowed in namespace %q", mode, tg.Name, ns.Name)
			}
		}
	}
	return nil
}
