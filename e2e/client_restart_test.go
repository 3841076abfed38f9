package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	roots := map[string]procID{}
	for _, al := range before {
		root, ok := rootProcess(processesWithEnv("NOMAD_ALLOC_ID", al.ID))
		if !ok {
			t.Fatalf("no process for alloc %s", al.ID)
		}
		roots[al.ID] = root
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
		root, known := roots[al.ID]
		if al.ClientStatus != structs.AllocClientStatusRunning || !known {
			t.Fatalf("alloc %s is %s after a graceful client restart (known before: %v)", al.ID, al.ClientStatus, known)
		}
		// The allocation's root process (the one whose parent is not the
		// allocation's: the task's shim; its children come and go) must be
		// the same process as before: same pid and start time. Not the
		// lowest pid: pids wrap (pid_max 32768), so a short-lived child can
		// have a lower pid than its parent.
		if got, ok := rootProcess(processesWithEnv("NOMAD_ALLOC_ID", al.ID)); !ok || got != root {
			t.Fatalf("alloc %s runs root process %+v, had %+v", al.ID, got, root)
		}
	}
	var node structs.Node
	if err := getJSON(srv.addr()+"/v1/node/"+before[0].NodeID, &node); err != nil || node.Status != structs.NodeStatusReady {
		t.Fatalf("node after restart: %v %s", err, node.Status)
	}
	srv.cli(t, "job", "stop", "-purge", "ticker")
}

// procID names one process: a pid and its start time, so a reused pid is
// not taken for the same process.
type procID struct {
	Pid   int
	Start uint64
}

// procStat reads a process's parent pid and start time.
func procStat(pid int) (ppid int, start uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	return ppid, start, err1 == nil && err2 == nil
}

// rootProcess returns the one process of pids whose parent is not among
// them (processes that exit meanwhile are left out).
func rootProcess(pids []int) (procID, bool) {
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	var roots []procID
	for _, p := range pids {
		ppid, start, ok := procStat(p)
		if ok && !in[ppid] {
			roots = append(roots, procID{p, start})
		}
	}
	if len(roots) != 1 {
		return procID{}, false
	}
	return roots[0], true
}
