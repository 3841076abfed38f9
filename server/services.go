package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ErrForbidden is a request its caller may not make.
var ErrForbidden error = &statusError{http.StatusForbidden, "Permission denied"}

// UpsertServiceRegistrations stores the service instances a client runs.
// nodeID is the caller's authenticated node: it may register instances of
// its own allocations only. Registrations equal to the stored ones cost no
// Raft entry, so clients may refresh them freely.
func (s *Server) UpsertServiceRegistrations(ctx context.Context, nodeID string, regs []*structs.ServiceRegistration) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	snap := s.State().Snapshot()
	changed := false
	for _, r := range regs {
		if r == nil {
			return 0, fmt.Errorf("%w: missing service registration", ErrBadInput)
		}
		r.Namespace = nsOrDefault(r.Namespace)
		if err := r.Validate(); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		if r.NodeID != nodeID {
			return 0, fmt.Errorf("%w: node %s may not register services for node %s", ErrForbidden, nodeID, r.NodeID)
		}
		a, err := snap.AllocByID(nil, r.AllocID)
		if err != nil {
			return 0, err
		}
		if a != nil && a.NodeID != nodeID {
			return 0, fmt.Errorf("%w: allocation %s does not run on node %s", ErrForbidden, r.AllocID, nodeID)
		}
		cur, err := snap.ServiceRegistrationByID(nil, r.Namespace, r.ID)
		if err != nil {
			return 0, err
		}
		if !cur.Equal(r) {
			changed = true
		}
	}
	if !changed {
		return snap.Index(state.TableServiceRegistrations)
	}
	return s.raftApplyCtx(ctx, raftfsm.ServiceRegistrationUpsertType, &raftfsm.ServiceRegistrationUpsert{Services: regs})
}

// DeregisterNodeServices removes service instances of the caller's node
// by ID (a stopping allocation, a removed service block).
func (s *Server) DeregisterNodeServices(ctx context.Context, nodeID string, ids []string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	if nodeID == "" {
		return 0, fmt.Errorf("%w: missing node ID", ErrBadInput)
	}
	snap := s.State().Snapshot()
	mine, err := snap.ServiceRegistrationsByNode(nil, nodeID)
	if err != nil {
		return 0, err
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := false
	for _, r := range mine {
		if want[r.ID] {
			found = true
			break
		}
	}
	if !found {
		return snap.Index(state.TableServiceRegistrations)
	}
	return s.raftApplyCtx(ctx, raftfsm.ServiceRegistrationDeleteType, &raftfsm.ServiceRegistrationDelete{NodeID: nodeID, IDs: ids})
}

// DeleteServiceRegistration is an operator removing one instance
// (DELETE /v1/service/<name>/<id>).
func (s *Server) DeleteServiceRegistration(ctx context.Context, ns, name, id string) (uint64, error) {
	if !s.IsLeader() {
		return 0, ErrNotLeader
	}
	ns = nsOrDefault(ns)
	cur, err := s.State().Snapshot().ServiceRegistrationByID(nil, ns, id)
	if err != nil {
		return 0, err
	}
	if cur == nil || cur.ServiceName != name {
		return 0, fmt.Errorf("%w: service registration %q of service %q", ErrNotFound, id, name)
	}
	index, err := s.raftApplyCtx(ctx, raftfsm.ServiceRegistrationDeleteType, &raftfsm.ServiceRegistrationDelete{Namespace: ns, IDs: []string{id}})
	if errors.Is(err, state.ErrNotFound) {
		return 0, fmt.Errorf("%w: service registration %q", ErrNotFound, id)
	}
	return index, err
}
