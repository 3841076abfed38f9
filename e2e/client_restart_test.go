package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestGracefulClientRestartKeepsAllocations restarts a client agent of a
// cluster (SIGTERM, then start again on the same data dir): its node must
// not be marked down nor its allocations replaced, and the same processes
// keep running.
func TestGracefulClientRestartKeepsAllocations(t *testing.T) {
	srvIP := newIP()
	srv := startAgent(t, srvIP, t.TempDir(), "-server", "-bootstrap-expect", "1")
	cfg := filepath.Join(t.TempDir(), "client.hcl")
	if err := os.WriteFile(cfg, []byte("plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clientIP, clientDir := newIP(), t.TempDir()
	c := startAgent(t, clientIP, clientDir, "-client", "-servers", srvIP, "-config", cfg)
	waitReady(t, srv, 1)
	if out, code := srv.cli(t, "job", "run", "-detach", example("service.nomad.hcl")); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, out)
	}
	before := waitAllocs(t, srv, "ticker", 2, structs.AllocClientStatusRunning, 20*time.Second)
	pids := map[string][]int{}
	for _, al := range before {
		pids[al.ID] = processesWithEnv("NOMAD_ALLOC_ID", al.ID)
		if len(pids[al.ID]) == 0 {
			t.Fatalf("no process for alloc %s", al.ID)
		}
	}

	c.stop()
	time.Sleep(2 * time.Second) // the servers see the graceful leave
	c2 := startAgent(t, clientIP, clientDir, "-client", "-servers", srvIP, "-config", cfg)
	_ = c2
	waitReady(t, srv, 1)
	// Longer than failure detection would take, shorter than the grace.
	time.Sleep(3 * time.Second)
	after := jobAllocs(t, srv, "ticker")
	if len(after) != 2 {
		t.Fatalf("%d allocations after the restart, want the same 2", len(after))
	}
	for _, al := range after {
		if al.ClientStatus != structs.AllocClientStatusRunning || pids[al.ID] == nil {
			t.Fatalf("alloc %s is %s after a graceful client restart (known before: %v)", al.ID, al.ClientStatus, pids[al.ID] != nil)
		}
		// The task's own process (the lowest pid; its children come and
		// go) must be the one from before the restart.
		if got := processesWithEnv("NOMAD_ALLOC_ID", al.ID); !slices.Contains(got, slices.Min(pids[al.ID])) {
			t.Fatalf("alloc %s runs pids %v, had %v", al.ID, got, pids[al.ID])
		}
	}
	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+before[0].NodeID, &node); err != nil || node.Status != structs.NodeStatusReady {
		t.Fatalf("node after restart: %v %s", err, node.Status)
	}
	srv.cli(t, "job", "stop", "-purge", "ticker")
}
