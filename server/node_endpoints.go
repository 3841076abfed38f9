package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/control"
	"github.com/orch-project/orch/gossip"
	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

// nodeRoutes are the control-channel calls of a client's node agent.
func (s *Server) nodeRoutes() {
	s.control.Handle(control.Route{Method: control.MethodNodeRegister, Auth: control.AuthRegister, Leader: true, Handler: s.ctlRegister})
	s.control.Handle(control.Route{Method: control.MethodNodeHeartbeat, Auth: control.AuthNode, Leader: true, Handler: s.ctlHeartbeat})
	s.control.Handle(control.Route{Method: control.MethodNodeContact, Auth: control.AuthNodeIfKnown, Local: true, Handler: s.ctlContact})
	s.control.Handle(control.Route{Method: control.MethodNodeWatchAllocs, Auth: control.AuthNode, Handler: s.ctlWatchAllocs})
	s.control.Handle(control.Route{Method: control.MethodAllocsGet, Auth: control.AuthNode, Handler: s.ctlAllocsGet})
	s.control.Handle(control.Route{Method: control.MethodAllocsUpdate, Auth: control.AuthNode, Leader: true, Handler: s.ctlAllocsUpdate})
}

func (s *Server) ctlRegister(ctx context.Context, c *control.Call) (any, error) {
	var req control.RegisterRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if req.Node == nil {
		return nil, control.Errorf(http.StatusBadRequest, "registration without a node")
	}
	if req.Node.ID != c.Node {
		return nil, control.Errorf(http.StatusForbidden, "node %s cannot register node %s", c.Node, req.Node.ID)
	}
	n := *req.Node
	n.SecretID = c.Secret
	return s.RegisterNode(ctx, &n)
}

// validNodeID bounds what a client may use as its node ID: a UUID.
func validNodeID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f'):
		default:
			return false
		}
	}
	return true
}

// RegisterNode records a client's node: a new node with its secret, or the
// client-owned fields of a known node whose secret matches. A registration
// that changes nothing costs no Raft write; it still counts as a
// heartbeat. A node that is new, back from down, or whose capacity changed
// gets evaluations for the system jobs, and blocked evals are retried.
func (s *Server) RegisterNode(ctx context.Context, node *structs.Node) (*control.HeartbeatResponse, error) {
	if !s.IsLeader() {
		return nil, ErrNotLeader
	}
	if err := validateNodeRegistration(node); err != nil {
		return nil, err
	}
	existing, err := s.State().NodeByID(nil, node.ID)
	if err != nil {
		return nil, fmt.Errorf("reading node: %w", err)
	}
	if existing != nil && existing.SecretID != "" &&
		subtle.ConstantTimeCompare([]byte(existing.SecretID), []byte(node.SecretID)) != 1 {
		return nil, control.ErrBadSecret
	}
	if existing == nil || existing.Name != node.Name {
		if err := s.checkNodeName(node); err != nil {
			return nil, err
		}
	}
	status := ""
	if existing == nil || existing.Status != structs.NodeStatusReady {
		status = structs.NodeStatusReady
	}
	changed := existing == nil || status != "" || existing.SecretID == "" || !structs.ClientFieldsEqual(existing, node)
	resp := &control.HeartbeatResponse{}
	if existing != nil {
		resp.Index = existing.ModifyIndex
	}
	if changed {
		if err := ctx.Err(); err != nil {
			return nil, err // the caller gave up: do not commit on its behalf
		}
		index, err := s.raftApplyCtx(ctx, raftfsm.NodeClientRegisterType, &raftfsm.NodeClientRegister{
			Node: node, Status: status, Time: s.now(),
		})
		if err != nil {
			return nil, err
		}
		resp.Index = index
		if existing == nil {
			s.logger.Info("node registered", "node_id", node.ID, "name", node.Name)
		}
	}
	// The registration counts as a heartbeat when the timers run; before
	// they do (leadership being established) every node gets the
	// failover TTL anyway.
	_ = s.fillHeartbeat(resp, node.ID, false)
	return resp, nil
}

