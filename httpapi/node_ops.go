package httpapi

import (
	"context"
	"net/http"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/structs"
)

// NodeOpsBackend is what a server offers for operators' node and
// allocation writes. The server implements it; a backend without it
// answers these writes with 501.
type NodeOpsBackend interface {
	UpdateNodeDrain(ctx context.Context, req *structs.NodeUpdateDrainRequest, accessor string) (*structs.NodeDrainUpdateResponse, error)
	UpdateNodeEligibility(ctx context.Context, req *structs.NodeUpdateEligibilityRequest) (*structs.NodeDrainUpdateResponse, error)
	PurgeNode(ctx context.Context, id string) (*structs.NodePurgeResponse, error)
	EvaluateNode(ctx context.Context, id string) (*structs.NodeEvaluateResponse, error)
	StopAlloc(ctx context.Context, id string, noShutdownDelay bool) (*structs.AllocStopResponse, error)
}

// nodeOpRoutes are Nomad's node drain, eligibility, purge and evaluate
// endpoints (node:write) and the allocation stop (alloc-lifecycle in the
// allocation's namespace).
func (s *Server) nodeOpRoutes(rt *router) {
	write := nodeLevel(acl.PolicyWrite)
	for _, method := range []string{"PUT", "POST"} {
		rt.handle(method+" /v1/node/{id}/drain", write, s.write(s.nodeDrain))
		rt.handle(method+" /v1/node/{id}/eligibility", write, s.write(s.nodeEligibility))
		rt.handle(method+" /v1/node/{id}/purge", write, s.write(s.nodePurge))
		rt.handle(method+" /v1/node/{id}/evaluate", write, s.write(s.nodeEvaluate))
		rt.handle(method+" /v1/allocation/{id}/stop", nsObject(acl.NamespaceCapabilityAllocLifecycle), s.write(s.allocStop))
	}
}

func (s *Server) nodeOps() (NodeOpsBackend, error) {
	b, ok := s.srv.(NodeOpsBackend)
	if !ok {
		return nil, codedErr(http.StatusNotImplemented, "not supported by this agent")
	}
	return b, nil
}

func (s *Server) nodeDrain(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.NodeUpdateDrainRequest
	if err := decodeOptional(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.NodeID, "Node"); err != nil {
		return nil, 0, err
	}
	b, err := s.nodeOps()
	if err != nil {
		return nil, 0, err
	}
	accessor := ""
	if tok := authzOf(r).Token(); tok != nil {
		accessor = tok.AccessorID
	}
	resp, err := b.UpdateNodeDrain(r.Context(), &req, accessor)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) nodeEligibility(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var req structs.NodeUpdateEligibilityRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, 0, err
	}
	if err := checkPathID(r, &req.NodeID, "Node"); err != nil {
		return nil, 0, err
	}
	b, err := s.nodeOps()
	if err != nil {
		return nil, 0, err
	}
	resp, err := b.UpdateNodeEligibility(r.Context(), &req)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) nodePurge(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	b, err := s.nodeOps()
	if err != nil {
		return nil, 0, err
	}
	resp, err := b.PurgeNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

func (s *Server) nodeEvaluate(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	b, err := s.nodeOps()
	if err != nil {
		return nil, 0, err
	}
	resp, err := b.EvaluateNode(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}

// allocStop stops an allocation so the scheduler replaces it.
func (s *Server) allocStop(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	noDelay, err := queryBool(r, "no_shutdown_delay", false)
	if err != nil {
		return nil, 0, err
	}
	a, err := s.srv.State().AllocByID(nil, r.PathValue("id"))
	if err != nil {
		return nil, 0, err
	}
	if a == nil {
		if err := authzOf(r).AllowNamespace(namespaceOf(r), acl.NamespaceCapabilityAllocLifecycle); err != nil {
			return nil, 0, err
		}
		return nil, 0, codedErr(http.StatusNotFound, "alloc not found")
	}
	if err := authzOf(r).AllowNamespace(a.Namespace, acl.NamespaceCapabilityAllocLifecycle); err != nil {
		return nil, 0, err
	}
	b, err := s.nodeOps()
	if err != nil {
		return nil, 0, err
	}
	resp, err := b.StopAlloc(r.Context(), a.ID, noDelay)
	if err != nil {
		return nil, 0, err
	}
	return resp, resp.Index, nil
}
