package httpapi

import (
	"net/http"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func (s *Server) namespaceRoutes(rt *router) {
	// Reading a namespace needs any capability in it; lists show only
	// those the token has some capability in.
	rt.handle("GET /v1/namespaces", tokenHolder(), s.read(s.namespaceList))
	rt.handle("GET /v1/namespace/{name}", tokenHolder(), s.read(s.namespaceInfo))
	rt.handle("PUT /v1/namespace", management(), s.write(s.namespaceUpsert))
	rt.handle("POST /v1/namespace", management(), s.write(s.namespaceUpsert))
	rt.handle("PUT /v1/namespace/{name}", management(), s.write(s.namespaceUpsert))
	rt.handle("POST /v1/namespace/{name}", management(), s.write(s.namespaceUpsert))
	rt.handle("DELETE /v1/namespace/{name}", management(), s.write(s.namespaceDelete))
}

func (s *Server) namespaceList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	all, err := st.Namespaces(ws, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	a := authzOf(r).ACL()
	out := make([]*structs.Namespace, 0, len(all))
	for _, ns := range all {
		if a.AllowNamespace(ns.Name) {
			out = append(out, ns)
		}
	}
	idx, err := maxIndex(st, state.TableNamespaces)
	return idx, out, err
}

func (s *Server) namespaceInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	name := r.PathValue("name")
	z := authzOf(r)
	if err := z.Decide(z.ACL().AllowNamespace(name)); err != nil {
		return 0, nil, err
	}
	ns, err := st.NamespaceByName(ws, name)
	if err != nil {
		return 0, nil, err
	}
	if ns == nil {
		return 0, nil, codedErr(http.StatusNotFound, "Namespace %q not found", name)
	}
	idx, err := maxIndex(st, state.TableNamespaces)
	return idx, ns, err
}

func (s *Server) namespaceUpsert(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	var ns structs.Namespace
	if err := decodeBody(r, &ns); err != nil {
		return nil, 0, err
	}
	if name := r.PathValue("name"); name != "" {
		if ns.Name == "" {
			ns.Name = name
		}
		if ns.Name != name {
			return nil, 0, codedErr(http.StatusBadRequest, "Namespace name does not match request path")
		}
	}
	idx, err := s.srv.UpsertNamespaces(r.Context(), []*structs.Namespace{&ns})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}

func (s *Server) namespaceDelete(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	idx, err := s.srv.DeleteNamespaces(r.Context(), []string{r.PathValue("name")})
	if err != nil {
		return nil, 0, err
	}
	return nil, idx, nil
}
