package allocrunner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orch-project/orch/drivers"
)

// Recover retry bounds. A driver whose backing daemon is still coming up
// (dockerd after a host reboot) fails Recover for a while; declaring the
// task lost at once would start a second copy of a task that still runs.
const (
	recoverBackoffMin = 250 * time.Millisecond
	recoverBackoffMax = 10 * time.Second
	recoverDeadline   = 2 * time.Minute
)

// recoverBackoff is how long recoverTask keeps retrying transient errors.
type recoverBackoff struct {
	min, max, deadline time.Duration
}

func defaultRecoverBackoff() recoverBackoff {
	return recoverBackoff{min: recoverBackoffMin, max: recoverBackoffMax, deadline: recoverDeadline}
}

type recoverOutcome int

const (
	recovered recoverOutcome = iota
	recoverLost
	recoverDetached
	recoverKilled
)

// recoverTask re-attaches to the task behind h. Only ErrTaskNotFound means
// the task is gone; any other error is retried with backoff until the
// deadline, the agent stopping (detached) or a kill (abandoned). The error
// is returned with recoverLost and recoverKilled.
func (tr *TaskRunner) recoverTask(ctx context.Context, h *drivers.TaskHandle) (recoverOutcome, error) {
	b := tr.recoverBackoff
	rctx, cancel := context.WithTimeout(ctx, b.deadline)
	defer cancel()
	// A kill must also interrupt a Recover call blocked on the driver.
	go func() {
		select {
		case <-tr.killCh:
			cancel()
		case <-rctx.Done():
		}
	}()
	delay := b.min
	for attempt := 1; ; attempt++ {
		err := tr.cfg.Driver.Recover(rctx, h)
		if err == nil {
			return recovered, nil
		}
		switch {
		case ctx.Err() != nil:
			return recoverDetached, err
		case tr.killed():
			return recoverKilled, err
		case errors.Is(err, drivers.ErrTaskNotFound):
			return recoverLost, err
		case rctx.Err() != nil:
			return recoverLost, fmt.Errorf("gave up re-attaching after %s: %w", b.deadline, err)
		}
		if attempt == 1 {
			tr.logger.Warn("re-attaching to task failed; retrying", "error", err, "retry_in", delay)
		} else {
			tr.logger.Debug("re-attaching to task failed; retrying", "attempt", attempt, "error", err, "retry_in", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-rctx.Done():
			t.Stop()
			// One more attempt, with the context already done, so the
			// outcome is classified above; it fails fast or, for a
			// driver that needs no I/O, re-attaches after all.
		}
		delay = min(2*delay, b.max)
	}
}
