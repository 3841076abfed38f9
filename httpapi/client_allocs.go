package httpapi

import (
	"net/http"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// nodeClientAllocs answers a client's watch with each of its allocations'
// AllocModifyIndex, not the allocations themselves: the client then fetches
// only those that changed, so a node's watch costs O(changes), not
// O(allocations on the node) of full objects, per update.
func (s *Server) nodeClientAllocs(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	allocs, err := st.AllocsByNode(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	out := make(map[string]uint64, len(allocs))
	// The reply's index is the newest AllocModifyIndex on this node, not
	// the allocs table's: writes to other nodes' allocations, and this
	// client's own status reports, then leave the watch blocked instead of
	// answering with an unchanged map.
	var idx uint64 = 1
	for _, a := range allocs {
		out[a.ID] = a.AllocModifyIndex
		idx = max(idx, a.AllocModifyIndex)
	}
	return idx, out, nil
}

// allocsGet returns the full allocations named in the request, skipping
// IDs this server's replica does not hold (yet).
func (s *Server) allocsGet(w http.ResponseWriter, r *http.Request) {
	var req structs.AllocsGetRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	st := s.srv.State().Snapshot()
	out := make([]*structs.Allocation, 0, len(req.AllocIDs))
	for _, id := range req.AllocIDs {
		a, err := st.AllocByID(nil, id)
		if err != nil {
			writeError(w, err)
			return
		}
		if a != nil {
			out = append(out, a)
		}
	}
	idx, err := maxIndex(st, "allocs")
	if err != nil {
		writeError(w, err)
		return
	}
	s.setMeta(w, idx)
	writeJSON(w, r, http.StatusOK, out)
}
