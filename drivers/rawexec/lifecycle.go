package rawexec

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/tasklock"
)

// killGrace bounds how long Stop and Destroy wait for a SIGKILLed group.
const killGrace = 5 * time.Second

// Wait implements drivers.Driver. The channel yields the exit once, or is
// closed without a value when ctx ends first.
func (d *Driver) Wait(ctx context.Context, taskID string) (<-chan *drivers.ExitResult, error) {
	t, err := d.get(taskID)
	if err != nil {
		return nil, err
	}
	ch := make(chan *drivers.ExitResult, 1)
	go func() {
		defer close(ch)
		select {
		case <-t.done:
			ch <- t.exitResult()
		case <-ctx.Done():
		}
	}()
	return ch, nil
}

// Stop implements drivers.Driver: signal the whole process group, then
// SIGKILL it if the main process outlives timeout.
func (d *Driver) Stop(taskID string, timeout time.Duration, signal string) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal, syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("raw_exec: %w", err)
	}
	if t.exited() {
		return nil
	}
	if err := t.signalTree(sig); err != nil {
		return fmt.Errorf("raw_exec: signalling task %q: %w", taskID, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case <-timer.C:
	}
	return d.kill(t)
}

func (d *Driver) kill(t *task) error {
	t.sigkilled.Store(true)
	if err := t.signalGroup(syscall.SIGKILL); err != nil {
		return fmt.Errorf("raw_exec: killing task %q: %w", t.id, err)
	}
	select {
	case <-t.done:
		return nil
	case <-time.After(killGrace):
		return fmt.Errorf("raw_exec: task %q still running %s after SIGKILL", t.id, killGrace)
	}
}

// Signal implements drivers.Driver; it reaches the main process only, as a
// reload signal is meant for it rather than for its helpers.
func (d *Driver) Signal(taskID string, signal string) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal, syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("raw_exec: %w", err)
	}
	if err := t.signalLeader(sig); err != nil {
		return fmt.Errorf("raw_exec: signalling task %q: %w", taskID, err)
	}
	return nil
}

// Destroy implements drivers.Driver. Processes left in the group after the
// main process exited (daemonized helpers) are killed too.
func (d *Driver) Destroy(taskID string, force bool) error {
	t, err := d.get(taskID)
	if err != nil {
		return err
	}
	if !t.exited() {
		if !force {
			return fmt.Errorf("raw_exec: task %q is still running", taskID)
		}
		if err := d.kill(t); err != nil {
			return err
		}
	}
	if err := t.signalGroup(syscall.SIGKILL); err != nil {
		d.logger.Warn("killing leftover processes", "task", taskID, "error", err)
	}
	t.mu.Lock()
	if t.pidfd != nil {
		t.pidfd.Close()
		t.pidfd = nil
	}
	t.mu.Unlock()
	if t.stateDir != "" {
		if err := os.RemoveAll(t.stateDir); err != nil {
			d.logger.Warn("removing task state dir", "task", taskID, "error", err)
		}
	}
	if err := tasklock.Remove(d.taskLockPath(taskID), d.loggingKiller(taskID), killGrace); err != nil {
		d.logger.Warn("removing task lock", "task", taskID, "error", err)
	}
	d.mu.Lock()
	if d.tasks[taskID] == t {
		delete(d.tasks, taskID)
	}
	d.mu.Unlock()
	return nil
}

// Inspect implements drivers.Driver.
func (d *Driver) Inspect(taskID string) (*drivers.TaskStatus, error) {
	t, err := d.get(taskID)
	if err != nil {
		return nil, err
	}
	st := &drivers.TaskStatus{
		ID: t.id, Name: t.name, State: drivers.TaskStateRunning, StartedAt: t.startedAt,
		Attributes: map[string]string{"pid": strconv.Itoa(t.pid)},
	}
	if t.exited() {
		t.mu.Lock()
		st.State = drivers.TaskStateExited
		st.CompletedAt = t.completedAt
		r := *t.result
		st.ExitResult = &r
		t.mu.Unlock()
	}
	return st, nil
}

// Stats implements drivers.Driver by summing /proc over the task's process
// group. CPUTotalTicks is cumulative CPU time in USER_HZ ticks; CPUPercent
// is relative to one core over the interval since the previous call.
func (d *Driver) Stats(ctx context.Context, taskID string) (*drivers.TaskResourceUsage, error) {
	t, err := d.get(taskID)
	if err != nil {
		return nil, err
	}
	if t.exited() {
		return nil, fmt.Errorf("raw_exec: task %q has exited", taskID)
	}
	procs, err := groupMembers(t.pid)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	page := uint64(os.Getpagesize())
	now := time.Now()
	u := &drivers.TaskResourceUsage{Timestamp: now.UnixNano(), Pids: make(map[string]uint64, len(procs))}
	var ticks uint64
	for _, p := range procs {
		rss := uint64(max(p.RSSPages, 0)) * page
		u.Pids[strconv.Itoa(p.Pid)] = rss
		u.MemoryRSS += rss
		ticks += p.UTime + p.STime
	}
	u.CPUTotalTicks = float64(ticks)
	t.mu.Lock()
	if !t.lastSample.IsZero() && ticks >= t.lastCPU {
		if el := now.Sub(t.lastSample).Seconds(); el > 0 {
			u.CPUPercent = float64(ticks-t.lastCPU) / clockTicks / el * 100
		}
	}
	t.lastCPU, t.lastSample = ticks, now
	t.mu.Unlock()
	return u, nil
}
