package structs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
)

// ServiceRegistration is one instance of a service in orch's native service
// catalog (Nomad's provider "nomad"): the registration of one group or task
// service block by one allocation. Clients write them while the allocation
// runs; the servers remove them when the allocation stops, is lost or its
// node goes down. Its JSON is Nomad's api.ServiceRegistration, plus Meta
// and Status, which Nomad's native catalog lacks and templates read.
type ServiceRegistration struct {
	ID          string            `json:"ID"`
	ServiceName string            `json:"ServiceName"`
	Namespace   string            `json:"Namespace"`
	NodeID      string            `json:"NodeID"`
	Datacenter  string            `json:"Datacenter"`
	JobID       string            `json:"JobID"`
	AllocID     string            `json:"AllocID"`
	Tags        []string          `json:"Tags"`
	Address     string            `json:"Address"`
	Port        int               `json:"Port"`
	Meta        map[string]string `json:"Meta,omitempty"`
	// Status is the instance's health from its checks (HealthPassing,
	// HealthWarning, HealthCritical, HealthPending); empty without checks.
	Status      string `json:"Status,omitempty"`
	CreateIndex uint64 `json:"CreateIndex"`
	ModifyIndex uint64 `json:"ModifyIndex"`
}

// Copy returns a deep copy.
func (s *ServiceRegistration) Copy() *ServiceRegistration {
	if s == nil {
		return nil
	}
	c := *s
	c.Tags = append([]string(nil), s.Tags...)
	if s.Meta != nil {
		c.Meta = make(map[string]string, len(s.Meta))
		for k, v := range s.Meta {
			c.Meta[k] = v
		}
	}
	return &c
}

// Equal reports whether two registrations describe the same instance,
// ignoring the Raft indexes: a client re-registering an unchanged service
// then costs no state change.
func (s *ServiceRegistration) Equal(o *ServiceRegistration) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.ID != o.ID || s.ServiceName != o.ServiceName || s.Namespace != o.Namespace ||
		s.NodeID != o.NodeID || s.Datacenter != o.Datacenter || s.JobID != o.JobID ||
		s.AllocID != o.AllocID || s.Address != o.Address || s.Port != o.Port || s.Status != o.Status ||
		len(s.Tags) != len(o.Tags) || len(s.Meta) != len(o.Meta) {
		return false
	}
	for i := range s.Tags {
		if s.Tags[i] != o.Tags[i] {
			return false
		}
	}
	for k, v := range s.Meta {
		if ov, ok := o.Meta[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// serviceNameRe is the RFC 1123 label Nomad requires of service names, so
// they stay usable as DNS names.
var serviceNameRe = regexp.MustCompile(`^(?i:[a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])$`)

// ValidServiceName reports whether name may name a service.
func ValidServiceName(name string) bool { return serviceNameRe.MatchString(name) }

// Validate checks the fields every stored registration must have.
func (s *ServiceRegistration) Validate() error {
	switch {
	case s.ID == "":
		return fmt.Errorf("service registration: missing ID")
	case !ValidServiceName(s.ServiceName):
		return fmt.Errorf("service registration %s: invalid service name %q: must be a valid RFC 1123 hostname label", s.ID, s.ServiceName)
	case s.Namespace == "":
		return fmt.Errorf("service registration %s: missing namespace", s.ID)
	case s.NodeID == "" || s.JobID == "" || s.AllocID == "":
		return fmt.Errorf("service registration %s: missing node, job or allocation ID", s.ID)
	case s.Port < 0 || s.Port > 65535:
		return fmt.Errorf("service registration %s: port %d out of range", s.ID, s.Port)
	}
	return nil
}

// ServiceRegistrationListStub is one namespace's entry of GET /v1/services.
type ServiceRegistrationListStub struct {
	Namespace string                     `json:"Namespace"`
	Services  []*ServiceRegistrationStub `json:"Services"`
}

// ServiceRegistrationStub names a service and the union of its instances' tags.
type ServiceRegistrationStub struct {
	ServiceName string   `json:"ServiceName"`
	Tags        []string `json:"Tags"`
}

// ServiceRegistrationsRequest is what a client sends to register or
// refresh the service instances of allocations it runs.
type ServiceRegistrationsRequest struct {
	Services []*ServiceRegistration `json:"Services"`
}

// ServiceDeregisterRequest is what a client sends to remove service
// instances of its allocations by ID.
type ServiceDeregisterRequest struct {
	IDs []string `json:"IDs"`
}

// ChooseServices picks n of the instances by rendezvous (highest random
// weight) hashing on key, as Nomad's ?choose=<n>|<key> does: a key keeps
// choosing the same instances while they exist, and an instance leaving
// moves only the keys that had chosen it. The result is in score order.
func ChooseServices(regs []*ServiceRegistration, n int, key string) []*ServiceRegistration {
	type scored struct {
		reg   *ServiceRegistration
		score uint64
	}
	all := make([]scored, 0, len(regs))
	for _, r := range regs {
		h := sha256.Sum256([]byte(key + "\x00" + r.ID))
		all = append(all, scored{r, binary.BigEndian.Uint64(h[:8])})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].reg.ID < all[j].reg.ID
	})
	if n > len(all) {
		n = len(all)
	}
	out := make([]*ServiceRegistration, 0, n)
	for _, s := range all[:n] {
		out = append(out, s.reg)
	}
	return out
}
