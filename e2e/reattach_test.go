package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// taskIdentity is what identifies a running task from outside the agent:
// its processes and, for docker, its container.
type taskIdentity struct {
	pids      []int
	container string
}

func identify(t *testing.T, driver, allocID string) taskIdentity {
	t.Helper()
	var id taskIdentity
	sample := func() []int {
		var pids []int
		for _, pid := range processesWithEnv("NOMAD_ALLOC_ID", allocID) {
			// The shell loops' short-lived `sleep` children come and go.
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if err == nil && strings.TrimSpace(string(comm)) != "sleep" {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	// A loop's fork caught before it execs `sleep` is still named after
	// the shell: only processes seen in two samples apart count.
	first := sample()
	time.Sleep(250 * time.Millisecond)
	for _, pid := range sample() {
		if slices.Contains(first, pid) {
			id.pids = append(id.pids, pid)
		}
	}
	slices.Sort(id.pids)
	if driver == "docker" {
		for cid, st := range allocContainers(t, allocID) {
			if st == "running" {
				id.container = cid
			}
		}
	}
	return id
}

func (id taskIdentity) alive() bool {
	if len(id.pids) == 0 {
		return false
	}
	for _, p := range id.pids {
		if syscall.Kill(p, 0) != nil {
			return false
		}
	}
	return true
}

var countLine = regexp.MustCompile(`^count (\d+)$`)

// counters parses a counting task's log and returns its last counter. A
// gap, a repeat or a stray line is an error: that is how lost or duplicated
// output shows.
func counters(log string) (int, error) {
	last := -1
	// Only whole lines: the last one may still be being written.
	if i := strings.LastIndexByte(log, '\n'); i >= 0 {
		log = log[:i]
	} else {
		log = ""
	}
	for _, l := range strings.Split(log, "\n") {
		if l == "" && last == -1 {
			continue
		}
		m := countLine.FindStringSubmatch(l)
		if m == nil {
			return last, fmt.Errorf("unexpected log line %q in:\n%s", l, tail(log, 20))
		}
		n, _ := strconv.Atoi(m[1])
		if n != last+1 {
			return last, fmt.Errorf("counter %d follows %d (output lost or repeated):\n%s", n, last, tail(log, 20))
		}
		last = n
	}
	return last, nil
}

// TestClientRestartReattachesEveryDriver kill -9s a dev agent under a
// long-running counting task of each driver and a batch task of each driver
// that is told (through a file in its alloc dir) to exit 7 while the agent
// is down. The restarted agent (same data dir) must re-attach to the same
// processes and containers without counting a restart, keep collecting
// their output with nothing lost, and record the real exit code of the
// tasks that ended meanwhile.
func TestClientRestartReattachesEveryDriver(t *testing.T) {
	drivers := usableDrivers(t)
	ip, dataDir := newIP(), t.TempDir()
	a := startAgent(t, ip, dataDir, "-dev")
	jt := trackJobs(t, a)
	waitReady(t, a, 1)
	dir := payloadDir(t, "unused", true)

	jobName := func(prefix, d string) string { return prefix + "-" + strings.ReplaceAll(d, "_", "-") }
	svc, batch := map[string]string{}, map[string]string{} // driver -> alloc ID
	for _, d := range drivers {
		jt.run(jobName("count", d), driverJob(jobName("count", d), structs.JobTypeService, d, modeCount, dir, ""))
	}
	for _, d := range drivers {
		svc[d] = jt.oneAlloc(jobName("count", d))
	}
	for _, d := range drivers {
		waitAllocRunning(t, a, svc[d], 30*time.Second)
		waitFor(t, 10*time.Second, d+" counter running", func() (bool, string) {
			out, _ := a.cli(t, "alloc", "logs", svc[d], "main")
			return strings.Contains(out, "count 2\n"), out
		})
	}

	// The batch tasks must be running, and their handles persisted (the
	// server hears of "running" only after that), before the agent dies.
	for _, d := range drivers {
		jt.run(jobName("exit7", d), driverJob(jobName("exit7", d), structs.JobTypeBatch, d, modeExit7, dir, ""))
	}
	for _, d := range drivers {
		batch[d] = jt.oneAlloc(jobName("exit7", d))
	}
	for _, d := range drivers {
		waitTaskState(t, a, batch[d], "main", 20*time.Second, d+" batch task running",
			func(_ *structs.Allocation, ts *structs.TaskState) bool { return ts.State == structs.TaskStateRunning })
	}

	before := map[string]taskIdentity{}
	lastBefore := map[string]int{}
	for _, d := range drivers {
		before[d] = identify(t, d, svc[d])
		if !before[d].alive() || d == "docker" && before[d].container == "" {
			t.Fatalf("%s: no running process/container found for alloc %s: %+v", d, svc[d], before[d])
		}
		out, _ := a.cli(t, "alloc", "logs", svc[d], "main")
		var err error
		if lastBefore[d], err = counters(out); err != nil {
			t.Fatalf("%s before the restart: %v", d, err)
		}
	}
	batchIDs := map[string]taskIdentity{}
	for _, d := range drivers {
		batchIDs[d] = identify(t, d, batch[d])
	}

	a.kill()
	// While the agent is down the batch tasks end; the counters go on.
	for _, d := range drivers {
		if !batchIDs[d].alive() {
			t.Fatalf("%s: batch task gone before it was told to exit: %+v", d, batchIDs[d])
		}
		trigger := filepath.Join(dataDir, "alloc", batch[d], "alloc", "data", "go")
		if err := os.WriteFile(trigger, nil, 0o644); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	waitFor(t, 15*time.Second, "batch tasks to exit while the agent is down", func() (bool, string) {
		for _, d := range drivers {
			if len(processesWithEnv("NOMAD_ALLOC_ID", batch[d])) > 0 {
				return false, d + " still running"
			}
		}
		return true, ""
	})

	a2 := startAgent(t, ip, dataDir, "-dev")
	jt.setAgent(a2)
	waitReady(t, a2, 1)

	for _, d := range drivers {
		al := waitTaskState(t, a2, batch[d], "main", 20*time.Second, d+" batch task dead",
			func(_ *structs.Allocation, ts *structs.TaskState) bool { return ts.State == structs.TaskStateDead })
		ts := al.TaskStates["main"]
		code, found := 0, false
		for _, e := range ts.Events {
			if e.Type == structs.TaskTerminated {
				code, found = e.ExitCode, true
			}
		}
		if !found || code != 7 || ts.Restarts != 0 || al.ClientStatus != structs.AllocClientStatusFailed {
			t.Errorf("%s batch: want a Terminated event with exit code 7, no restart, alloc failed; got alloc %s, restarts %d: %s",
				d, al.ClientStatus, ts.Restarts, taskEvents(ts))
		}
	}

	for _, d := range drivers {
		al, err := getAlloc(a2, svc[d])
		if err != nil {
			t.Fatal(err)
		}
		ts := al.TaskStates["main"]
		if al.ClientStatus != structs.AllocClientStatusRunning || ts == nil || ts.State != structs.TaskStateRunning || ts.Restarts != 0 {
			t.Errorf("%s: after restart alloc %s, restarts %v: %s", d, al.ClientStatus, restartsOf(ts), taskEvents(ts))
		}
		started := 0
		for _, e := range ts.Events {
			if e.Type == structs.TaskStarted {
				started++
			}
		}
		if started != 1 {
			t.Errorf("%s: %d Started events, want 1 (no new start after the restart): %s", d, started, taskEvents(ts))
		}
		after := identify(t, d, svc[d])
		if !slices.Equal(after.pids, before[d].pids) || after.container != before[d].container {
			t.Errorf("%s: task identity changed across the agent restart: before %+v, after %+v", d, before[d], after)
		}
		// The counter goes on well past where it was, with every line in
		// between: output written while the agent was down was kept.
		want := lastBefore[d] + 15
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, _ := a2.cli(t, "alloc", "logs", svc[d], "main")
			last, err := counters(out)
			if err != nil {
				t.Errorf("%s after the restart: %v", d, err)
				break
			}
			if last >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: counter at %d 15s after the restart, want %d", d, last, want)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func restartsOf(ts *structs.TaskState) any {
	if ts == nil {
		return "?"
	}
	return ts.Restarts
}
