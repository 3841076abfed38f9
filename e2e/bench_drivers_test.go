package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// benchTask is a long-running task of driver that needs no files: java runs
// the JDK's own RMI registry class on an ephemeral port.
func benchTask(driver string) *structs.Task {
	t := &structs.Task{Name: "t", Driver: driver, KillTimeout: time.Second,
		Resources: &structs.Resources{CPU: 10, MemoryMB: 32}}
	switch driver {
	case "raw_exec", "exec":
		t.Config = map[string]any{"command": "/bin/sleep", "args": []string{"3600"}}
	case "docker":
		t.Config = map[string]any{"image": busyboxImage, "command": "sleep", "args": []string{"3600"}}
	case "java":
		t.Config = map[string]any{"class": "sun.rmi.registry.RegistryImpl", "args": []string{"0"}}
		t.Resources.MemoryMB = 256
	}
	return t
}

func benchJob(id string, count int, task *structs.Task) *structs.Job {
	return &structs.Job{
		ID: id, Name: id, Type: structs.JobTypeService, Datacenters: []string{"*"},
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: count, Tasks: []*structs.Task{task}}},
	}
}

// waitJobAllocs blocks on the job's allocations until n are in status.
func waitJobAllocs(b *testing.B, ctx context.Context, c *api.Client, id string, n int, status string, timeout time.Duration) {
	start := time.Now()
	var index uint64
	for {
		var allocs []*structs.AllocListStub
		qm, err := c.Query(ctx, "/v1/job/"+id+"/allocations", &api.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Second}, &allocs)
		if err != nil {
			b.Fatalf("allocations of %s: %v", id, err)
		}
		got := 0
		for _, al := range allocs {
			if al.ClientStatus == status {
				got++
			}
			if al.ClientStatus == structs.AllocClientStatusFailed && status != structs.AllocClientStatusFailed {
				b.Fatalf("job %s: alloc %s failed: %+v", id, al.ID, al.TaskStates)
			}
		}
		if got >= n {
			return
		}
		if time.Since(start) > timeout {
			b.Fatalf("job %s: %d/%d allocs %s after %s", id, got, n, status, timeout)
		}
		index = qm.LastIndex
	}
}