func validateNodeRegistration(n *structs.Node) error {
	switch {
	case n == nil:
		return control.Errorf(http.StatusBadRequest, "registration without a node")
	case !validNodeID(n.ID):
		return control.Errorf(http.StatusBadRequest, "node ID %q is not a UUID", n.ID)
	case n.SecretID == "":
		return control.Errorf(http.StatusBadRequest, "node %s has no secret", n.ID)
	case n.Name == "":
		return control.Errorf(http.StatusBadRequest, "node %s has no name", n.ID)
	case n.Datacenter == "":
		return control.Errorf(http.StatusBadRequest, "node %s has no datacenter", n.ID)
	}
	return nil
}

// checkNodeName refuses a name another live node holds: two agents with
// one name would also collide in the gossip pool.
func (s *Server) checkNodeName(node *structs.Node) error {
	others, err := s.State().Snapshot().NodesByName(nil, node.Name)
	if err != nil {
		return fmt.Errorf("reading nodes named %q: %w", node.Name, err)
	}
	for _, o := range others {
		if o.ID != node.ID && o.Status != structs.NodeStatusDown {
			return control.Errorf(http.StatusConflict,
				"node name %q is already used by node %s (status %s); give this agent another name (-node) or stop the other",
				node.Name, o.ID, o.Status)
		}
	}
	return nil
}

// fillHeartbeat renews the node's heartbeat and describes the servers.
func (s *Server) fillHeartbeat(resp *control.HeartbeatResponse, nodeID string, leaving bool) error {
	ttl, ok := s.heartbeats.beat(nodeID, leaving)
	if !ok {
		// Raft leader, but its heartbeat timers are not running yet (or
		// any more): an acknowledgement would promise what nobody keeps.
		return control.Errorf(http.StatusServiceUnavailable, "leadership not established")
	}
	resp.HeartbeatTTL = ttl
	resp.Servers = s.ServerInfos()
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				resp.NumVoters++
				resp.Voters = append(resp.Voters, string(srv.ID))
			}
		}
	}
	return nil
}

