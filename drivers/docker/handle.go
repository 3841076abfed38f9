package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/orch-project/orch/drivers"
)

// handleVersion is the DriverState format written by this code.
const handleVersion = 1

// driverState is what the client persists for a docker task.
type driverState struct {
	ContainerID string `json:"ContainerID"`
	ImageID     string `json:"ImageID"`
}

func decodeState(h *drivers.TaskHandle) (*driverState, error) {
	if h == nil || len(h.DriverState) == 0 {
		return nil, fmt.Errorf("docker handle has no driver state")
	}
	var s driverState
	if err := json.Unmarshal(h.DriverState, &s); err != nil {
		return nil, fmt.Errorf("decoding docker driver state: %w", err)
	}
	if s.ContainerID == "" {
		return nil, fmt.Errorf("docker driver state has no container ID")
	}
	return &s, nil
}

// taskHandle tracks one container for the lifetime of this process.
type taskHandle struct {
	d           *Driver
	taskID      string
	containerID string
	imageID     string
	cfg         *drivers.TaskConfig
	startedAt   time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	logs   *logStreamer // nil when the task has no log sinks

	// killed is set once the driver sent SIGKILL itself, so such an exit
	// is not mistaken for a possible OOM kill.
	killed atomic.Bool

	finishOnce  sync.Once
	done        chan struct{} // closed once exit is set
	mu          sync.Mutex
	exit        *drivers.ExitResult
	completedAt time.Time
}

func (d *Driver) newHandle(taskID, containerID, imageID string, cfg *drivers.TaskConfig, startedAt time.Time) *taskHandle {
	ctx, cancel := context.WithCancel(context.Background())
	return &taskHandle{
		d: d, taskID: taskID, containerID: containerID, imageID: imageID, cfg: cfg,
		startedAt: startedAt, ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

// setLogs attaches the log streamer; one without sinks is not run at all.
func (h *taskHandle) setLogs(l *logStreamer) {
	if !l.hasSinks() {
		return
	}
	h.logs = l
}

// run starts the exit watcher and, if there are sinks, the log stream.
func (h *taskHandle) run(cursor logCursor) {
	if h.logs != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.logs.run(h.ctx, cursor)
		}()
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.watch()
	}()
}

// watch waits for the container to stop, riding out daemon restarts and
// dropped connections, and records how it ended.
func (h *taskHandle) watch() {
	backoff := 250 * time.Millisecond
	for {
		res, err := h.waitOnce()
		if err == nil {
			if h.logs != nil {
				h.logs.waitDrained()
			}
			h.finish(res)
			return
		}
		if h.ctx.Err() != nil {
			return // detached or destroyed: Destroy records its own result
		}
		if cerrdefs.IsNotFound(err) {
			h.finish(&drivers.ExitResult{ExitCode: -1, Err: fmt.Errorf("container %s disappeared: %w", h.containerID, err)})
			return
		}
		h.d.logger.Warn("waiting for container failed; retrying", "container", h.containerID, "error", err)
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (h *taskHandle) waitOnce() (*drivers.ExitResult, error) {
	respC, errC := h.d.client.ContainerWait(h.ctx, h.containerID, container.WaitConditionNotRunning)
	select {
	case resp := <-respC:
		res := &drivers.ExitResult{ExitCode: int(resp.StatusCode)}
		// The wait response lacks the OOM flag and the finish time.
		ctx, cancel := apiCtx()
		defer cancel()
		if info, err := h.d.client.ContainerInspect(ctx, h.containerID); err == nil && info.State != nil {
			res.ExitCode = info.State.ExitCode
			res.OOMKilled = info.State.OOMKilled
			h.setCompletedAt(parseDockerTime(info.State.FinishedAt))
			if !res.OOMKilled && res.ExitCode == sigkillExit && !h.killed.Load() {
				res.OOMKilled = h.lateOOM(ctx)
			}
		} else if resp.Error != nil && resp.Error.Message != "" {
			res.Err = fmt.Errorf("container %s: %s", h.containerID, resp.Error.Message)
		}
		return res, nil
	case err := <-errC:
		return nil, err
	}
}

// sigkillExit is the exit code of a process killed by SIGKILL (128+9).
const sigkillExit = 137

// oomRecheck bounds how long an unexplained SIGKILL is looked at as a
// possible OOM kill.
const (
	oomRecheckInterval = 100 * time.Millisecond
	oomRecheckTimes    = 10
)

// lateOOM re-reads the OOM flag of a container SIGKILLed by someone other
// than the driver. The daemon handles containerd's OOM and exit events
// separately and the exit can be processed first, leaving the flag unset
// for a moment; it is set for good once the OOM event is handled.
func (h *taskHandle) lateOOM(ctx context.Context) bool {
	for range oomRecheckTimes {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(oomRecheckInterval):
		}
		info, err := h.d.client.ContainerInspect(ctx, h.containerID)
		if err != nil || info.State == nil {
			return false
		}
		if info.State.OOMKilled {
			return true
		}
	}
	return false
}

func (h *taskHandle) setCompletedAt(t time.Time) {
	h.mu.Lock()
	h.completedAt = t
	h.mu.Unlock()
}

// finish records the exit once and wakes every waiter.
func (h *taskHandle) finish(res *drivers.ExitResult) {
	h.finishOnce.Do(func() {
		h.mu.Lock()
		h.exit = res
		if h.completedAt.IsZero() {
			h.completedAt = time.Now()
		}
		h.mu.Unlock()
		close(h.done)
	})
}

func (h *taskHandle) exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *taskHandle) result() *drivers.ExitResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.exit == nil {
		return nil
	}
	c := *h.exit
	return &c
}

// detach stops watching the container without touching it.
func (h *taskHandle) detach() {
	h.cancel()
	h.wg.Wait()
}

// parseDockerTime parses the daemon's RFC 3339 times; its "never" is the
// zero year, which stays the zero time.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
