package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// crashTrials is how many kill -9 rounds TestAgentKilledDuringSubmissionBurst
// runs; ORCH_E2E_LONG=1 runs many more.
func crashTrials() int {
	if os.Getenv("ORCH_E2E_LONG") != "" {
		return 30
	}
	return 6
}

// sleeperJob is a service job of count allocations whose task is one
// `sleep` process, so a task's process count is exact.
func sleeperJob(id, driver string, count int) *structs.Job {
	cfg := map[string]any{"command": "/bin/sh", "args": []any{"-c", "exec sleep 100000"}}
	if driver == "docker" {
		cfg = map[string]any{"image": busyboxImage, "command": "sh", "args": []any{"-c", "exec sleep 100000"}}
	}
	return &structs.Job{
		ID: id, Name: id, Type: structs.JobTypeService, Datacenters: []string{"*"},
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: count, Tasks: []*structs.Task{{
			Name: "main", Driver: driver, Config: cfg,
			Resources: &structs.Resources{CPU: 20, MemoryMB: 16},
		}}}},
	}
}

// sleepersByAlloc maps each allocation ID to the pids of its task's `sleep`
// processes, from one pass over /proc. Shims and shells are not counted.
func sleepersByAlloc() map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if id, ok := strings.CutPrefix(kv, "NOMAD_ALLOC_ID="); ok {
				out[id] = append(out[id], pid)
				break
			}
		}
	}
	return out
}

// TestAgentKilledDuringSubmissionBurst kill -9s the agent while a burst of
// jobs is being placed and started, again and again. After each restart,
// once the allocations settle, every running allocation has exactly one
// task process and no process runs for an allocation that is not running;
// after the jobs are purged no task process is left at all.
func TestAgentKilledDuringSubmissionBurst(t *testing.T) {
	var drivers []string
	for _, d := range usableDrivers(t) {
		if d != "java" { // a JVM per allocation is too heavy for a burst
			drivers = append(drivers, d)
		}
	}
	ip, dataDir := newIP(), t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	agents := []*agentProc{a}
	t.Cleanup(func() { dumpAgentLogs(t, agents) })
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const jobsPerBurst, count = 6, 2
	for trial := 0; trial < crashTrials(); trial++ {
		var mu sync.Mutex
		var submitted []string
		var wg sync.WaitGroup
		c := a.api(t)
		for j := 0; j < jobsPerBurst; j++ {
			id := fmt.Sprintf("burst-%d-%d", trial, j)
			driver := drivers[j%len(drivers)]
			jt.add(id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := c.Jobs().Register(ctx, sleeperJob(id, driver, count)); err == nil {
					mu.Lock()
					submitted = append(submitted, id)
					mu.Unlock()
				}
			}()
		}
		// The kill lands somewhere in the placements and starts.
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		a.kill()
		wg.Wait()
		a = startAgent(t, ip, dataDir, "-dev")
		agents = append(agents, a)
		jt.setAgent(a)
		waitReady(t, a, 1)
		for _, id := range submitted {
			waitFor(t, 60*time.Second, "allocations of "+id, func() (bool, string) {
				n := 0
				for _, al := range jobAllocs(t, a, id) {
					if al.DesiredStatus == structs.AllocDesiredStatusRun {
						n++
					}
				}
				return n >= count, fmt.Sprintf("%d allocs", n)
			})
		}
		checkOneProcessPerAlloc(t, a, trial)
		// Purge this trial's jobs (acknowledged or not: an unacknowledged
		// one may have been committed too) and check nothing survives.
		var allocs []string
		for j := 0; j < jobsPerBurst; j++ {
			id := fmt.Sprintf("burst-%d-%d", trial, j)
			for _, al := range jobAllocs(t, a, id) {
				allocs = append(allocs, al.ID)
			}
			if _, err := a.api(t).Jobs().Deregister(context.Background(), id, true, nil); err != nil && !strings.Contains(err.Error(), "not found") {
				t.Fatalf("purging %s: %v", id, err)
			}
		}
		waitFor(t, 30*time.Second, "purged jobs' processes to end", func() (bool, string) {
			left := sleepersByAlloc()
			var alive []string
			for _, id := range allocs {
				if len(left[id]) > 0 {
					alive = append(alive, fmt.Sprintf("%s:%v", id[:8], left[id]))
				}
			}
			return len(alive) == 0, strings.Join(alive, " ")
		})
		t.Logf("trial %d: %d jobs acknowledged, %d allocs checked", trial, len(submitted), len(allocs))
	}
}

