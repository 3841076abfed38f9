package allocrunner

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/logs/logmon"
	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/structs"
)

// TestLogMonitorStartsBesideTask: the log monitor is launched beside the
// driver's start, not before it; by the time the task runs it is recorded
// and alive, and every line the task wrote right away is in the files.
func TestLogMonitorStartsBesideTask(t *testing.T) {
	if !logmon.Available {
		t.Fatal("this build has no log monitor (cgo off)")
	}
	task := shTask("web", `echo first; echo oops >&2; exec sleep 30`)
	alloc := testAlloc(structs.JobTypeService, noRestarts(), task)
	// The monitor's process must exist before the task can start (the
	// agent may die right after): a hook after the logs hook looks for it.
	seen := &monitorSeen{label: alloc.ID + "/web"}
	f := newTRHooks(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, t.TempDir(), nil,
		func(*hooks.TaskHookConfig) hooks.Hook { return seen })
	logDir := f.dir.LogDir()
	waitUntil(t, "task running with output in the files", f.changed, func() bool {
		return f.tr.State().State == structs.TaskStateRunning &&
			readLog(t, logDir, "web.stdout.0") == "first\n" && readLog(t, logDir, "web.stderr.0") == "oops\n"
	})
	if !seen.found.Load() {
		t.Fatal("no log monitor process existed when the hooks after the logs hook ran")
	}
	rec, err := os.ReadFile(filepath.Join(logDir, ".web.logmon"))
	if err != nil {
		t.Fatalf("monitor not recorded: %v", err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(rec))[0])
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if !strings.Contains(string(cmdline), "logmon") || !strings.Contains(string(cmdline), alloc.ID+"/web") {
		t.Fatalf("recorded pid %d is not the task's monitor: %q", pid, cmdline)
	}
	f.tr.Kill("test over")
	<-f.tr.Done()
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("monitor %d still alive after the task's stop", pid)
	}
}

// TestLogsFallBackWhenMonitorCannotStart: a monitor that cannot start
// (here: the FIFO's lock is held by someone the agent did not record) leaves
// the task's output to the agent's collectors; the task is not failed and
// its output reaches the files.
func TestLogsFallBackWhenMonitorCannotStart(t *testing.T) {
	task := shTask("web", `echo first; echo oops >&2; sleep 0.2; echo last`)
	alloc := testAlloc(structs.JobTypeBatch, noRestarts(), task)
	root := t.TempDir()
	dir := NewAllocDir(root, alloc.ID)
	if err := dir.Build([]string{"web"}); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir.LogDir(), ".web.stdout.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f := newTR(t, alloc, rawexec.New(rawexec.Config{Enabled: true}), nil, root, nil)
	st := waitDead(t, f)
	if st.Failed {
		t.Fatalf("task failed: %+v", st.Events)
	}
	if got := readLog(t, dir.LogDir(), "web.stdout.0"); got != "first\nlast\n" {
		t.Fatalf("stdout %q", got)
	}
	if got := readLog(t, dir.LogDir(), "web.stderr.0"); got != "oops\n" {
		t.Fatalf("stderr %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir.LogDir(), ".web.logmon")); err == nil {
		t.Fatal("a monitor was recorded although none could start")
	}
}

// monitorSeen is a Prestart hook that records whether a log monitor
// process labelled with its task exists when it runs.
type monitorSeen struct {
	label string
	found atomic.Bool
}

func (*monitorSeen) Name() string { return "monitor_seen" }

func (m *monitorSeen) Prestart(context.Context, *hooks.TaskPrestartRequest, *hooks.TaskPrestartResponse) error {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cl), "logmon\x00") && strings.Contains(string(cl), m.label) {
			m.found.Store(true)
		}
	}
	return nil
}
