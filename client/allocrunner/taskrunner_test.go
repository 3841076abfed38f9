package allocrunner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/client/state"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

type trFixture struct {
	tr      *TaskRunner
	changed chan struct{}
	dir     *AllocDir
	cancel  context.CancelFunc
}

func newTR(t *testing.T, alloc *structs.Allocation, d drivers.Driver, db *state.DB, root string, restored *state.TaskLocal) *trFixture {
	t.Helper()
	return newTRHooks(t, alloc, d, db, root, restored)
}

func TestTaskRunnerBatchSuccessWithLogsAndEnv(t *testing.T) {
	task := shTask("web", `echo "idx=$NOMAD_ALLOC_INDEX orch=$ORCH_TASK_NAME dir=$NOMAD_TASK_DIR node=$NODE_KERNEL"; echo oops >&2; pwd > "$NOMAD_ALLOC_DIR/data/pwd"`)
	task.Env = map[string]string{"NODE_KERNEL": "${attr.kernel.name}"}
	alloc := testAlloc(structs.JobTypeBatch, nil, task)
	root := t.TempDir()
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, root, nil)
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	<-f.tr.Done()
	st := f.tr.State()
	if st.Failed || st.Restarts != 0 {
		t.Fatalf("state %+v", st)
	}
	if got, want := eventTypes(st), "Received,Task Setup,Started,Terminated"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	taskDir := f.dir.TaskDir("web")
	want := "idx=0 orch=web dir=" + filepath.Join(taskDir, "local") + " node=linux\n"
	if got := readLog(t, f.dir.LogDir(), "web.stdout.0"); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if got := readLog(t, f.dir.LogDir(), "web.stderr.0"); got != "oops\n" {
		t.Fatalf("stderr %q", got)
	}
	if got := readLog(t, filepath.Join(f.dir.SharedDir(), "data"), "pwd"); got != taskDir+"\n" {
		t.Fatalf("working dir %q, want %q", got, taskDir)
	}
}

func TestTaskRunnerRotatesLogs(t *testing.T) {
	// 2.5 MiB through 1 MiB files, keeping 2: files 1 and 2 remain.
	task := shTask("big", `head -c 2621440 /dev/zero | tr '\0' 'a'`)
	task.LogConfig = &structs.LogConfig{MaxFiles: 2, MaxFileSizeMB: 1}
	alloc := testAlloc(structs.JobTypeBatch, nil, task)
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil)
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	<-f.tr.Done()
	logDir := f.dir.LogDir()
	sizes := map[string]int64{}
	ents, _ := os.ReadDir(logDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "big.stdout.") {
			fi, _ := e.Info()
			sizes[e.Name()] = fi.Size()
		}
	}
	if len(sizes) != 2 || sizes["big.stdout.1"] != 1<<20 || sizes["big.stdout.2"] != 512<<10 {
		t.Fatalf("log files %v", sizes)
	}
}

func TestTaskRunnerRestartsThenFails(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 1, Interval: time.Hour, Delay: 10 * time.Millisecond, Mode: structs.RestartPolicyModeFail}
	alloc := testAlloc(structs.JobTypeService, policy, shTask("bad", `echo try; exit 3`))
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil)
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	st := f.tr.State()
	if !st.Failed || st.Restarts != 1 {
		t.Fatalf("state %+v", st)
	}
	want := "Received,Task Setup,Started,Terminated,Restarting,Started,Terminated,Not Restarting"
	if got := eventTypes(st); got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	for _, e := range st.Events {
		if e.Type == structs.TaskTerminated && e.ExitCode != 3 {
			t.Fatalf("terminated event %+v", e)
		}
	}
	<-f.tr.Done()
	if got := readLog(t, f.dir.LogDir(), "bad.stdout.0"); got != "try\ntry\n" {
		t.Fatalf("both runs must log to the same file, got %q", got)
	}
}

func TestTaskRunnerDriverFailure(t *testing.T) {
	policy := &structs.RestartPolicy{Attempts: 0, Interval: time.Hour, Mode: structs.RestartPolicyModeFail}
	alloc := testAlloc(structs.JobTypeBatch, policy, shTask("x", "true"))
	// Disabled raw_exec refuses to start anything.
	f := newTR(t, alloc, rawexec.New(rawexec.Config{}), nil, t.TempDir(), nil)
	waitUntil(t, "task dead", f.changed, func() bool { return f.tr.State().State == structs.TaskStateDead })
	st := f.tr.State()
	if !st.Failed || !strings.Contains(eventTypes(st), "Driver Failure,Not Restarting") {
		t.Fatalf("state %+v events %s", st, eventTypes(st))
	}
}

