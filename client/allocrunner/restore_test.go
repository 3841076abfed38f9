package allocrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

func countEvents(s *structs.TaskState, typ string) int {
	n := 0
	for _, e := range s.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestRestartCountSurvivesAgentRestart: a re-attached task keeps its
// Restarts and its place in the restart policy's window, and the re-attach
// itself records neither a restart nor a second Started event.
func TestRestartCountSurvivesAgentRestart(t *testing.T) {
	root := t.TempDir()
	db, err := state.Open(filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Run 1 fails at once, run 2 fails once "go" exists, run 3 fails at once.
	task := shTask("flaky", `n=$(cat "$NOMAD_TASK_DIR/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$NOMAD_TASK_DIR/n"
if [ $n -eq 2 ]; then while [ ! -e "$NOMAD_TASK_DIR/go" ]; do sleep 0.01; done; fi; exit 1`)
	policy := &structs.RestartPolicy{Attempts: 2, Interval: time.Hour, Delay: 0, Mode: structs.RestartPolicyModeFail}
	alloc := testAlloc(structs.JobTypeService, policy, task)
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	allocRoot := filepath.Join(root, "alloc")
	stateDir := filepath.Join(root, "drivers")
	f1 := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), db, allocRoot, nil)
	localDir := filepath.Join(f1.dir.TaskDir("flaky"), "local")
	waitUntil(t, "second run", f1.changed, func() bool {
		b, _ := os.ReadFile(filepath.Join(localDir, "n"))
		s := f1.tr.State()
		return strings.TrimSpace(string(b)) == "2" && s.State == structs.TaskStateRunning && s.Restarts == 1
	})
	f1.cancel()
	<-f1.tr.Done()
	before := f1.tr.State()

	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 {
		t.Fatalf("persisted allocs %v, %v", allocs, err)
	}
	tl := allocs[0].Tasks["flaky"]
	if tl == nil || tl.Restart == nil || tl.Restart.Count != 1 {
		t.Fatalf("restart window not persisted: %+v", tl)
	}
	d2 := rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir})
	f2 := newTR(t, allocs[0].Alloc, d2, db, allocRoot, tl)
	waitUntil(t, "re-attach", f2.changed, func() bool {
		_, err := d2.Inspect(alloc.ID + "/flaky")
		return err == nil
	})
	after := f2.tr.State()
	if after.Restarts != 1 || after.State != structs.TaskStateRunning {
		t.Fatalf("state after re-attach %+v", after)
	}
	if len(after.Events) != len(before.Events) || countEvents(after, structs.TaskStarted) != 2 {
		t.Fatalf("re-attach recorded events: before %s, after %s", eventTypes(before), eventTypes(after))
	}
	if err := os.WriteFile(filepath.Join(localDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-f2.tr.Done()
	final := f2.tr.State()
	// 2 attempts per interval, one of them spent before the agent restart.
	if !final.Failed || final.Restarts != 2 {
		t.Fatalf("final state %+v (events %s), want failed after 2 restarts", final, eventTypes(final))
	}
	if n := countEvents(final, structs.TaskTerminated); n == 0 {
		t.Fatalf("no Terminated event: %s", eventTypes(final))
	}
	// The exit of the re-attached run is the real code from the shim.
	for _, e := range final.Events {
		if e.Type == structs.TaskTerminated && e.ExitCode != 1 {
			t.Fatalf("terminated event %+v, want exit code 1", e)
		}
	}
}
