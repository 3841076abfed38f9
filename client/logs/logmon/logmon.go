// Package logmon runs a task's log monitor: a tiny process per task (the
// orch binary re-executed into logmon.c, no Go runtime) that reads the
// task's stdout and stderr FIFOs and writes them into rotated log files. It
// outlives the agent, so a task's output never waits for an agent that is
// down or restarting: the pipes keep being drained into the files.
//
// One monitor per task: it takes an exclusive lock on the stdout FIFO, so
// a second start (an agent restart that does not know whether its monitor
// survived) is told "busy" and the running one is kept. The monitor's pid
// and start time are recorded next to the FIFOs, in the log dir tasks
// cannot write, so a later agent can stop it.
package logmon

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers/rawexec"
	"github.com/orch-project/orch/internal/safefs"
)

const envMarker = "__ORCH_LOGMON"

// ErrNotRunning: no live monitor is recorded for the task.
var ErrNotRunning = errors.New("no log monitor running")

// Spec is what one monitor collects.
type Spec struct {
	// LogDir is the alloc's log dir; every name below is inside it.
	LogDir     *safefs.Root
	StdoutFIFO string
	StderrFIFO string
	// StdoutBase and StderrBase name the rotated files (<base>.N).
	StdoutBase string
	StderrBase string
	MaxFiles   int
	MaxBytes   int64
	// Discard drains the FIFOs without writing files (logs disabled).
	Discard bool
	// PidFile records the running monitor.
	PidFile string
	// Label names the task in the monitor's command line ("<alloc>/<task>"),
	// so ps and benchmarks can tell whose it is.
	Label string
}

// Process identifies a running monitor.
type Process struct {
	Pid        int
	StartTicks uint64
}

// startTimeout bounds how long a new monitor may take to report.
const startTimeout = 10 * time.Second

// Start launches the task's monitor unless one already runs; either way
// it returns the one that runs.
func Start(spec Spec) (*Process, error) {
	l, err := Launch(spec)
	if err != nil {
		return nil, err
	}
	return l.Wait()
}

// Launching is a monitor process that has been started (executed, holding
// the FIFOs) but has not yet reported whether it runs.
type Launching struct {
	spec  Spec
	cmd   *exec.Cmd
	ready *os.File
}

// Launch starts the monitor process and returns without waiting for its
// report: from here on it runs whatever happens to the caller, so the task
// may start while Wait learns the outcome.
func Launch(spec Spec) (*Launching, error) {
	if !Available {
		return nil, errors.New("log monitor unavailable in this build")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating own executable for the log monitor: %w", err)
	}
	files, err := openFiles(spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	ready, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("log monitor: %w", err)
	}
	mode := "keep"
	if spec.Discard {
		mode = "discard"
	}
	cmd := &exec.Cmd{
		Path: exe,
		Args: []string{exe, "logmon", spec.StdoutBase, spec.StderrBase,
			strconv.Itoa(spec.MaxFiles), strconv.FormatInt(spec.MaxBytes, 10), mode, spec.Label},
		Env:        []string{envMarker + "=1"},
		Dir:        "/",
		ExtraFiles: append(files, w),
		// Its own session: the agent's signals (a Ctrl-C of -dev, a
		// process group kill) must not reach it.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		ready.Close()
		return nil, fmt.Errorf("starting log monitor: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it whenever it ends
	return &Launching{spec: spec, cmd: cmd, ready: ready}, nil
}

// Wait reads the monitor's report and returns the monitor that runs: this
// one, recorded next to the FIFOs, or (when another holds the task's
// output) the recorded earlier one.
func (l *Launching) Wait() (*Process, error) {
	defer l.ready.Close()
	spec, cmd := l.spec, l.cmd
	_ = l.ready.SetReadDeadline(time.Now().Add(startTimeout))
	line, _ := bufio.NewReader(l.ready).ReadString('\n')
	switch line = strings.TrimSpace(line); {
	case line == "ok":
		p := &Process{Pid: cmd.Process.Pid}
		p.StartTicks, _ = rawexec.StartTicks(p.Pid)
		if err := spec.LogDir.WriteFile(spec.PidFile, []byte(fmt.Sprintf("%d %d\n", p.Pid, p.StartTicks)), 0o600); err != nil {
			return nil, fmt.Errorf("recording log monitor: %w", err)
		}
		return p, nil
	case line == "busy":
		if p, ok := Running(spec.LogDir, spec.PidFile); ok {
			return p, nil
		}
		return nil, errors.New("another log monitor holds the task's output but is not recorded")
	default:
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("log monitor did not start: %q", line)
	}
}

// openFiles opens what the monitor gets as fds 3, 4 and 5.
func openFiles(spec Spec) ([]*os.File, error) {
	dir, err := spec.LogDir.File()
	if err != nil {
		return nil, err
	}
	out, err := spec.LogDir.OpenFIFO(spec.StdoutFIFO)
	if err != nil {
		dir.Close()
		return nil, err
	}
	errf, err := spec.LogDir.OpenFIFO(spec.StderrFIFO)
	if err != nil {
		dir.Close()
		out.Close()
		return nil, err
	}
	return []*os.File{dir, out, errf}, nil
}

// Running returns the recorded monitor when it is alive (the same process
// that was recorded, not a later one with its pid).
func Running(logDir *safefs.Root, pidFile string) (*Process, bool) {
	b, err := logDir.ReadFile(pidFile)
	if err != nil {
		return nil, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, false
	}
	pid, err1 := strconv.Atoi(f[0])
	ticks, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return nil, false
	}
	p := &Process{Pid: pid, StartTicks: ticks}
	return p, p.alive()
}

func (p *Process) alive() bool {
	t, err := rawexec.StartTicks(p.Pid)
	return err == nil && (p.StartTicks == 0 || t == p.StartTicks)
}

// Stop asks the recorded monitor to drain the FIFOs and exit, and waits
// for it (killing it after timeout). ErrNotRunning when none is alive: the
// caller drains the FIFOs itself then.
func Stop(logDir *safefs.Root, pidFile string, timeout time.Duration) error {
	p, ok := Running(logDir, pidFile)
	if !ok {
		_ = logDir.Remove(pidFile)
		return ErrNotRunning
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for p.alive() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = logDir.Remove(pidFile)
	return nil
}
