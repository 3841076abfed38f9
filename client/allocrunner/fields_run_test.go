package allocrunner

import (
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// These tests prove rows of the field-state table (jobspec/fields.go).

// Task.Leader: when the leader task is done, the others are killed and
// the allocation finishes, even though they would have run on.
func TestAllocRunnerLeaderDeathKillsSiblings(t *testing.T) {
	leader := shTask("leader", `sleep 0.2`)
	leader.Leader = true
	follower := shTask("follower", `exec sleep 1000`)
	alloc := testAlloc(structs.JobTypeBatch, nil, leader, follower)
	f := newAR(t, alloc, nil)
	select {
	case <-f.ar.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("alloc did not finish after its leader exited")
	}
	final := f.last()
	fs := final.TaskStates["follower"]
	if fs.State != structs.TaskStateDead || !strings.HasSuffix(eventTypes(fs), "Killed") {
		t.Fatalf("follower %s, events %s", fs.State, eventTypes(fs))
	}
	found := false
	for _, e := range fs.Events {
		if e.Type == structs.TaskKilling && strings.Contains(e.DisplayMessage, "Leader task dead") {
			found = true
		}
	}
	if !found {
		t.Fatalf("follower's kill not explained by the leader's death: %s", eventTypes(fs))
	}
}

// LogConfig.Disabled: a task with logs disabled writes no log files (its
// output is drained and dropped); the same task with logs on does.
func TestTaskRunnerLogsDisabled(t *testing.T) {
	for _, disabled := range []bool{true, false} {
		task := shTask("quiet", `echo out; echo err >&2`)
		task.LogConfig = &structs.LogConfig{MaxFiles: 1, MaxFileSizeMB: 1, Disabled: disabled}
		alloc := testAlloc(structs.JobTypeBatch, nil, task)
		f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil)
		waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
		<-f.tr.Done()
		if st := f.tr.State(); st.Failed {
			t.Fatalf("disabled=%v: task failed: %s", disabled, eventTypes(st))
		}
		got := readLog(t, f.dir.LogDir(), "quiet.stdout.0")
		switch {
		case disabled && got != "":
			t.Fatalf("logs disabled, yet stdout was kept: %q", got)
		case !disabled && got != "out\n":
			t.Fatalf("logs enabled: stdout %q", got)
		}
	}
}
