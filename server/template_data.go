package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// maxTemplateWait caps one template watch call.
const maxTemplateWait = 10 * time.Minute

// WatchTemplateData answers a client's template watcher from this
// server's replica: the results of the dependencies whose hash differs
// from the client's, waiting until one does (or MaxWait passes). nodeID is
// the caller's authenticated node: variables are read for the workloads
// of its own allocations only, under their implicit policy.
func (s *Server) WatchTemplateData(ctx context.Context, nodeID string, req *structs.TemplateWatchRequest) (*structs.TemplateWatchResponse, error) {
	// MaxWait 0 (or less) answers at once.
	wait := min(max(req.MaxWait, 0), maxTemplateWait)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		snap := s.State().Snapshot()
		ws := memdb.NewWatchSet()
		var changed []*structs.TemplateDepResult
		for _, d := range req.Deps {
			r := s.templateDepResult(snap, ws, nodeID, d.Dep)
			if r.Hash != d.Hash {
				changed = append(changed, r)
			}
		}
		idx, err := snap.LatestIndex()
		if err != nil {
			return nil, err
		}
		if len(changed) > 0 || ctx.Err() != nil {
			return &structs.TemplateWatchResponse{Results: changed, Index: idx}, nil
		}
		if err := ws.WatchCtx(ctx); err != nil && ctx.Err() == nil {
			return nil, err
		}
	}
}

// templateDepResult computes one dependency's result and hash, watching
// what it read in ws.
func (s *Server) templateDepResult(snap *state.Snapshot, ws memdb.WatchSet, nodeID string, d structs.TemplateDep) *structs.TemplateDepResult {
	r := &structs.TemplateDepResult{Dep: d}
	ns := nsOrDefault(d.Namespace)
	var err error
	switch d.Kind {
	case structs.TemplateDepService:
		r.Services, err = snap.ServiceRegistrationsByName(ws, ns, d.Name)
	case structs.TemplateDepServices:
		r.ServiceStubs, err = serviceStubs(snap, ws, ns)
	case structs.TemplateDepVariable:
		err = s.templateVariable(snap, ws, nodeID, d, r)
	case structs.TemplateDepVariables:
		err = s.templateVariables(snap, ws, nodeID, d, r)
	default:
		err = fmt.Errorf("unknown template dependency %q", d.Kind)
	}
	if err != nil {
		r.Services, r.ServiceStubs, r.Variable, r.Variables = nil, nil, nil, nil
		r.Error = err.Error()
	}
	r.Hash = hashResult(r)
	return r
}

func hashResult(r *structs.TemplateDepResult) string {
	b, _ := json.Marshal(struct {
		A []*structs.ServiceRegistration
		B []*structs.ServiceRegistrationStub
		C *structs.VariableDecrypted
		D []*structs.VariableMetadata
		E string
	}{r.Services, r.ServiceStubs, r.Variable, r.Variables, r.Error})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// serviceStubs is a namespace's services with the union of their tags.
func serviceStubs(snap *state.Snapshot, ws memdb.WatchSet, ns string) ([]*structs.ServiceRegistrationStub, error) {
	regs, err := snap.ServiceRegistrations(ws, ns)
	if err != nil {
		return nil, err
	}
	tags := map[string]map[string]bool{}
	for _, r := range regs {
		if tags[r.ServiceName] == nil {
			tags[r.ServiceName] = map[string]bool{}
		}
		for _, t := range r.Tags {
			tags[r.ServiceName][t] = true
		}
	}
	out := make([]*structs.ServiceRegistrationStub, 0, len(tags))
	for name, ts := range tags {
		stub := &structs.ServiceRegistrationStub{ServiceName: name, Tags: []string{}}
		for t := range ts {
			stub.Tags = append(stub.Tags, t)
		}
		sort.Strings(stub.Tags)
		out = append(out, stub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ServiceName < out[j].ServiceName })
	return out, nil
}

// workloadOf checks that the workload a variable read acts for is a task
// of an allocation on the calling node, and returns its identity.
func workloadOf(snap *state.Snapshot, ws memdb.WatchSet, nodeID string, d structs.TemplateDep) (structs.WorkloadClaims, error) {
	a, err := snap.AllocByID(ws, d.AllocID)
	if err != nil {
		return structs.WorkloadClaims{}, err
	}
	if a == nil || a.NodeID != nodeID || a.Job == nil {
		return structs.WorkloadClaims{}, fmt.Errorf("permission denied: allocation %q does not run on this node", d.AllocID)
	}
	if a.ClientTerminalStatus() {
		return structs.WorkloadClaims{}, fmt.Errorf("permission denied: allocation %q has finished", d.AllocID)
	}
	tg := a.Job.LookupTaskGroup(a.TaskGroup)
	if tg == nil || tg.LookupTask(d.Task) == nil {
		return structs.WorkloadClaims{}, fmt.Errorf("permission denied: allocation %q has no task %q", d.AllocID, d.Task)
	}
	return structs.WorkloadClaims{Namespace: a.Namespace, JobID: a.JobID, Group: a.TaskGroup, Task: d.Task}, nil
}

func (s *Server) templateVariable(snap *state.Snapshot, ws memdb.WatchSet, nodeID string, d structs.TemplateDep, r *structs.TemplateDepResult) error {
	w, err := workloadOf(snap, ws, nodeID, d)
	if err != nil {
		return err
	}
	if !structs.WorkloadVariableAccess(w, d.Namespace, d.Name) {
		// Beyond its own job's variables, what the policies attached to
		// its job (JobACL) grant, as a workload identity token would get.
		wa, err := workloadACL(snap, ws, w)
		if err != nil {
			return err
		}
		if !wa.AllowVariableOperation(nsOrDefault(d.Namespace), d.Name, acl.VariablesCapabilityRead) {
			return fmt.Errorf("permission denied: task %q of job %q may not read variable %q", w.Task, w.JobID, d.Name)
		}
	}
	v, err := snap.VariableByPath(ws, nsOrDefault(d.Namespace), d.Name)
	if err != nil || v == nil {
		return err
	}
	r.Variable, err = s.keyring.Decrypt(snap, v)
	return err
}

func (s *Server) templateVariables(snap *state.Snapshot, ws memdb.WatchSet, nodeID string, d structs.TemplateDep, r *structs.TemplateDepResult) error {
	w, err := workloadOf(snap, ws, nodeID, d)
	if err != nil {
		return err
	}
	ns := nsOrDefault(d.Namespace)
	wa, err := workloadACL(snap, ws, w)
	if err != nil {
		return err
	}
	r.Variables = []*structs.VariableMetadata{}
	return snap.Variables(ws, ns, strings.Trim(d.Name, "/"), "", "", func(v *structs.VariableEncrypted) bool {
		if wa.AllowVariableOperation(ns, v.Path, acl.VariablesCapabilityList) {
			m := v.Metadata()
			r.Variables = append(r.Variables, &m)
		}
		return true
	})
}

// workloadACL is what a workload's identity token would be granted: the
// implicit workload policy plus the policies attached to its job. ws
// watches the policies, so a template's access follows them.
func workloadACL(snap *state.Snapshot, ws memdb.WatchSet, w structs.WorkloadClaims) (*acl.ACL, error) {
	attached, err := jobPolicies(snap, ws, w)
	if err != nil {
		return nil, err
	}
	var parsed []*acl.Policy
	for _, p := range attached {
		if pp, err := acl.Parse(p.Rules); err == nil {
			parsed = append(parsed, pp)
		}
	}
	return acl.NewWorkload(w, parsed), nil
}
