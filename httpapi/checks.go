package httpapi

import (
	"net/http"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/structs"
)

func (s *Server) checkRoutes(rt *router) {
	rt.handle("GET /v1/client/allocation/{alloc}/checks", nsObject(acl.NamespaceCapabilityReadJob), s.allocChecks)
}

// allocChecks is GET /v1/client/allocation/<id>/checks: the latest result
// of each of the allocation's service checks, answered by the client that
// runs them (routed there like the file endpoints).
func (s *Server) allocChecks(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("alloc")
	s.routeToAlloc(w, r, id, "", acl.NamespaceCapabilityReadJob, func(string) {
		res := s.client.CheckResults(id)
		if res == nil {
			res = map[string]*structs.CheckQueryResult{}
		}
		writeJSON(w, r, http.StatusOK, res)
	})
}