// checkOneProcessPerAlloc waits for the agent's allocations to settle and
// then requires one task process per running allocation and none for any
// other (a copy the agent does not track).
func checkOneProcessPerAlloc(t *testing.T, a *agentProc, trial int) {
	t.Helper()
	// Every allocation this agent knows of; other tests' tasks are ignored.
	var known map[string]bool
	waitFor(t, 60*time.Second, "allocations to settle", func() (bool, string) {
		var allocs []*structs.AllocListStub
		if err := getJSON(a.addr()+"/v1/allocations", &allocs); err != nil {
			return false, err.Error()
		}
		known = map[string]bool{}
		procs := sleepersByAlloc()
		for _, al := range allocs {
			running := al.DesiredStatus == structs.AllocDesiredStatusRun && al.ClientStatus == structs.AllocClientStatusRunning
			known[al.ID] = running
			if al.DesiredStatus == structs.AllocDesiredStatusRun && al.ClientStatus == structs.AllocClientStatusPending {
				return false, "alloc " + al.ID[:8] + " pending"
			}
			if running && len(procs[al.ID]) != 1 {
				return false, fmt.Sprintf("alloc %s of %s has %d task processes: %s", al.ID[:8], al.JobID,
					len(procs[al.ID]), describePids(procs[al.ID]))
			}
		}
		return true, ""
	})
	// Settled: no allocation may have more than one copy, and no copy may
	// run for an allocation that is not running.
	procs := sleepersByAlloc()
	var bad []string
	for id, running := range known {
		pids := procs[id]
		if len(pids) > 1 || !running && len(pids) > 0 {
			slices.Sort(pids)
			detail := ""
			if al, err := getAlloc(a, id); err == nil {
				detail = fmt.Sprintf("job %s desired %s client %s; events: %s", al.JobID, al.DesiredStatus, al.ClientStatus,
					taskEvents(al.TaskStates["main"]))
			}
			bad = append(bad, fmt.Sprintf("alloc %s: running=%v, %s\n  %s", id, running, describePids(pids), detail))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("trial %d: task processes not matching allocations:\n%s", trial, strings.Join(bad, "\n"))
	}
}

// describePids names each process with its parent and their start times,
// for failure messages.
func describePids(pids []int) string {
	var out []string
	for _, pid := range pids {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(stat))
		ppid, start := "?", "?"
		if len(f) > 21 {
			ppid, start = f[3], f[21]
		}
		out = append(out, fmt.Sprintf("pid %d (ppid %s, start %s)", pid, ppid, start))
	}
	return strings.Join(out, ", ")
}

// dumpAgentLogs writes each agent's whole output to $ORCH_E2E_DUMP (when
// set) after a failure, for post-mortems of crash tests.
func dumpAgentLogs(t *testing.T, agents []*agentProc) {
	dir := os.Getenv("ORCH_E2E_DUMP")
	if !t.Failed() || dir == "" {
		return
	}
	for i, a := range agents {
		p := filepath.Join(dir, fmt.Sprintf("%s-agent-%d.log", t.Name(), i))
		if err := os.WriteFile(p, []byte(a.logs.String()), 0o644); err == nil {
			t.Logf("agent %d log: %s", i, p)
		}
	}
}
