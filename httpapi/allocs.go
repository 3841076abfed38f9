package httpapi

import (
	"net/http"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func allocStubs(allocs []*structs.Allocation, withResources bool, allowed func(ns string) bool) []*structs.AllocListStub {
	out := make([]*structs.AllocListStub, 0, len(allocs))
	for _, a := range allocs {
		if !allowed(a.Namespace) {
			continue
		}
		st := a.Stub()
		if withResources {
			st.AllocatedResources = a.AllocatedResources
		}
		out = append(out, st)
	}
	return out
}

func (s *Server) allocList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	res, err := queryBool(r, "resources", false)
	if err != nil {
		return 0, nil, err
	}
	allocs, err := st.AllocsByIDPrefix(ws, namespaceOf(r), r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, "allocs")
	return idx, allocStubs(allocs, res, listFilter(r, acl.NamespaceCapabilityReadJob)), err
}

func (s *Server) allocInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	a, err := st.AllocByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if a == nil {
		return 0, nil, codedErr(http.StatusNotFound, "alloc not found")
	}
	if err := authzOf(r).AllowNamespace(a.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, "allocs")
	return idx, a, err
}

func (s *Server) evalList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	evals, err := st.EvalsByIDPrefix(ws, namespaceOf(r), r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	allowed := listFilter(r, acl.NamespaceCapabilityReadJob)
	out := make([]*structs.Evaluation, 0, len(evals))
	for _, e := range evals {
		if allowed(e.Namespace) {
			out = append(out, e)
		}
	}
	idx, err := maxIndex(st, "evals")
	return idx, out, err
}

func (s *Server) evalInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	related, err := queryBool(r, "related", false)
	if err != nil {
		return 0, nil, err
	}
	e, err := st.EvalByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if e == nil {
		return 0, nil, codedErr(http.StatusNotFound, "eval not found")
	}
	if err := authzOf(r).AllowNamespace(e.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
		return 0, nil, err
	}
	if related {
		others, err := st.EvalsByJob(ws, e.Namespace, e.JobID)
		if err != nil {
			return 0, nil, err
		}
		e = e.Copy() // the stored eval is shared
		e.RelatedEvals = make([]*structs.EvaluationStub, 0, len(others))
		for _, o := range others {
			if o.ID != e.ID {
				e.RelatedEvals = append(e.RelatedEvals, o.Stub())
			}
		}
	}
	idx, err := maxIndex(st, "evals")
	return idx, e, err
}

func (s *Server) evalAllocations(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	e, err := st.EvalByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	z := authzOf(r)
	if e != nil {
		if err := z.AllowNamespace(e.Namespace, acl.NamespaceCapabilityReadJob); err != nil {
			return 0, nil, err
		}
	}
	allocs, err := st.AllocsByEval(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	idx, err := maxIndex(st, "allocs")
	return idx, allocStubs(allocs, false, z.NamespaceFilter(acl.NamespaceCapabilityReadJob)), err
}
