package httpapi

import (
	"net/http"
	"strconv"

	"github.com/hashicorp/go-memdb"
	"github.com/orch-project/orch/state"
	"github.com/orch-project/orch/structs"
)

func (s *Server) statusLeader(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	idx, err := st.LatestIndex()
	return idx, s.srv.Leader(), err
}

func (s *Server) statusPeers(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	peers := s.srv.Peers()
	if peers == nil {
		peers = []string{}
	}
	idx, err := st.LatestIndex()
	return idx, peers, err
}

func (s *Server) regions(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	region := s.srv.Region()
	if region == "" {
		region = structs.DefaultRegion
	}
	idx, err := st.LatestIndex()
	return idx, []string{region}, err
}

func (s *Server) agentMembers(r *http.Request, ws memdb.WatchSet, st *state.Snapshot) (uint64, any, error) {
	members := s.srv.Members()
	if members == nil {
		members = []*structs.AgentMember{}
	}
	idx, err := st.LatestIndex()
	return idx, &structs.ServerMembers{
		ServerName: s.srv.NodeName(), ServerRegion: s.srv.Region(), ServerDC: s.srv.Datacenter(),
		Members: members,
	}, err
}

// agentSelf describes this agent; nomad's CLI calls it after job run.
func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) {
	var cfg map[string]any
	if s.cfg.AgentSelf != nil {
		cfg = s.cfg.AgentSelf()
	}
	if _, whole := cfg["config"]; whole {
		writeJSON(w, r, http.StatusOK, cfg)
		return
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	member := &structs.AgentMember{Tags: map[string]string{}, Status: "alive"}
	stats := map[string]map[string]string{}
	if s.srv != nil {
		member.Name = s.srv.NodeName()
		for _, m := range s.srv.Members() {
			if m.Name == s.srv.NodeName() {
				member = m
				break
			}
		}
		stats["nomad"] = map[string]string{
			"server":        "true",
			"leader":        strconv.FormatBool(s.srv.IsLeader()),
			"leader_addr":   s.srv.Leader(),
			"known_regions": "1",
		}
	}
	if s.client != nil {
		stats["client"] = map[string]string{"node_id": s.client.NodeID()}
		if s.srv == nil {
			stats["nomad"] = map[string]string{"server": "false"}
		}
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"config": cfg, "member": member, "stats": stats})
}

type healthStatus struct {
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// agentHealth answers 200 when every role this agent plays is healthy and
// 500 otherwise, so it can back a load balancer check.
func (s *Server) agentHealth(w http.ResponseWriter, r *http.Request) {
	out := map[string]*healthStatus{}
	code := http.StatusOK
	if s.srv != nil {
		h := &healthStatus{OK: true, Message: "ok"}
		if !s.srv.IsLeader() && s.srv.Leader() == "" && s.srv.LeaderHTTPAddr() == "" {
			h = &healthStatus{OK: false, Message: "No cluster leader"}
			code = http.StatusInternalServerError
		}
		out["server"] = h
	}
	if s.client != nil {
		out["client"] = &healthStatus{OK: true, Message: "ok"}
	}
	writeJSON(w, r, code, out)
}
