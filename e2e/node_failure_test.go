package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestDeadClientIsMarkedDownAndItsWorkReplaced kills a client with
// SIGKILL: gossip declares it dead, the leader marks its node down and its
// allocations lost, and the scheduler replaces them on the other client.
func TestDeadClientIsMarkedDownAndItsWorkReplaced(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*agentProc{}
	for i := 0; i < 2; i++ {
		c := startAgent(t, newIP(), t.TempDir(), "-client", "-servers", srvIP, "-config", cfg)
		clients["agent-"+c.ip] = c
	}
	waitReady(t, srv, 2)

	out, code := srv.cli(t, "job", "run", "-detach", example("service.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
	allocs := waitAllocs(t, srv, "ticker", 2, structs.AllocClientStatusRunning, 20*time.Second)

	// Kill the client that runs the first allocation.
	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+allocs[0].NodeID, &node); err != nil {
		t.Fatal(err)
	}
	victim := clients[node.Name]
	if victim == nil {
		t.Fatalf("no client process for node %q", node.Name)
	}
	victim.kill()
	killed := time.Now()
	// The task processes outlive the killed agent; end them as a crash of
	// the whole machine would.
	for _, al := range allocs {
		if al.NodeID == node.ID {
			for _, pid := range processesWithEnv("NOMAD_ALLOC_ID", al.ID) {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	}

	waitFor(t, 30*time.Second, "node marked down", func() (bool, string) {
		var n structs.Node
		if err := getJSON(srv.addr()+"/v1/node/"+node.ID, &n); err != nil {
			return false, err.Error()
		}
		return n.Status == structs.NodeStatusDown, n.Status
	})
	t.Logf("node marked down %s after kill -9", time.Since(killed).Round(100*time.Millisecond))

	waitFor(t, 20*time.Second, "lost allocs replaced on the live node", func() (bool, string) {
		running, lost := 0, 0
		for _, al := range jobAllocs(t, srv, "ticker") {
			switch {
			case al.ClientStatus == structs.AllocClientStatusLost && al.NodeID == node.ID:
				lost++
			case al.ClientStatus == structs.AllocClientStatusRunning && al.NodeID != node.ID:
				running++
			}
		}
		return running == 2 && lost >= 1, fmt.Sprintf("running elsewhere %d, lost %d", running, lost)
	})
	srv.cli(t, "job", "stop", "-purge", "ticker")
}