// BenchmarkSubmitToRunningDrivers is E1 per driver: from PUT /v1/jobs until
// the API reports the allocation running, on a warm dev agent. Each job is
// stopped (outside the measurement) before the next is submitted.
// Run: go test -run '^$' -bench SubmitToRunningDrivers -benchtime 30x ./e2e/
func BenchmarkSubmitToRunningDrivers(b *testing.B) {
	a := startAgent(b, newIP(), b.TempDir(), "-dev")
	waitReadyB(b, a)
	jt := trackJobs(b, a)
	c := a.api(b)
	ctx := context.Background()
	for _, d := range allDrivers {
		b.Run(d, func(b *testing.B) {
			needDriver(b, d)
			run := func(id string) time.Duration {
				jt.add(id)
				start := time.Now()
				if _, err := c.Jobs().Register(ctx, benchJob(id, 1, benchTask(d))); err != nil {
					b.Fatalf("register %s: %v", id, err)
				}
				waitJobAllocs(b, ctx, c, id, 1, structs.AllocClientStatusRunning, 60*time.Second)
				took := time.Since(start)
				if _, err := c.Jobs().Deregister(ctx, id, false, nil); err != nil {
					b.Fatalf("deregister %s: %v", id, err)
				}
				waitJobAllocs(b, ctx, c, id, 1, structs.AllocClientStatusComplete, 30*time.Second)
				return took
			}
			run("warm-" + d)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lat = append(lat, run(fmt.Sprintf("e1-%s-%d", d, i)))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p := func(q float64) float64 {
				return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(p(0.5), "p50-ms")
			b.ReportMetric(p(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// memKB reads a process's RSS and PSS in KiB.
func memKB(pid int) (rss, pss int) {
	rss = vmRSS(pid)
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return rss, 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Pss:" {
			pss, _ = strconv.Atoi(f[1])
		}
	}
	return rss, pss
}

// taskOverhead sums RSS and PSS of the processes that exist per task other
// than the task's own command: every process of the task's allocations
// that is not named command, plus their ancestors up to pid 1 or the agent.
func taskOverhead(agentPid int, allocIDs []string, command string) (n, rssKB, pssKB int) {
	seen := map[int]bool{}
	for _, id := range allocIDs {
		for _, p := range processesWithEnv("NOMAD_ALLOC_ID", id) {
			for q := p; q > 1 && q != agentPid && !seen[q]; q = ppidOf(q) {
				seen[q] = true
			}
		}
	}
	// Each task's log monitor runs in its own session, not under the
	// agent or the shim; its command line names the allocation.
	for _, p := range logMonitors(allocIDs) {
		seen[p] = true
	}
	for p := range seen {
		comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) == command {
			continue
		}
		r, s := memKB(p)
		n, rssKB, pssKB = n+1, rssKB+r, pssKB+s
	}
	return n, rssKB, pssKB
}

// logMonitors lists the log monitor processes of the allocations.
func logMonitors(allocIDs []string) []int {
	ids := map[string]bool{}
	for _, id := range allocIDs {
		ids[id] = true
	}
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 7 && args[1] == "logmon" {
			if alloc, _, _ := strings.Cut(args[7], "/"); ids[alloc] {
				out = append(out, pid)
			}
		}
	}
	return out
}

func ppidOf(pid int) int {
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// BenchmarkClientTaskMemory is E2: the client agent's RSS idle and with 100
// running `sleep` tasks of one driver, and the per-task cost: the agent's
// RSS growth per task plus every per-task helper process (the supervising
// shims; the task's own `sleep` is not counted).
// Run: go test -run '^$' -bench ClientTaskMemory -benchtime 1x ./e2e/
func BenchmarkClientTaskMemory(b *testing.B) {
	const tasks = 100
	for _, d := range []string{"raw_exec", "exec"} {
		b.Run(d, func(b *testing.B) {
			needDriver(b, d)
			for i := 0; i < b.N; i++ {
				a := startAgent(b, newIP(), b.TempDir(), "-dev")
				waitReadyB(b, a)
				c := a.api(b)
				ctx := context.Background()
				pid := a.cmd.Process.Pid
				// Let the fingerprinters and the first GC cycles settle.
				time.Sleep(5 * time.Second)
				idle, idlePss := memKB(pid)

				task := benchTask(d)
				task.Resources = &structs.Resources{CPU: 10, MemoryMB: 10}
				job := benchJob("mem-"+d, tasks, task)
				if _, err := c.Jobs().Register(ctx, job); err != nil {
					b.Fatalf("register: %v", err)
				}
				waitJobAllocs(b, ctx, c, job.ID, tasks, structs.AllocClientStatusRunning, 120*time.Second)
				time.Sleep(5 * time.Second)
				loaded, loadedPss := memKB(pid)
				var ids []string
				var allocs []*structs.AllocListStub
				if _, err := c.Query(ctx, "/v1/job/"+job.ID+"/allocations", nil, &allocs); err != nil {
					b.Fatal(err)
				}
				for _, al := range allocs {
					ids = append(ids, al.ID)
				}
				nShim, shimRSS, shimPSS := taskOverhead(pid, ids, "sleep")

				b.ReportMetric(float64(idle)/1024, "agent-idle-RSS-MB")
				b.ReportMetric(float64(idlePss)/1024, "agent-idle-PSS-MB")
				b.ReportMetric(float64(loaded)/1024, "agent-100-RSS-MB")
				b.ReportMetric(float64(loadedPss)/1024, "agent-100-PSS-MB")
				b.ReportMetric(float64(loaded-idle)/tasks/1024, "agent-RSS-MB/task")
				b.ReportMetric(float64(nShim)/tasks, "helper-procs/task")
				b.ReportMetric(float64(shimRSS)/tasks/1024, "helper-RSS-MB/task")
				b.ReportMetric(float64(shimPSS)/tasks/1024, "helper-PSS-MB/task")
				b.ReportMetric(float64(loaded-idle+shimRSS)/tasks/1024, "total-RSS-MB/task")
				b.ReportMetric(0, "ns/op")

				if _, err := c.Jobs().Deregister(ctx, job.ID, true, nil); err != nil {
					b.Fatalf("deregister: %v", err)
				}
				deadline := time.Now().Add(60 * time.Second)
				for time.Now().Before(deadline) && len(allocProcesses(ids)) > 0 {
					time.Sleep(200 * time.Millisecond)
				}
				a.kill()
				for _, p := range allocProcesses(ids) {
					b.Logf("killing leftover task process %d", p)
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
		})
	}
}
