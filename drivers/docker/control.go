package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

// killGrace is how long Stop waits for the exit after SIGKILL before it
// reports the container as stuck.
const killGrace = 10 * time.Second

// errDestroyed is the exit of a task removed before its exit was observed.
var errDestroyed = errors.New("container destroyed before its exit was observed")

// Wait implements drivers.Driver. Every call gets its own channel, so
// several waiters each see the exit.
func (d *Driver) Wait(ctx context.Context, taskID string) (<-chan *drivers.ExitResult, error) {
	h, err := d.handle(taskID)
	if err != nil {
		return nil, err
	}
	ch := make(chan *drivers.ExitResult, 1)
	go func() {
		select {
		case <-h.done:
			ch <- h.result()
		case <-ctx.Done():
		}
	}()
	return ch, nil
}

// Stop implements drivers.Driver: signal (default SIGTERM), then SIGKILL if
// the container outlives timeout.
func (d *Driver) Stop(taskID string, timeout time.Duration, signal string) error {
	h, err := d.handle(taskID)
	if err != nil {
		return err
	}
	if h.exited() {
		return nil
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	if err := d.kill(h, signal); err != nil {
		return err
	}
	if timeout > 0 {
		t := time.NewTimer(timeout)
		select {
		case <-h.done:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	d.logger.Info("container outlived its kill timeout; killing", "task", taskID, "container", shortID(h.containerID), "timeout", timeout)
	if err := d.kill(h, "SIGKILL"); err != nil {
		return err
	}
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-h.done:
		return nil
	case <-t.C:
		return fmt.Errorf("container %s still running %s after SIGKILL", shortID(h.containerID), killGrace)
	}
}

// kill sends a signal; a container that is already stopped is not an error
// for Stop, since stopping it is the goal.
func (d *Driver) kill(h *taskHandle, signal string) error {
	if isSIGKILL(signal) {
		h.killed.Store(true)
	}
	ctx, cancel := apiCtx()
	defer cancel()
	err := d.client.ContainerKill(ctx, h.containerID, signal)
	if err == nil || cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("sending %s to container %s: %w", signal, shortID(h.containerID), err)
}

// Signal implements drivers.Driver.
func (d *Driver) Signal(taskID string, signal string) error {
	h, err := d.handle(taskID)
	if err != nil {
		return err
	}
	if signal == "" {
		return errors.New("docker driver: empty signal")
	}
	if isSIGKILL(signal) {
		h.killed.Store(true)
	}
	ctx, cancel := apiCtx()
	defer cancel()
	if err := d.client.ContainerKill(ctx, h.containerID, signal); err != nil {
		return fmt.Errorf("sending %s to container %s: %w", signal, shortID(h.containerID), err)
	}
	return nil
}

// Destroy implements drivers.Driver: it removes the container (killing it
// when force is set) and forgets the task.
func (d *Driver) Destroy(taskID string, force bool) error {
	h, err := d.handle(taskID)
	if err != nil {
		return err
	}
	if !force && !h.exited() {
		return fmt.Errorf("docker task %q is still running; stop it first or destroy with force", taskID)
	}
	h.killed.Store(true)
	// Detach first, so the log stream does not chase a container that is
	// being removed.
	h.detach()
	ctx, cancel := apiCtx()
	defer cancel()
	err = d.client.ContainerRemove(ctx, h.containerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %s: %w", shortID(h.containerID), err)
	}
	h.finish(&drivers.ExitResult{ExitCode: -1, Err: errDestroyed})
	if h.logs != nil {
		h.logs.removeCursor()
	}
	d.mu.Lock()
	if d.tasks[taskID] == h {
		delete(d.tasks, taskID)
	}
	d.mu.Unlock()
	return nil
}

// Inspect implements drivers.Driver.
func (d *Driver) Inspect(taskID string) (*drivers.TaskStatus, error) {
	h, err := d.handle(taskID)
	if err != nil {
		return nil, err
	}
	st := &drivers.TaskStatus{
		ID:        taskID,
		Name:      h.cfg.Name,
		State:     drivers.TaskStateUnknown,
		StartedAt: h.startedAt,
		Attributes: map[string]string{
			"container_id": h.containerID,
			"image_id":     h.imageID,
		},
	}
	if h.exited() {
		st.State = drivers.TaskStateExited
		st.ExitResult = h.result()
		h.mu.Lock()
		st.CompletedAt = h.completedAt
		h.mu.Unlock()
		return st, nil
	}
	ctx, cancel := apiCtx()
	defer cancel()
	info, err := d.client.ContainerInspect(ctx, h.containerID)
	if err != nil {
		// The daemon may be down; the task's state is then unknown.
		return st, nil
	}
	if info.State != nil {
		switch {
		case info.State.Running:
			st.State = drivers.TaskStateRunning
		case info.State.Status == "exited" || info.State.Status == "dead":
			st.State = drivers.TaskStateExited
			st.CompletedAt = parseDockerTime(info.State.FinishedAt)
			st.ExitResult = &drivers.ExitResult{ExitCode: info.State.ExitCode, OOMKilled: info.State.OOMKilled}
		}
	}
	if info.NetworkSettings != nil && info.NetworkSettings.IPAddress != "" {
		st.Attributes["ip_address"] = info.NetworkSettings.IPAddress
	}
	return st, nil
}

func isSIGKILL(signal string) bool {
	s := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(signal)), "SIG")
	return s == "KILL" || s == "9"
}
