package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/orch-project/orch/structs"
)

// dockerAllocLabel is the label the docker driver puts on every container
// with the allocation's ID.
const dockerAllocLabel = "com.orch.alloc_id"

// jobTracker stops a test's jobs before its agent is killed, then removes
// whatever survived (processes, containers), so a failed test leaves nothing
// running on the shared machine. Register it after startAgent: cleanups run
// last-in first-out.
type jobTracker struct {
	t    testing.TB
	once sync.Once
	mu   sync.Mutex
	a    *agentProc // current agent; replaced when a test restarts it
	// jobs and allocs seen, for the final sweep.
	jobs   []string
	allocs map[string]bool
}

func trackJobs(t testing.TB, a *agentProc) *jobTracker {
	jt := &jobTracker{t: t, a: a, allocs: map[string]bool{}}
	t.Cleanup(func() { jt.once.Do(jt.cleanup) })
	return jt
}

// setAgent switches to a restarted agent; the cleanup is registered again so
// that it runs before that agent is killed.
func (jt *jobTracker) setAgent(a *agentProc) {
	jt.mu.Lock()
	jt.a = a
	jt.mu.Unlock()
	jt.t.Cleanup(func() { jt.once.Do(jt.cleanup) })
}

// add records a job submitted some other way, for the cleanup.
func (jt *jobTracker) add(jobID string) {
	jt.mu.Lock()
	defer jt.mu.Unlock()
	jt.jobs = append(jt.jobs, jobID)
}

// run submits an HCL job through the CLI without monitoring it.
func (jt *jobTracker) run(jobID, hcl string) {
	jt.t.Helper()
	path := filepath.Join(jt.t.TempDir(), jobID+".nomad.hcl")
	if err := os.WriteFile(path, []byte(hcl), 0o644); err != nil {
		jt.t.Fatal(err)
	}
	jt.mu.Lock()
	jt.jobs = append(jt.jobs, jobID)
	a := jt.a
	jt.mu.Unlock()
	out, code := a.cli(jt.t, "job", "run", "-detach", path)
	if code != 0 {
		jt.t.Fatalf("job run %s: exit %d\n%s\njob file:\n%s", jobID, code, out, hcl)
	}
}

// oneAlloc waits for the job's single allocation to exist and returns its ID.
func (jt *jobTracker) oneAlloc(jobID string) string {
	jt.t.Helper()
	jt.mu.Lock()
	a := jt.a
	jt.mu.Unlock()
	var id string
	waitFor(jt.t, 20*time.Second, "allocation of "+jobID, func() (bool, string) {
		allocs := jobAllocs(jt.t, a, jobID)
		if len(allocs) == 0 {
			return false, "none"
		}
		id = allocs[0].ID
		return true, ""
	})
	jt.mu.Lock()
	jt.allocs[id] = true
	jt.mu.Unlock()
	return id
}

func (jt *jobTracker) cleanup() {
	jt.mu.Lock()
	a, jobs := jt.a, jt.jobs
	allocs := make([]string, 0, len(jt.allocs))
	for id := range jt.allocs {
		allocs = append(allocs, id)
	}
	jt.mu.Unlock()
	alive := true
	select {
	case <-a.done:
		alive = false
	default:
	}
	if alive {
		for _, j := range jobs {
			for _, al := range jobAllocs(jt.t, a, j) {
				allocs = append(allocs, al.ID)
			}
			a.cli(jt.t, "job", "stop", "-purge", "-detach", j)
		}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && len(allocProcesses(allocs)) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, pid := range allocProcesses(allocs) {
		jt.t.Logf("cleanup: killing leftover task process %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	removeAllocContainers(allocs)
}

// allocProcesses lists the processes whose environment names one of allocs.
func allocProcesses(allocs []string) []int {
	var pids []int
	for _, id := range allocs {
		pids = append(pids, processesWithEnv("NOMAD_ALLOC_ID", id)...)
	}
	return pids
}

func removeAllocContainers(allocs []string) {
	if len(allocs) == 0 || dockerErr != nil {
		return
	}
	c, err := dockerClient()
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range allocs {
		list, err := c.ContainerList(ctx, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", dockerAllocLabel+"="+id))})
		if err != nil {
			continue
		}
		for _, ct := range list {
			_ = c.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true})
		}
	}
}

// allocContainers returns the IDs and states of the alloc's containers.
func allocContainers(tb testing.TB, allocID string) map[string]string {
	tb.Helper()
	c, err := dockerClient()
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", dockerAllocLabel+"="+allocID))})
	if err != nil {
		tb.Fatalf("listing containers of %s: %v", allocID, err)
	}
	out := map[string]string{}
	for _, ct := range list {
		out[ct.ID] = ct.State
	}
	return out
}

// getAlloc reads the full allocation.
func getAlloc(a *agentProc, id string) (*structs.Allocation, error) {
	var al structs.Allocation
	if err := getJSON(a.addr()+"/v1/allocation/"+id, &al); err != nil {
		return nil, err
	}
	return &al, nil
}

// taskEvents summarizes a task's events for failure messages.
func taskEvents(ts *structs.TaskState) string {
	if ts == nil {
		return "<no task state>"
	}
	var b strings.Builder
	b.WriteString(ts.State)
	for _, e := range ts.Events {
		b.WriteString(" | " + e.Type + ": " + e.DisplayMessage)
	}
	return b.String()
}

// waitTaskState waits until cond holds for the alloc's task and returns the
// allocation as last read.
func waitTaskState(t testing.TB, a *agentProc, allocID, task string, timeout time.Duration, what string,
	cond func(al *structs.Allocation, ts *structs.TaskState) bool) *structs.Allocation {
	t.Helper()
	var al *structs.Allocation
	waitFor(t, timeout, what, func() (bool, string) {
		var err error
		al, err = getAlloc(a, allocID)
		if err != nil {
			return false, err.Error()
		}
		ts := al.TaskStates[task]
		if ts != nil && cond(al, ts) {
			return true, ""
		}
		return false, al.ClientStatus + ": " + taskEvents(ts)
	})
	return al
}

// hclString quotes s as an HCL string literal. "${" is escaped so the
// jobspec parser passes it through verbatim; the client then interpolates
// ${NOMAD_*} itself, as it does for runtime variables.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "${", "$${")
	return `"` + r.Replace(s) + `"`
}

// waitAllocRunning waits for the allocation to run; it fails at once, with
// every task's events, if the allocation ends instead.
func waitAllocRunning(t testing.TB, a *agentProc, allocID string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		al, err := getAlloc(a, allocID)
		if err == nil {
			switch al.ClientStatus {
			case structs.AllocClientStatusRunning:
				return
			case structs.AllocClientStatusFailed, structs.AllocClientStatusComplete, structs.AllocClientStatusLost:
				var b strings.Builder
				for name, ts := range al.TaskStates {
					b.WriteString("\n  " + name + ": " + taskEvents(ts))
				}
				t.Fatalf("alloc %s of %s is %s instead of running:%s", allocID, al.JobID, al.ClientStatus, b.String())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alloc %s not running after %s (err %v)", allocID, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
