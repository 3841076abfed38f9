package allocrunner

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/structs"
)

// DefaultRestartPolicy is Nomad's default for a job type, used when neither
// the group nor the task sets one.
func DefaultRestartPolicy(jobType string) *structs.RestartPolicy {
	switch jobType {
	case structs.JobTypeBatch, structs.JobTypeSysBatch:
		return &structs.RestartPolicy{Attempts: 3, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: structs.RestartPolicyModeFail}
	default:
		return &structs.RestartPolicy{Attempts: 2, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: structs.RestartPolicyModeFail}
	}
}

// Decision is what to do after a task stopped or failed to start.
type Decision struct {
	Restart bool
	Delay   time.Duration
	// Failed is set when the task will not restart because it failed.
	Failed bool
	Reason string
}

// RestartTracker applies a restart policy: at most Attempts restarts per
// Interval, Delay (plus up to 25% jitter) between them; once exhausted,
// mode "fail" gives up and mode "delay" waits for the interval to end.
type RestartTracker struct {
	policy structs.RestartPolicy
	// onSuccess restarts tasks that exit 0: services must run forever,
	// batch work is done when it succeeds.
	onSuccess   bool
	count       int
	windowStart time.Time
	jitter      func() float64 // in [0,1)
}

// NewRestartTracker returns a tracker for a main task of jobType under
// policy (nil: the job type's default).
func NewRestartTracker(policy *structs.RestartPolicy, jobType string) *RestartTracker {
	return NewTaskRestartTracker(policy, jobType, nil)
}

// NewTaskRestartTracker returns the tracker for task (nil: a main task).
// Only long-running tasks restart after exiting 0: main tasks and sidecars
// of service and system jobs. A non-sidecar lifecycle task (and every
// poststop task) runs to completion, so exit 0 means done; it restarts
// only on failure. In batch jobs exit 0 is done for every task.
func NewTaskRestartTracker(policy *structs.RestartPolicy, jobType string, task *structs.Task) *RestartTracker {
	if policy == nil {
		policy = DefaultRestartPolicy(jobType)
	}
	return &RestartTracker{policy: *policy, onSuccess: restartsOnSuccess(jobType, task), jitter: rand.Float64}
}

func restartsOnSuccess(jobType string, task *structs.Task) bool {
	if jobType == structs.JobTypeBatch || jobType == structs.JobTypeSysBatch {
		return false
	}
	if task == nil || task.Lifecycle == nil || task.Lifecycle.Hook == "" {
		return true
	}
	return task.Lifecycle.Sidecar && task.Lifecycle.Hook != structs.TaskLifecycleHookPoststop
}

// Next decides after a task exit (res) or a failed start (startErr).
func (r *RestartTracker) Next(res *drivers.ExitResult, startErr error, now time.Time) Decision {
	if startErr == nil && res != nil && res.Successful() && !r.onSuccess {
		return Decision{Reason: "Restart unnecessary as task terminated successfully"}
	}
	p := r.policy
	if r.windowStart.IsZero() || now.Sub(r.windowStart) >= p.Interval {
		r.windowStart, r.count = now, 0
	}
	r.count++
	if r.count <= p.Attempts {
		return Decision{Restart: true, Delay: r.jittered(p.Delay), Reason: "Restart within policy"}
	}
	if p.Mode == structs.RestartPolicyModeDelay {
		wait := r.windowStart.Add(p.Interval).Sub(now)
		// The next window starts when the delayed restart happens.
		r.windowStart, r.count = now.Add(wait), 0
		return Decision{Restart: true, Delay: max(wait, p.Delay),
			Reason: fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is \"delay\"", p.Attempts, p.Interval)}
	}
	return Decision{Failed: true,
		Reason: fmt.Sprintf("Exceeded allowed attempts %d in interval %v and mode is \"fail\"", p.Attempts, p.Interval)}
}

func (r *RestartTracker) jittered(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration(r.jitter()*0.25*float64(d))
}

// Window returns the tracker's progress through its policy interval, to
// persist across agent restarts.
func (r *RestartTracker) Window() (count int, start time.Time) { return r.count, r.windowStart }

// SetWindow restores progress saved with Window.
func (r *RestartTracker) SetWindow(count int, start time.Time) { r.count, r.windowStart = count, start }
