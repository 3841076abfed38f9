package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// autopilotConfig writes an agent config file with a short stabilization
// time, so rejoining servers become voters within the test.
func autopilotConfig(t testing.TB, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.hcl")
	body := "autopilot {\n  server_stabilization_time = \"2s\"\n" + extra + "}\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func raftPeers(t testing.TB, a *agentProc, stale bool) *structs.RaftConfigurationResponse {
	t.Helper()
	var out structs.RaftConfigurationResponse
	q := ""
	if stale {
		q = "?stale"
	}
	if err := getJSON(a.addr()+"/v1/operator/raft/configuration"+q, &out); err != nil {
		return nil
	}
	return &out
}

// voters lists the voters of a's Raft configuration by address.
func voters(t testing.TB, a *agentProc) map[string]bool {
	out := map[string]bool{}
	if c := raftPeers(t, a, false); c != nil {
		for _, s := range c.Servers {
			if s.Voter {
				out[s.Address] = true
			}
		}
	}
	return out
}

// requireStateHashesEqual waits until every server reports its replica
// state at the same index and checks the hashes agree.
func requireStateHashesEqual(t testing.TB, servers []*agentProc) {
	t.Helper()
	var last string
	waitFor(t, 20*time.Second, "equal replica state hashes", func() (bool, string) {
		var first *structs.StateHash
		var got []string
		for _, s := range servers {
			var h structs.StateHash
			if err := getJSON(s.addr()+"/v1/operator/state/hash", &h); err != nil {
				return false, err.Error()
			}
			got = append(got, fmt.Sprintf("%s@%d", h.Hash[:15], h.Index))
			if first == nil {
				first = &h
				continue
			}
			if h.Index != first.Index {
				return false, strings.Join(got, " ")
			}
			if h.Hash != first.Hash {
				t.Fatalf("replicas at index %d disagree: %s", h.Index, strings.Join(got, " "))
			}
		}
		last = strings.Join(got, " ")
		return true, ""
	})
	t.Logf("replica state hashes agree: %s", last)
}

// A leader stopped with SIGTERM hands leadership over (no election
// timeout: the others have a leader again well within a second) and
// leaves the voter set; started again, it rejoins and autopilot makes it a
// voter once it has been stable.
func TestLeaderSIGTERMHandsOverAndLeavesTheVoterSet(t *testing.T) {
	servers := startServers(t, 3, "-config", autopilotConfig(t, ""))
	li := stableLeader(t, servers)
	old := servers[li]
	register(t, old, "before")
	var rest []*agentProc
	for i, s := range servers {
		if i != li {
			rest = append(rest, s)
		}
	}
	start := time.Now()
	_ = old.cmd.Process.Signal(syscall.SIGTERM)
	var newLeader *agentProc
	waitFor(t, 10*time.Second, "a new leader", func() (bool, string) {
		for _, s := range rest {
			var l string
			if getJSON(s.addr()+"/v1/status/leader", &l) == nil && l == s.ip+":4647" {
				newLeader = s
				return true, ""
			}
		}
		return false, ""
	})
	t.Logf("new leader %s after SIGTERM to the old one", time.Since(start).Round(time.Millisecond))
	select {
	case <-old.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the old leader did not exit")
	}
	// The old leader says whether Raft's leadership transfer succeeded
	// (its future completes once the target took over). Timing it instead
	// (under an election timeout) failed on a loaded machine.
	if logs := old.logs.String(); !strings.Contains(logs, "leaving: leadership handed over") {
		t.Fatalf("leadership was not handed over:\n%s", logs)
	}
	// Leave waits for its removal only up to a bound (or until the leader
	// falls silent towards it); the removal itself may commit just after
	// the process exits.
	waitFor(t, 15*time.Second, "the old leader out of the voter set", func() (bool, string) {
		v := voters(t, newLeader)
		return len(v) == 2 && !v[old.ip+":4647"], fmt.Sprint(v)
	})
	register(t, newLeader, "after")

	old.start()
	waitFor(t, 40*time.Second, "the old leader back as a voter", func() (bool, string) {
		v := voters(t, newLeader)
		return len(v) == 3 && v[old.ip+":4647"], fmt.Sprint(v)
	})
	var health structs.OperatorHealthReply
	waitFor(t, 20*time.Second, "a healthy cluster", func() (bool, string) {
		err := getJSON(newLeader.addr()+"/v1/operator/autopilot/health", &health)
		return err == nil && health.Healthy && health.FailureTolerance == 1, fmt.Sprintf("%+v %v", health, err)
	})
	requireStateHashesEqual(t, servers)
}