// ServerInfos lists the region's alive servers as clients reach them.
func (s *Server) ServerInfos() []control.ServerInfo {
	if s.gossip == nil {
		return []control.ServerInfo{{Name: s.cfg.NodeName, RPCAddr: s.raftAddr, Datacenter: s.cfg.Datacenter}}
	}
	var out []control.ServerInfo
	for _, m := range s.gossip.Members() {
		if m.Status != gossip.StatusAlive || m.Tags[structs.TagRole] != "server" || m.Tags[structs.TagRegion] != s.cfg.Region {
			continue
		}
		if a := m.Tags[structs.TagRaftAddr]; a != "" {
			out = append(out, control.ServerInfo{Name: m.Name, RPCAddr: a, Datacenter: m.Tags[structs.TagDatacenter],
				SerfAddr: net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RPCAddr < out[j].RPCAddr })
	return out
}

func (s *Server) ctlHeartbeat(ctx context.Context, c *control.Call) (any, error) {
	var req control.HeartbeatRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	resp := &control.HeartbeatResponse{}
	// Re-arm the timer before looking at the status: an expiry that has
	// not committed yet sees the new timer and stands down.
	if err := s.fillHeartbeat(resp, c.Node, req.Leaving); err != nil {
		return nil, err
	}
	s.heartbeats.statusMu.Lock()
	defer s.heartbeats.statusMu.Unlock()
	node, err := s.State().NodeByID(nil, c.Node)
	if err != nil {
		return nil, fmt.Errorf("reading node: %w", err)
	}
	if node == nil {
		s.heartbeats.forget(c.Node)
		return nil, control.ErrUnknownNode
	}
	resp.Index = node.ModifyIndex
	if node.Status != structs.NodeStatusReady {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.setNodeStatus(node, structs.NodeStatusReady, "node heartbeat received"); err != nil {
			return nil, err
		}
		if n, _ := s.State().NodeByID(nil, c.Node); n != nil {
			resp.Index = n.ModifyIndex
		}
	}
	return resp, nil
}

// watchWaitCap bounds one allocation watch; freshCheck is how often a
// blocked watch re-checks that this replica still hears from the leader.
const (
	watchWaitCap = 5 * time.Minute
	freshCheck   = time.Second
)

func (s *Server) ctlWatchAllocs(ctx context.Context, c *control.Call) (any, error) {
	var req control.WatchAllocsRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	wait := min(max(req.MaxWait, time.Second), watchWaitCap)
	deadline := time.Now().Add(wait)
	for {
		st := s.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		snap := st.Snapshot()
		allocs, err := snap.AllocsByNode(ws, c.Node)
		if err != nil {
			return nil, fmt.Errorf("reading node allocations: %w", err)
		}
		stateIdx, err := snap.Index(state.TableAllocs)
		if err != nil {
			return nil, fmt.Errorf("reading allocations index: %w", err)
		}
		resp := &control.WatchAllocsResponse{Allocs: make(map[string]uint64, len(allocs)), Index: 1, StateIndex: stateIdx}
		// The index is the newest AllocModifyIndex on the node: other
		// nodes' writes and this node's own status reports leave the
		// watch blocked.
		for _, a := range allocs {
			resp.Allocs[a.ID] = a.AllocModifyIndex
			resp.Index = max(resp.Index, a.AllocModifyIndex)
		}
		if resp.Index > req.MinIndex || len(allocs) != req.Known || !time.Now().Before(deadline) {
			return resp, nil
		}
		// A replica cut off from the leader must not hold the client:
		// re-check freshness while blocked.
		next := time.Now().Add(freshCheck)
		if deadline.Before(next) {
			next = deadline
		}
		wctx, cancel := context.WithDeadline(ctx, next)
		_ = ws.WatchCtx(wctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.control.Fresh(c.MaxStale); err != nil {
			return nil, err
		}
	}
}

func (s *Server) ctlAllocsGet(ctx context.Context, c *control.Call) (any, error) {
	var req control.AllocsGetRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	snap := s.State().Snapshot()
	resp := &control.AllocsGetResponse{Allocs: make([]*structs.Allocation, 0, len(req.AllocIDs))}
	for _, id := range req.AllocIDs {
		a, err := snap.AllocByID(nil, id)
		if err != nil {
			return nil, fmt.Errorf("reading allocation %s: %w", id, err)
		}
		if a == nil {
			continue
		}
		if a.NodeID != c.Node {
			return nil, control.Errorf(http.StatusForbidden, "allocation %s is not on node %s", id, c.Node)
		}
		resp.Allocs = append(resp.Allocs, a)
		resp.Index = max(resp.Index, a.ModifyIndex)
	}
	return resp, nil
}

// clientStatuses are the statuses a client may report; lost and unknown are
// the servers' verdicts.
var clientStatuses = map[string]bool{
	"": true, structs.AllocClientStatusPending: true, structs.AllocClientStatusRunning: true,
	structs.AllocClientStatusComplete: true, structs.AllocClientStatusFailed: true,
}

func (s *Server) ctlAllocsUpdate(ctx context.Context, c *control.Call) (any, error) {
	var req control.AllocsUpdateRequest
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	snap := s.State().Snapshot()
	for _, a := range req.Allocs {
		if a == nil || a.ID == "" {
			return nil, control.Errorf(http.StatusBadRequest, "allocation updates must carry an ID")
		}
		if !clientStatuses[a.ClientStatus] {
			return nil, control.Errorf(http.StatusBadRequest, "allocation %s: a client cannot report status %q", a.ID, a.ClientStatus)
		}
		stored, err := snap.AllocByID(nil, a.ID)
		if err != nil {
			return nil, fmt.Errorf("reading allocation %s: %w", a.ID, err)
		}
		if stored != nil && stored.NodeID != c.Node {
			return nil, control.Errorf(http.StatusForbidden, "node %s cannot update allocation %s of node %s", c.Node, a.ID, stored.NodeID)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp, err := s.UpdateAllocsFromClient(ctx, req.Allocs)
	if err != nil {
		return nil, err
	}
	return &control.WriteResponse{Index: resp.Index}, nil
}
