package httpapi

import (
	"context"
	"net/http"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// ScalingBackend is what a server offers for job scaling; policies and
// history are read from the local replica.
type ScalingBackend interface {
	ScaleJob(ctx context.Context, ns, jobID string, req *structs.ScalingRequest) (*structs.JobRegisterResponse, error)
}

func (s *Server) scalingRoutes(rt *router) {
	rt.handle("GET /v1/scaling/policies", nsQuery(acl.NamespaceCapabilityListScalingPolicies), s.read(s.scalingPolicyList))
	// As in Nomad, a policy is read in the request's namespace.
	rt.handle("GET /v1/scaling/policy/{id}", nsQuery(acl.NamespaceCapabilityReadScalingPolicy), s.read(s.scalingPolicyInfo))
	rt.handle("GET /v1/job/{id}/scale", nsQuery(acl.NamespaceCapabilityReadJobScaling), s.read(s.jobScaleStatus))
	rt.handle("POST /v1/job/{id}/scale", nsQuery(acl.NamespaceCapabilityScaleJob), s.write(s.jobScale))
	rt.handle("PUT /v1/job/{id}/scale", nsQuery(acl.NamespaceCapabilityScaleJob), s.write(s.jobScale))
}

// scalingPolicyList is GET /v1/scaling/policies (?job=, ?type=,
// ?namespace=, "*" for every namespace the caller may list).
func (s *Server) scalingPolicyList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	q := r.URL.Query()
	ns := q.Get("namespace")
	if ns == "" {
		ns = structs.DefaultNamespace
	}
	policies, err := st.ScalingPolicies(ws, ns, q.Get("job"), q.Get("type"))
	if err != nil {
		return 0, nil, err
	}
	allowed := listFilter(r, acl.NamespaceCapabilityListScalingPolicies)
	out := make([]*structs.ScalingPolicyListStub, 0, len(policies))
	for _, p := range policies {
		if allowed(p.Namespace) {
			out = append(out, p.Stub())
		}
	}
	idx, err := maxIndex(st, state.TableScalingPolicies)
	return idx, out, err
}

func (s *Server) scalingPolicyInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	p, err := st.ScalingPolicyByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if p == nil || p.Namespace != namespaceOf(r) {
		return 0, nil, codedErr(http.StatusNotFound, "scaling policy not found")
	}
	idx, err := maxIndex(st, state.TableScalingPolicies)
	return idx, p, err
}

// jobScaleStatus is GET /v1/job/<id>/scale: each group's desired count,
// its allocations by state, and its scaling history.
func (s *Server) jobScaleStatus(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	job, err := lookupJob(r, ws, st)
	if err != nil {
		return 0, nil, err
	}
	allocs, err := st.AllocsByJob(ws, job.Namespace, job.ID)
	if err != nil {
		return 0, nil, err
	}
	events, err := st.ScalingEventsByJob(ws, job.Namespace, job.ID)
	if err != nil {
		return 0, nil, err
	}
	out := &structs.JobScaleStatusResponse{JobID: job.ID, Namespace: job.Namespace, JobCreateIndex: job.CreateIndex,
		JobModifyIndex: job.JobModifyIndex, JobStopped: job.Stop, TaskGroups: map[string]*structs.TaskGroupScaleStatus{}}
	for _, tg := range job.TaskGroups {
		gs := &structs.TaskGroupScaleStatus{Desired: tg.Count, Events: []*structs.ScalingEvent{}}
		if events != nil && events.ScalingEvents[tg.Name] != nil {
			gs.Events = events.ScalingEvents[tg.Name]
		}
		out.TaskGroups[tg.Name] = gs
	}
	for _, a := range allocs {
		gs := out.TaskGroups[a.TaskGroup]
		if gs == nil || a.Job == nil || a.Job.CreateIndex != job.CreateIndex || a.TerminalStatus() {
			continue
		}
		gs.Placed++
		if a.ClientStatus == structs.AllocClientStatusRunning {
			gs.Running++
		}
	}
	idx, err := maxIndex(st, "jobs", "allocs", state.TableScalingEvents)
	return idx, out, err
}

// jobScale is POST /v1/job/<id>/scale.
func (s *Server) jobScale(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.ScalingRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, 0, err
	}
	ns := req.Namespace
	if ns == "" {
		ns = namespaceOf(r)
	}
	if err := authzOf(r).AllowNamespace(ns, acl.NamespaceCapabilityScaleJob); err != nil {
		return nil, 0, err
	}
	resp, err := s.srv.ScaleJob(r.Context(), ns, r.PathValue("id"), &req)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}
