package allocrunner

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// TestRestartDelaySurvivesAgentRestart: a task stopped by the agent while
// sleeping out its restart delay is not restarted at once by the next
// agent, only when the delay is over.
func TestRestartDelaySurvivesAgentRestart(t *testing.T) {
	root := t.TempDir()
	db, err := state.Open(filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: time.Second, Mode: structs.RestartPolicyModeFail}
	alloc := testAlloc(structs.JobTypeService, policy, shTask("flaky", "exit 1"))
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	allocRoot := filepath.Join(root, "alloc")
	stateDir := filepath.Join(root, "drivers")
	f1 := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), db, allocRoot, nil)
	waitUntil(t, "restart pending", f1.changed, func() bool {
		s := f1.tr.State()
		return s.State == structs.TaskStatePending && s.Restarts == 1
	})
	f1.cancel()
	<-f1.tr.Done()

	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 {
		t.Fatalf("persisted allocs %v, %v", allocs, err)
	}
	tl := allocs[0].Tasks["flaky"]
	if tl == nil || tl.Restart == nil || tl.Restart.NextRestart.IsZero() {
		t.Fatalf("pending restart not persisted: %+v", tl)
	}
	due := tl.Restart.NextRestart
	if d := time.Until(due); d < 200*time.Millisecond {
		t.Fatalf("restart due in %s; test needs the delay still pending", d)
	}
	f2 := newTR(t, allocs[0].Alloc, rawexec.New(rawexec.Config{Enabled: true, StateDir: stateDir}), db, allocRoot, tl)
	<-f2.tr.Done()
	final := f2.tr.State()
	if !final.Failed || final.Restarts != 1 {
		t.Fatalf("final state %+v (events %s)", final, eventTypes(final))
	}
	var starts []time.Time
	for _, e := range final.Events {
		if e.Type == structs.TaskStarted {
			starts = append(starts, time.Unix(0, e.Time))
		}
	}
	if len(starts) != 2 {
		t.Fatalf("events %s, want 2 starts", eventTypes(final))
	}
	if starts[1].Before(due) {
		t.Fatalf("restored task restarted at %s, before its delay ended at %s", starts[1], due)
	}
	allocs, _ = db.Allocs()
	if w := allocs[0].Tasks["flaky"].Restart; w == nil || !w.NextRestart.IsZero() {
		t.Fatalf("pending restart still recorded after the restart: %+v", w)
	}
}
