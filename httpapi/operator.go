package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hashicorp/go-memdb"

	"github.com/orch-project/orch/acl"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// OperatorBackend is the Raft and autopilot side of a server
// (/v1/operator/raft/*, /v1/operator/autopilot/*) plus the replica state
// hash fault tests compare across servers.
type OperatorBackend interface {
	RaftConfiguration() (*structs.RaftConfigurationResponse, error)
	RemoveRaftPeer(ctx context.Context, id, address string) error
	AutopilotConfig() (*structs.AutopilotConfig, error)
	SetAutopilotConfig(ctx context.Context, c *structs.AutopilotConfig, cas bool, index uint64) (bool, uint64, error)
	AutopilotHealth(ctx context.Context) (*structs.OperatorHealthReply, error)
	RaftStats() *structs.RaftStats
	StateHash() (structs.StateHash, error)
}

func (s *Server) operatorRoutes(rt *router) {
	read, write := operatorLevel(acl.PolicyRead), operatorLevel(acl.PolicyWrite)
	// Nomad requires a management token for the Raft configuration.
	rt.handle("GET /v1/operator/raft/configuration", management(), s.read(s.raftConfiguration))
	rt.handle("DELETE /v1/operator/raft/peer", management(), s.write(s.raftRemovePeer))
	rt.handle("GET /v1/operator/autopilot/configuration", read, s.read(s.autopilotGetConfig))
	rt.handle("PUT /v1/operator/autopilot/configuration", write, s.write(s.autopilotSetConfig))
	rt.handle("GET /v1/operator/autopilot/health", read, s.read(s.autopilotHealth))
	// Asked of each server in turn by fault tests: always answered by the
	// server asked, from its own replica.
	rt.handle("GET /v1/operator/state/hash", read, s.readLocal(s.stateHash))
	// What the leader's autopilot asks every server: its own Raft log and
	// leader contact. Public, as /v1/status/leader.
	rt.handle("GET /v1/status/raft", public(), s.readLocal(s.raftStats))
}

var errNoOperator = codedErr(http.StatusNotImplemented, "this agent has no Raft operator interface")

func (s *Server) operator() (OperatorBackend, error) {
	ob, ok := s.srv.(OperatorBackend)
	if !ok {
		return nil, errNoOperator
	}
	return ob, nil
}

func (s *Server) raftConfiguration(r *http.Request, _ memdb.WatchSet, _ *state.Snapshot) (uint64, any, error) {
	ob, err := s.operator()
	if err != nil {
		return 0, nil, err
	}
	c, err := ob.RaftConfiguration()
	if err != nil {
		return 0, nil, err
	}
	return c.Index, c, nil
}

func (s *Server) raftRemovePeer(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	ob, err := s.operator()
	if err != nil {
		return nil, 0, err
	}
	q := r.URL.Query()
	id, addr := q.Get("id"), q.Get("address")
	if (id == "") == (addr == "") {
		return nil, 0, codedErr(http.StatusBadRequest, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	}
	if err := ob.RemoveRaftPeer(r.Context(), id, addr); err != nil {
		return nil, 0, err
	}
	return nil, 0, nil
}

func (s *Server) autopilotGetConfig(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ob, err := s.operator()
	if err != nil {
		return 0, nil, err
	}
	c, err := st.AutopilotConfig(ws)
	if err != nil {
		return 0, nil, err
	}
	if c == nil {
		if c, err = ob.AutopilotConfig(); err != nil {
			return 0, nil, err
		}
	}
	idx, err := maxIndex(st, state.TableAutopilotConfig)
	return idx, c, err
}

func (s *Server) autopilotSetConfig(w http.ResponseWriter, r *http.Request) (any, uint64, error) {
	ob, err := s.operator()
	if err != nil {
		return nil, 0, err
	}
	c, err := ob.AutopilotConfig()
	if err != nil {
		return nil, 0, err
	}
	// Fields the body leaves out keep their current values.
	if err := decodeBody(r, c); err != nil {
		return nil, 0, err
	}
	var cas bool
	var index uint64
	if v := r.URL.Query().Get("cas"); v != "" {
		if index, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, 0, codedErr(http.StatusBadRequest, "Error parsing cas value: %v", err)
		}
		cas = true
	}
	ok, idx, err := ob.SetAutopilotConfig(r.Context(), c, cas, index)
	if err != nil {
		return nil, 0, err
	}
	return ok, idx, nil
}

func (s *Server) autopilotHealth(r *http.Request, _ memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ob, err := s.operator()
	if err != nil {
		return 0, nil, err
	}
	h, err := ob.AutopilotHealth(r.Context())
	if err != nil {
		return 0, nil, err
	}
	idx, err := st.LatestIndex()
	return idx, h, err
}

func (s *Server) stateHash(r *http.Request, _ memdb.WatchSet, _ *state.Snapshot) (uint64, any, error) {
	ob, err := s.operator()
	if err != nil {
		return 0, nil, err
	}
	h, err := ob.StateHash()
	return h.Index, h, err
}

func (s *Server) raftStats(r *http.Request, _ memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	ob, err := s.operator()
	if err != nil {
		return 0, nil, err
	}
	idx, err := st.LatestIndex()
	return idx, ob.RaftStats(), err
}