// A server killed for good is removed by autopilot once gossip declares
// it failed; its health shows it unhealthy meanwhile. With cleanup turned
// off (orch operator autopilot set-config), an operator removes one with
// orch operator raft remove-peer.
func TestAutopilotRemovesDeadServers(t *testing.T) {
	servers := startServers(t, 3, "-config", autopilotConfig(t, ""))
	li := stableLeader(t, servers)
	leader := servers[li]
	victim := servers[(li+1)%3]
	register(t, leader, "j")
	waitFor(t, 20*time.Second, "a healthy cluster", func() (bool, string) {
		var h structs.OperatorHealthReply
		err := getJSON(leader.addr()+"/v1/operator/autopilot/health", &h)
		return err == nil && h.Healthy, fmt.Sprintf("%+v %v", h, err)
	})
	out, code := leader.cli(t, "operator", "autopilot", "health")
	if code != 0 || !strings.Contains(out, "Healthy: true") || !strings.Contains(out, "FailureTolerance: 1") {
		t.Fatalf("autopilot health: exit %d\n%s", code, out)
	}
	victim.kill()
	waitFor(t, 60*time.Second, "the dead server removed", func() (bool, string) {
		v := voters(t, leader)
		return len(v) == 2 && !v[victim.ip+":4647"], fmt.Sprint(v)
	})
	out, code = leader.cli(t, "operator", "raft", "list-peers")
	if code != 0 || strings.Contains(out, victim.ip) || strings.Count(out, "true") != 2 {
		t.Fatalf("list-peers after cleanup: exit %d\n%s", code, out)
	}

	// Cleanup off: a dead server stays until an operator removes it.
	if out, code := leader.cli(t, "operator", "autopilot", "set-config", "-cleanup-dead-servers=false"); code != 0 || !strings.Contains(out, "Configuration updated!") {
		t.Fatalf("set-config: exit %d\n%s", code, out)
	}
	if out, code := leader.cli(t, "operator", "autopilot", "get-config"); code != 0 || !strings.Contains(out, "CleanupDeadServers = false") {
		t.Fatalf("get-config: exit %d\n%s", code, out)
	}
	victim.start()
	waitFor(t, 40*time.Second, "the restarted server back as a voter", func() (bool, string) {
		v := voters(t, leader)
		return len(v) == 3, fmt.Sprint(v)
	})
	conf := raftPeers(t, leader, false)
	var victimID string
	for _, s := range conf.Servers {
		if s.Address == victim.ip+":4647" {
			victimID = s.ID
		}
	}
	victim.kill()
	time.Sleep(12 * time.Second) // longer than gossip takes to declare it failed
	if v := voters(t, leader); len(v) != 3 {
		t.Fatalf("a dead server was removed with cleanup off: %v", v)
	}
	out, code = leader.cli(t, "operator", "raft", "remove-peer", "-peer-id="+victimID)
	if code != 0 || !strings.Contains(out, "Removed peer with id") {
		t.Fatalf("remove-peer: exit %d\n%s", code, out)
	}
	if v := voters(t, leader); len(v) != 2 || v[victim.ip+":4647"] {
		t.Fatalf("voters after remove-peer: %v", v)
	}
	if _, code := leader.cli(t, "operator", "raft", "remove-peer", "-peer-id=no-such-server"); code == 0 {
		t.Fatal("removing an unknown peer succeeded")
	}
}

// The documented peers.json recovery (docs/operations.md), performed: two
// of three servers are lost for good; the survivor, alone without a
// quorum, is stopped, given a peers.json naming only itself, and started
// again: it leads with every job it had.
func TestPeersJSONRecovery(t *testing.T) {
	servers := startServers(t, 3)
	leader := servers[stableLeader(t, servers)]
	for i := 0; i < 5; i++ {
		register(t, leader, fmt.Sprintf("keep%d", i))
	}
	survivor := servers[0]
	waitFor(t, 10*time.Second, "the survivor's replica", func() (bool, string) {
		code, _, _ := request("GET", survivor.addr()+"/v1/job/keep4?stale", nil, nil, 5*time.Second)
		return code == 200, ""
	})
	for _, s := range servers {
		s.kill()
	}
	for _, s := range servers[1:] {
		if err := os.RemoveAll(s.dataDir); err != nil {
			t.Fatal(err)
		}
	}
	// Without recovery the survivor cannot elect itself.
	survivor.start()
	time.Sleep(4 * time.Second)
	if code, _, body := request("GET", survivor.addr()+"/v1/job/keep0", nil, nil, 5*time.Second); code == 200 {
		t.Fatalf("the survivor answered without a quorum: %s", body)
	}
	survivor.kill()

	id, err := os.ReadFile(filepath.Join(survivor.dataDir, "server", "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	peers := []map[string]any{{"id": strings.TrimSpace(string(id)), "address": survivor.ip + ":4647", "non_voter": false}}
	b, _ := json.Marshal(peers)
	peersFile := filepath.Join(survivor.dataDir, "server", "raft", "peers.json")
	if err := os.WriteFile(peersFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	survivor.start()
	waitFor(t, 20*time.Second, "the survivor leading", func() (bool, string) {
		var l string
		err := getJSON(survivor.addr()+"/v1/status/leader", &l)
		return err == nil && l == survivor.ip+":4647", fmt.Sprintf("%q %v", l, err)
	})
	for i := 0; i < 5; i++ {
		code, _, body := request("GET", survivor.addr()+fmt.Sprintf("/v1/job/keep%d", i), nil, nil, 5*time.Second)
		if code != 200 {
			t.Fatalf("job keep%d after recovery: %d %s", i, code, body)
		}
	}
	if _, err := os.Stat(peersFile); !os.IsNotExist(err) {
		t.Fatalf("peers.json left in place after the recovery: %v", err)
	}
	if v := voters(t, survivor); len(v) != 1 {
		t.Fatalf("voters after recovery: %v", v)
	}
	register(t, survivor, "after-recovery")
}
