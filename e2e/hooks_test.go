package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/internal/testenv"
)

// shutdownDelayJob is a service whose task records when it gets SIGTERM,
// with a group and a task shutdown_delay of 1s each.
func shutdownDelayJob(id string) *nomad.Job {
	job := nomad.NewServiceJob(id, id, "global", 50)
	job.Datacenters = []string{"*"}
	script := `trap 'date +%s%N > "$NOMAD_ALLOC_DIR/data/term"; exit 0' TERM; touch "$NOMAD_ALLOC_DIR/data/ready"; while :; do sleep 0.05; done`
	task := nomad.NewTask("web", "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", script})
	delay := time.Second
	task.ShutdownDelay = delay
	tg := nomad.NewTaskGroup("g", 1).AddTask(task)
	tg.ShutdownDelay = &delay
	job.AddTaskGroup(tg)
	return job
}

// TestJobStopShutdownDelay: stopping a job through the stock Nomad client
// waits out the group and then the task shutdown_delay before the task gets
// its signal; `-no-shutdown-delay` (no_shutdown_delay=true) skips both.
func TestJobStopShutdownDelay(t *testing.T) {
	dataDir := t.TempDir()
	a := startAgent(t, newIP(), dataDir, "-dev")
	waitReady(t, a, 1)
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		id := fmt.Sprintf("delay-%v", skip)
		if _, _, err := c.Jobs().Register(shutdownDelayJob(id), nil); err != nil {
			t.Fatal(err)
		}
		allocs := waitAllocs(t, a, id, 1, "running", 30*time.Second)
		data := filepath.Join(dataDir, "alloc", allocs[0].ID, "alloc", "data")
		waitFor(t, 15*time.Second, "task ready", func() (bool, string) {
			_, err := os.Stat(filepath.Join(data, "ready"))
			return err == nil, fmt.Sprint(err)
		})
		stopAt := time.Now()
		if _, _, err := c.Jobs().DeregisterOpts(id, &nomad.DeregisterOptions{NoShutdownDelay: skip}, nil); err != nil {
			t.Fatal(err)
		}
		var termAt time.Time
		waitFor(t, 30*time.Second, "task signalled", func() (bool, string) {
			b, err := os.ReadFile(filepath.Join(data, "term"))
			if err != nil {
				return false, err.Error()
			}
			ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			termAt = time.Unix(0, ns)
			return err == nil, fmt.Sprint(err)
		})
		gap := termAt.Sub(stopAt)
		t.Logf("no_shutdown_delay=%v: SIGTERM %s after the stop", skip, gap)
		if !skip && gap < 2*time.Second {
			t.Fatalf("signal %s after the stop; want >= 2s (group + task shutdown_delay)", gap)
		}
		if skip && gap >= time.Second {
			t.Fatalf("signal %s after a stop with no_shutdown_delay", gap)
		}
		waitAllocs(t, a, id, 1, "complete", 30*time.Second)
		alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range alloc.TaskStates["web"].Events {
			types = append(types, e.Type)
		}
		want := "Waiting for shutdown delay"
		if skip {
			want = "Skipping shutdown delay"
		}
		if !strings.Contains(strings.Join(types, ","), want) {
			t.Fatalf("events %v, want %q", types, want)
		}
	}
}

// TestMaxRunDurationFailsAlloc: a batch job that outlives its group's
// max_run_duration is killed and its allocation fails with the reason.
func TestMaxRunDurationFailsAlloc(t *testing.T) {
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	job := nomad.NewBatchJob("bounded", "bounded", "global", 50)
	job.Datacenters = []string{"*"}
	limit := 2 * time.Second
	tg := nomad.NewTaskGroup("g", 1).AddTask(nomad.NewTask("sleep", "raw_exec").
		SetConfig("command", "/bin/sleep").SetConfig("args", []string{"600"}))
	tg.MaxRunDuration = &limit
	tg.ReschedulePolicy = &nomad.ReschedulePolicy{Attempts: new(0), Unlimited: new(false)}
	job.AddTaskGroup(tg)
	start := time.Now()
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	allocs := waitAllocs(t, a, "bounded", 1, "failed", 30*time.Second)
	if took := time.Since(start); took < limit {
		t.Fatalf("failed after %s, before its max_run_duration of %s", took, limit)
	}
	alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := alloc.TaskStates["sleep"]
	last := st.Events[len(st.Events)-1]
	if !st.Failed || !strings.Contains(last.DisplayMessage, "max_run_duration of 2s") {
		t.Fatalf("task state failed=%v, last event %+v", st.Failed, last)
	}
}

// TestHostPolicyRefusalFailsAllocAtOnce: an exec task asking to run as
// root (denied by the client's default user.denylist) fails its
// allocation at once, without the restart policy's retries and delays.
func TestHostPolicyRefusalFailsAllocAtOnce(t *testing.T) {
	testenv.Need(t, "the exec driver", driverErr("exec"))
	a := startAgent(t, newIP(), t.TempDir(), "-dev")
	waitReady(t, a, 1)
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	job := nomad.NewServiceJob("rooted", "rooted", "global", 50)
	job.Datacenters = []string{"*"}
	task := nomad.NewTask("main", "exec").SetConfig("command", "/bin/sleep").SetConfig("args", []string{"600"})
	task.User = "root"
	// The default service policy would retry twice, 15 s apart.
	job.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
	start := time.Now()
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	allocs := waitAllocs(t, a, "rooted", 1, "failed", 30*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("alloc failed only after %s", took)
	}
	alloc, _, err := c.Allocations().Info(allocs[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := alloc.TaskStates["main"]
	var msgs []string
	for _, e := range st.Events {
		msgs = append(msgs, e.Type+": "+e.DisplayMessage)
	}
	all := strings.Join(msgs, " | ")
	if st.Restarts != 0 || !strings.Contains(all, "Error was unrecoverable") || !strings.Contains(all, "user.denylist") {
		t.Fatalf("restarts %d, events: %s", st.Restarts, all)
	}
}
