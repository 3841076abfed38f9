package httpapi

import (
	"net/http"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func (s *Server) nodeList(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	res, err := queryBool(r, "resources", false)
	if err != nil {
		return 0, nil, err
	}
	nodes, err := st.NodesByIDPrefix(ws, r.URL.Query().Get("prefix"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]*structs.NodeListStub, 0, len(nodes))
	for _, n := range nodes {
		stub := n.Stub()
		stub.Drivers = wireDrivers(stub.Drivers)
		if res {
			stub.NodeResources, stub.ReservedResources = n.NodeResources, n.ReservedResources
		}
		out = append(out, stub)
	}
	idx, err := maxIndex(st, "nodes")
	return idx, out, err
}

func (s *Server) nodeInfo(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	n, err := st.NodeByID(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if n == nil {
		return 0, nil, codedErr(http.StatusNotFound, "node not found")
	}
	// The secret authenticates the node's client; never hand it out.
	c := *n
	c.SecretID = ""
	c.Drivers = wireDrivers(c.Drivers)
	n = &c
	idx, err := maxIndex(st, "nodes")
	return idx, n, err
}

// nodeAllocations returns full allocations: the client's watch loop runs
// them from this reply.
func (s *Server) nodeAllocations(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	all, err := st.AllocsByNode(ws, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	allowed := authzOf(r).NamespaceFilter(acl.NamespaceCapabilityReadJob)
	allocs := make([]*structs.Allocation, 0, len(all))
	for _, a := range all {
		if allowed(a.Namespace) {
			allocs = append(allocs, a)
		}
	}
	idx, err := maxIndex(st, "allocs")
	return idx, allocs, err
}

// zeroTime is how Go's time.Time encodes its zero value; Nomad's client
// decodes DriverInfo.UpdateTime as a time, so an empty string would fail it.
const zeroTime = "0001-01-01T00:00:00Z"

// wireDrivers returns drivers with every UpdateTime a valid RFC 3339 time,
// copying only when one needs fixing (stored objects are shared).
func wireDrivers(in map[string]*structs.DriverInfo) map[string]*structs.DriverInfo {
	fix := false
	for _, d := range in {
		if d != nil && d.UpdateTime == "" {
			fix = true
		}
	}
	if !fix {
		return in
	}
	out := make(map[string]*structs.DriverInfo, len(in))
	for k, d := range in {
		if d != nil && d.UpdateTime == "" {
			c := *d
			c.UpdateTime = zeroTime
			d = &c
		}
		out[k] = d
	}
	return out
}
