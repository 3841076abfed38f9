package httpapi

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/structs"
)

// LifecycleBackend is what a server offers for periodic and parameterized
// jobs; a backend without it answers these writes with 501.
type LifecycleBackend interface {
	ForcePeriodicJob(ctx context.Context, ns, id string) (*structs.PeriodicForceResponse, error)
	DispatchJob(ctx context.Context, ns string, req *structs.JobDispatchRequest) (*structs.JobDispatchResponse, error)
}

// lifecycleRoutes are periodic force and dispatch. Dispatch needs
// dispatch-job, force submit-job, as in Nomad.
func (s *Server) lifecycleRoutes(rt *router) {
	for _, method := range []string{"PUT", "POST"} {
		rt.handle(method+" /v1/job/{id}/dispatch", nsQuery(acl.NamespaceCapabilityDispatchJob), s.write(s.jobDispatch))
		rt.handle(method+" /v1/job/{id}/periodic/force", nsQuery(acl.NamespaceCapabilitySubmitJob), s.write(s.jobPeriodicForce))
	}
}

func (s *Server) lifecycle() (LifecycleBackend, error) {
	lb, ok := s.srv.(LifecycleBackend)
	if !ok {
		return nil, codedErr(http.StatusNotImplemented, "not supported by this agent")
	}
	return lb, nil
}

func (s *Server) jobDispatch(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.JobDispatchRequest
	if err := decodeOptional(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.JobID, "Job"); err != nil {
		return nil, 0, err
	}
	req.IdempotencyToken = r.URL.Query().Get("idempotency_token")
	lb, err := s.lifecycle()
	if err != nil {
		return nil, 0, err
	}
	resp, err := lb.DispatchJob(r.Context(), namespaceOf(r), &req)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) jobPeriodicForce(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	lb, err := s.lifecycle()
	if err != nil {
		return nil, 0, err
	}
	resp, err := lb.ForcePeriodicJob(r.Context(), namespaceOf(r), r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}
