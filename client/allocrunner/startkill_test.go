package allocrunner

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// slowStartDriver is raw_exec whose Start, like docker's during an image
// pull, has already created the task but blocks until its ctx ends.
type slowStartDriver struct {
	*rawexec.Driver
	started chan int // the half-started task's pid
}

func (d *slowStartDriver) Start(ctx context.Context, tc *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	if _, err := d.Driver.Start(context.Background(), tc); err != nil {
		return nil, err
	}
	st, err := d.Driver.Inspect(tc.ID)
	if err != nil {
		return nil, err
	}
	pid, _ := strconv.Atoi(st.Attributes["pid"])
	d.started <- pid
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestTaskRunnerKillInterruptsStart(t *testing.T) {
	alloc := testAlloc(structs.JobTypeService, nil, shTask("slow", "sleep 300"))
	d := &slowStartDriver{Driver: rawexec.New(rawexec.Config{Enabled: true, StateDir: t.TempDir()}), started: make(chan int, 1)}
	f := newTR(t, alloc, d, nil, t.TempDir(), nil)
	var pid int
	select {
	case pid = <-d.started:
	case <-time.After(15 * time.Second):
		t.Fatal("driver Start never ran")
	}
	f.tr.Kill("job stopped")
	select {
	case <-f.tr.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("kill did not interrupt Start")
	}
	st := f.tr.State()
	if st.State != structs.TaskStateDead || st.Failed || st.Restarts != 0 {
		t.Fatalf("state %+v", st)
	}
	if last := st.Events[len(st.Events)-1]; last.Type != structs.TaskKilled {
		t.Fatalf("events %s, want Killed last", eventTypes(st))
	}
	// The half-started process was destroyed, not left running.
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Fatalf("half-started task pid %d still exists (kill 0: %v)", pid, err)
	}
}