func TestTaskRunnerKillUsesSignalAndTimeout(t *testing.T) {
	task := shTask("svc", `trap 'echo got-int; exit 0' INT; echo ready; while :; do sleep 0.05; done`)
	task.KillSignal = "SIGINT"
	alloc := testAlloc(structs.JobTypeService, nil, task)
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil)
	waitUntil(t, "ready output", f.changed, func() bool { return readLog(t, f.dir.LogDir(), "svc.stdout.0") == "ready\n" })
	f.tr.Kill("test")
	<-f.tr.Done()
	st := f.tr.State()
	if st.State != structs.TaskStateDead || st.Failed {
		t.Fatalf("state %+v", st)
	}
	if got := eventTypes(st); !strings.HasSuffix(got, "Started,Killing,Terminated,Killed") {
		t.Fatalf("events %s", got)
	}
	if got := readLog(t, f.dir.LogDir(), "svc.stdout.0"); got != "ready\ngot-int\n" {
		t.Fatalf("stdout %q: the trap output must be drained before the runner ends", got)
	}
}

// TestClientRestartReattaches plays an agent restart: the first runner is
// discarded with its task still running, a second one built from the
// persisted state and a fresh driver must re-attach to the same process and
// keep writing its output to the same log file.
func TestClientRestartReattaches(t *testing.T) {
	root := t.TempDir()
	db, err := state.Open(filepath.Join(root, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	task := shTask("tick", `i=0; while :; do echo "line $i"; i=$((i+1)); sleep 0.02; done`)
	alloc := testAlloc(structs.JobTypeService, nil, task)
	if err := db.PutAlloc(alloc); err != nil {
		t.Fatal(err)
	}
	allocRoot := filepath.Join(root, "alloc")
	d1 := rawexec.New(rawexec.Config{Enabled: true})
	f1 := newTR(t, alloc, d1, db, allocRoot, nil)
	logDir := f1.dir.LogDir()
	waitUntil(t, "first output", f1.changed, func() bool { return strings.Contains(readLog(t, logDir, "tick.stdout.0"), "line 2\n") })
	st1, err := d1.Inspect(alloc.ID + "/tick")
	if err != nil {
		t.Fatal(err)
	}
	pid := st1.Attributes["pid"]

	f1.cancel() // the agent goes away; the task must not
	<-f1.tr.Done()
	if st := f1.tr.State(); st.State != structs.TaskStateRunning {
		t.Fatalf("detached runner changed the task state: %+v", st)
	}

	allocs, err := db.Allocs()
	if err != nil || len(allocs) != 1 {
		t.Fatalf("persisted allocs %v, %v", allocs, err)
	}
	tl := allocs[0].Tasks["tick"]
	if tl == nil || tl.Handle == nil {
		t.Fatalf("no persisted handle: %+v", tl)
	}
	sizeBefore := len(readLog(t, logDir, "tick.stdout.0"))

	d2 := rawexec.New(rawexec.Config{Enabled: true})
	f2 := newTR(t, allocs[0].Alloc, d2, db, allocRoot, tl)
	waitUntil(t, "re-attach", f2.changed, func() bool {
		_, err := d2.Inspect(alloc.ID + "/tick")
		return err == nil
	})
	st2, _ := d2.Inspect(alloc.ID + "/tick")
	if st2.Attributes["pid"] != pid {
		t.Fatalf("re-attached to pid %s, want %s", st2.Attributes["pid"], pid)
	}
	if s := f2.tr.State(); s.Restarts != 0 || s.State != structs.TaskStateRunning {
		t.Fatalf("state after re-attach %+v", s)
	}
	waitUntil(t, "output after restart", f2.changed, func() bool { return len(readLog(t, logDir, "tick.stdout.0")) > sizeBefore+20 })
	if _, err := os.Stat(filepath.Join(logDir, "tick.stdout.1")); err == nil {
		t.Fatal("a new log file was started instead of continuing the old one")
	}
	// Lines stay consecutive: nothing was lost or duplicated across the restart.
	lines := strings.Split(strings.TrimSpace(readLog(t, logDir, "tick.stdout.0")), "\n")
	for i, l := range lines {
		if want := "line " + itoa(i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
	f2.tr.Kill("test")
	<-f2.tr.Done()
	if s := f2.tr.State(); s.State != structs.TaskStateDead || s.Restarts != 0 {
		t.Fatalf("final state %+v", s)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
