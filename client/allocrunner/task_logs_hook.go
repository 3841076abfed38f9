package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/client/logs"
	"github.com/orch-project/orch/client/logs/logmon"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/internal/safefs"
)

// logmonStopTimeout bounds a monitor's final drain.
const logmonStopTimeout = 30 * time.Second

// logsHook collects the task's stdout/stderr from the FIFOs the driver
// writes into, into rotated files in alloc/logs. A per-task log monitor
// (client/logs/logmon) does it where the build has one: it outlives the
// agent, so a task's output never waits on an agent that is down or
// restarting. Otherwise (or if the monitor cannot start) collectors in
// the agent do it, as long as the task runner lives.
type logsHook struct {
	tr *TaskRunner

	mu      sync.Mutex
	started bool
	monitor bool // a log monitor collects
	// logDir is the log dir's safefs root: FIFOs and log files are
	// reached through it, never by following a link.
	logDir         *safefs.Root
	stdout, stderr *logs.Collector
	rotators       []*logs.Rotator
	// launching is the report of a started monitor not yet read: the
	// monitor's own setup runs beside the driver's start (the task holds
	// its FIFOs read-write, so it needs no reader to start) instead of
	// before it.
	launching chan error
}

func (*logsHook) Name() string { return "logs" }

// logSettings are the task's log limits.
func (h *logsHook) logSettings() (maxFiles int, maxBytes int64, disabled bool) {
	maxFiles, maxMB := logs.DefaultMaxFiles, logs.DefaultMaxFileSizeMB
	if lc := h.tr.cfg.Task.LogConfig; lc != nil {
		if lc.MaxFiles > 0 {
			maxFiles = lc.MaxFiles
		}
		if lc.MaxFileSizeMB > 0 {
			maxMB = lc.MaxFileSizeMB
		}
		disabled = lc.Disabled
	}
	return maxFiles, int64(maxMB) << 20, disabled
}

func (h *logsHook) spec() logmon.Spec {
	tr := h.tr
	maxFiles, maxBytes, disabled := h.logSettings()
	name := tr.cfg.Task.Name
	return logmon.Spec{LogDir: h.logDir, StdoutFIFO: tr.fifoName("stdout"), StderrFIFO: tr.fifoName("stderr"),
		StdoutBase: name + ".stdout", StderrBase: name + ".stderr", MaxFiles: maxFiles, MaxBytes: maxBytes,
		Discard: disabled, PidFile: "." + name + ".logmon", Label: tr.cfg.Alloc.ID + "/" + name}
}

func (h *logsHook) openLogDir() error {
	if h.logDir != nil {
		return nil
	}
	logDir, err := h.tr.cfg.AllocDir.OpenLogDir()
	if err != nil {
		return err
	}
	h.logDir = logDir
	return nil
}

func (h *logsHook) Prestart(_ context.Context, _ *hooks.TaskPrestartRequest, _ *hooks.TaskPrestartResponse) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return nil
	}
	if err := h.openLogDir(); err != nil {
		return drivers.NonRecoverable(err)
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if err := logs.MakeFIFO(h.logDir, h.tr.fifoName(stream)); err != nil {
			return drivers.NonRecoverable(err)
		}
	}
	if logmon.Available {
		// The monitor process exists before the task starts (its output
		// never waits for the agent, even if the agent dies right now);
		// only its report is awaited later, by whoever next needs to know
		// how the output is collected (Poststart, Stop, Shutdown). The
		// report keeps a monitor that survived an agent restart.
		l, err := logmon.Launch(h.spec())
		if err == nil {
			ch := make(chan error, 1)
			go func() {
				_, err := l.Wait()
				ch <- err
			}()
			h.launching, h.started = ch, true
			return nil
		}
		h.tr.logger.Warn("log monitor did not start; the agent collects the task's output itself", "error", err)
	}
	if err := h.startCollectors(); err != nil {
		h.stopCollectors(false)
		return drivers.NonRecoverable(err)
	}
	h.started = true
	return nil
}

// settle waits for a monitor's start under way; when the monitor did not
// start, the agent collects the task's output itself. Callers hold h.mu.
func (h *logsHook) settle() error {
	if h.launching == nil {
		return nil
	}
	err := <-h.launching
	h.launching = nil
	if err == nil {
		h.monitor = true
		return nil
	}
	h.tr.logger.Warn("log monitor did not start; the agent collects the task's output itself", "error", err)
	if err := h.startCollectors(); err != nil {
		h.stopCollectors(false)
		return err
	}
	return nil
}

// Poststart makes sure the task's output is collected: by its monitor, or
// else by the agent. A task whose output nobody can collect would block
// once its pipe is full, so it fails, as it did when this was checked
// before the start.
func (h *logsHook) Poststart(context.Context, *hooks.TaskPoststartRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.settle(); err != nil {
		err = fmt.Errorf("collecting the task's output: %w", err)
		h.tr.kill(err.Error(), true)
		return err
	}
	return nil
}

// startCollectors runs the in-agent collectors.
func (h *logsHook) startCollectors() error {
	maxFiles, maxBytes, disabled := h.logSettings()
	for _, stream := range []string{"stdout", "stderr"} {
		fifo := h.tr.fifoName(stream)
		var c *logs.Collector
		var err error
		if disabled {
			c, err = logs.StartCollector(h.logDir, fifo, discard{}, h.tr.logger)
		} else {
			r, rerr := logs.NewRotator(h.logDir, h.tr.cfg.Task.Name+"."+stream, maxFiles, maxBytes, h.tr.logger)
			if rerr != nil {
				return rerr
			}
			h.rotators = append(h.rotators, r)
			c, err = logs.StartCollector(h.logDir, fifo, r, h.tr.logger)
		}
		if err != nil {
			return err
		}
		if stream == "stdout" {
			h.stdout = c
		} else {
			h.stderr = c
		}
	}
	return nil
}

// Stop drains what the dead task wrote and closes the files: the monitor's
// drain, or the collectors' (also when the monitor died meanwhile, or the
// task ended while the agent was down).
func (h *logsHook) Stop(context.Context, *hooks.TaskStopRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.settle(); err != nil {
		// Below, the collectors get another chance at the final drain.
		h.tr.logger.Warn("collecting the task's output", "error", err)
	}
	if err := h.openLogDir(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // never built, or already removed: nothing to collect
		}
		return err
	}
	defer h.closeLogDir()
	if h.stdout != nil {
		h.stopCollectors(true)
		return nil
	}
	err := logmon.Stop(h.logDir, h.spec().PidFile, logmonStopTimeout)
	if errors.Is(err, logmon.ErrNotRunning) {
		if err := h.startCollectors(); err != nil {
			h.stopCollectors(false)
			return err
		}
		h.stopCollectors(true)
		return nil
	}
	return err
}

// Shutdown leaves the task's output to its monitor, or (collected in the
// agent) unread in the FIFO for the next agent's collector.
func (h *logsHook) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.settle(); err != nil {
		h.tr.logger.Warn("collecting the task's output", "error", err)
	}
	h.stopCollectors(false)
	h.closeLogDir()
}

func (h *logsHook) stopCollectors(drain bool) {
	for _, c := range []*logs.Collector{h.stdout, h.stderr} {
		if c != nil {
			c.Stop(drain)
		}
	}
	for _, r := range h.rotators {
		r.Close()
	}
	h.stdout, h.stderr, h.rotators = nil, nil, nil
}

func (h *logsHook) closeLogDir() {
	if h.logDir != nil {
		h.logDir.Close()
		h.logDir = nil
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
