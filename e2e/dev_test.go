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

// processesWithEnv returns the pids whose environment holds key=value.
func processesWithEnv(key, value string) []int {
	entries, _ := os.ReadDir("/proc")
	want := []byte(key + "=" + value + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if strings.Contains(string(env)+"\x00", string(want)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestDevAgentRunsExamples(t *testing.T) {
	ip := newIP()
	dataDir := t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	waitReady(t, a, 1)

	// Batch: runs to completion, its output lands in the logs.
	out, code := a.cli(t, "job", "run", example("hello.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run hello: exit %d\n%s", code, out)
	}
	allocs := waitAllocs(t, a, "hello", 1, structs.AllocClientStatusComplete, 20*time.Second)
	logs, code := a.cli(t, "alloc", "logs", allocs[0].ID, "say")
	if code != 0 || !strings.Contains(logs, "hello from say in alloc 0") {
		t.Fatalf("alloc logs: exit %d, got %q", code, logs)
	}

	// Service: two instances keep running.
	out, code = a.cli(t, "job", "run", "-detach", example("service.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run service: exit %d\n%s", code, out)
	}
	running := waitAllocs(t, a, "ticker", 2, structs.AllocClientStatusRunning, 20*time.Second)
	waitFor(t, 10*time.Second, "ticker output", func() (bool, string) {
		l, _ := a.cli(t, "alloc", "logs", running[0].ID)
		return strings.Contains(l, "tick "), l
	})
	status, code := a.cli(t, "job", "status", "ticker")
	if code != 0 || !strings.Contains(status, "running") {
		t.Fatalf("job status ticker: exit %d\n%s", code, status)
	}

	// System: one instance on the single node.
	out, code = a.cli(t, "job", "run", "-detach", example("system.nomad.hcl"))
	if code != 0 {
		t.Fatalf("job run system: exit %d\n%s", code, out)
	}
	waitAllocs(t, a, "node-heartbeat", 1, structs.AllocClientStatusRunning, 20*time.Second)

	// Stop: the processes go away.
	for _, al := range running {
		if len(processesWithEnv("NOMAD_ALLOC_ID", al.ID)) == 0 {
			t.Fatalf("no process found for running alloc %s", al.ID)
		}
	}
	out, code = a.cli(t, "job", "stop", "ticker")
	if code != 0 {
		t.Fatalf("job stop: exit %d\n%s", code, out)
	}
	waitFor(t, 15*time.Second, "ticker processes to exit", func() (bool, string) {
		for _, al := range running {
			if p := processesWithEnv("NOMAD_ALLOC_ID", al.ID); len(p) > 0 {
				return false, "still running: " + al.ID
			}
		}
		return true, ""
	})
	waitAllocs(t, a, "ticker", 2, structs.AllocClientStatusComplete, 15*time.Second)

	// Restart on the same data dir: everything is still there.
	before := map[string]int{}
	for _, p := range []string{"/v1/jobs", "/v1/allocations", "/v1/evaluations"} {
		var list []map[string]any
		if err := getJSON(a.addr()+p, &list); err != nil {
			t.Fatal(err)
		}
		before[p] = len(list)
	}
	a.stop()
	a2 := startAgent(t, ip, dataDir, "-dev")
	waitReady(t, a2, 1)
	for p, n := range before {
		var list []map[string]any
		if err := getJSON(a2.addr()+p, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) < n {
			t.Fatalf("after restart %s has %d entries, had %d", p, len(list), n)
		}
	}
	var job structs.Job
	if err := getJSON(a2.addr()+"/v1/job/hello", &job); err != nil || job.ID != "hello" {
		t.Fatalf("job hello after restart: %v %+v", err, job.ID)
	}
	// The system job's task survived the agent restart and is still running.
	waitAllocs(t, a2, "node-heartbeat", 1, structs.AllocClientStatusRunning, 10*time.Second)
	a2.cli(t, "job", "stop", "-purge", "node-heartbeat")
}
