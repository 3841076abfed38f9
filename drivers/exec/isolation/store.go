//go:build unix

package isolation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// Runner is one running (or finished) task as a driver's Store tracks it:
// an isolated container or a plain process.
type Runner interface {
	// Done is closed once the task has exited and Result is final.
	Done() <-chan struct{}
	Result() *drivers.ExitResult
	// FinishedAt is when the exit was observed; zero before Done.
	FinishedAt() time.Time
	Signal(sig syscall.Signal) error
	// Kill ends the task and everything it started.
	Kill() error
	// Destroy releases what the task held; called once, after Done.
	Destroy() error
	// Usage samples resource use; cpuNanos is cumulative CPU time.
	Usage() (u *drivers.TaskResourceUsage, cpuNanos uint64, err error)
	Attributes() map[string]string
	// Exec runs a command inside the task (see drivers.Execer); cfg is the
	// task's configuration (user, environment, directories).
	Exec(ctx context.Context, cfg *drivers.TaskConfig, req *drivers.ExecRequest) (int, error)
}

// destroyWait bounds how long Destroy(force) waits for a killed task.
const destroyWait = 15 * time.Second

// Store is the set of tasks a driver tracks, implementing the generic part
// of the drivers.Driver contract over Runners.
type Store struct {
	mu    sync.Mutex
	tasks map[string]*entry
}

type entry struct {
	name      string
	runner    Runner
	startedAt time.Time
	cfg       *drivers.TaskConfig

	mu         sync.Mutex
	lastSample time.Time
	lastCPU    uint64
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{tasks: make(map[string]*entry)} }

// Add tracks a runner under the task ID.
func (s *Store) Add(id, name string, r Runner, startedAt time.Time) {
	e := &entry{name: name, runner: r, startedAt: startedAt}
	s.mu.Lock()
	s.tasks[id] = e
	s.mu.Unlock()
}

// AddTask tracks a runner with the task's configuration, which commands
// run in the task (Exec) need.
func (s *Store) AddTask(cfg *drivers.TaskConfig, r Runner, startedAt time.Time) {
	e := &entry{name: cfg.Name, runner: r, startedAt: startedAt, cfg: cfg}
	s.mu.Lock()
	s.tasks[cfg.ID] = e
	s.mu.Unlock()
}

// Exec runs a command inside a running task.
func (s *Store) Exec(ctx context.Context, id string, req *drivers.ExecRequest) (int, error) {
	e, err := s.get(id)
	if err != nil {
		return 0, err
	}
	if isDone(e.runner) {
		return 0, fmt.Errorf("task %q is not running", id)
	}
	if e.cfg == nil || len(req.Command) == 0 {
		return 0, errors.New("exec: no command or task configuration")
	}
	return e.runner.Exec(ctx, e.cfg, req)
}

// Runner returns the task's runner, nil when the task is not tracked.
func (s *Store) Runner(id string) Runner {
	e, err := s.get(id)
	if err != nil {
		return nil
	}
	return e.runner
}

// Has reports whether the task is tracked.
func (s *Store) Has(id string) bool {
	_, err := s.get(id)
	return err == nil
}

func (s *Store) get(id string) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %q: %w", id, drivers.ErrTaskNotFound)
	}
	return e, nil
}

// Wait yields the task's exit once; ctx ends the wait without a value.
func (s *Store) Wait(ctx context.Context, id string) (<-chan *drivers.ExitResult, error) {
	e, err := s.get(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan *drivers.ExitResult, 1)
	go func() {
		defer close(ch)
		select {
		case <-e.runner.Done():
			ch <- e.runner.Result()
		case <-ctx.Done():
		}
	}()
	return ch, nil
}

// Stop signals the task and kills it if it outlives timeout.
func (s *Store) Stop(id string, timeout time.Duration, signal string) error {
	e, err := s.get(id)
	if err != nil {
		return err
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	sig, err := ParseSignal(signal)
	if err != nil {
		return err
	}
	select {
	case <-e.runner.Done():
		return nil
	default:
	}
	if err := e.runner.Signal(sig); err != nil && !isDone(e.runner) {
		return fmt.Errorf("stop task %q: %w", id, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.runner.Done():
		return nil
	case <-t.C:
	}
	if err := e.runner.Kill(); err != nil && !isDone(e.runner) {
		return fmt.Errorf("kill task %q: %w", id, err)
	}
	return nil
}

func isDone(r Runner) bool {
	select {
	case <-r.Done():
		return true
	default:
		return false
	}
}

// Signal delivers a signal to the task.
func (s *Store) Signal(id, signal string) error {
	e, err := s.get(id)
	if err != nil {
		return err
	}
	sig, err := ParseSignal(signal)
	if err != nil {
		return err
	}
	if isDone(e.runner) {
		return fmt.Errorf("signal task %q: task has exited", id)
	}
	if err := e.runner.Signal(sig); err != nil {
		return fmt.Errorf("signal task %q: %w", id, err)
	}
	return nil
}

// Destroy kills the task if force (else refuses while it runs), releases its
// resources and forgets it.
func (s *Store) Destroy(id string, force bool) error {
	e, err := s.get(id)
	if err != nil {
		return err
	}
	if !isDone(e.runner) {
		if !force {
			return fmt.Errorf("destroy task %q: task is still running", id)
		}
		if err := e.runner.Kill(); err != nil && !isDone(e.runner) {
			return fmt.Errorf("destroy task %q: %w", id, err)
		}
		t := time.NewTimer(destroyWait)
		defer t.Stop()
		select {
		case <-e.runner.Done():
		case <-t.C:
			return fmt.Errorf("destroy task %q: task did not exit after kill", id)
		}
	}
	if err := e.runner.Destroy(); err != nil {
		return fmt.Errorf("destroy task %q: %w", id, err)
	}
	s.mu.Lock()
	delete(s.tasks, id)
	s.mu.Unlock()
	return nil
}

// Inspect reports the task's state.
func (s *Store) Inspect(id string) (*drivers.TaskStatus, error) {
	e, err := s.get(id)
	if err != nil {
		return nil, err
	}
	st := &drivers.TaskStatus{
		ID: id, Name: e.name, State: drivers.TaskStateRunning, StartedAt: e.startedAt,
		Attributes: maps.Clone(e.runner.Attributes()),
	}
	if isDone(e.runner) {
		st.State = drivers.TaskStateExited
		st.ExitResult = e.runner.Result()
		st.CompletedAt = e.runner.FinishedAt()
	}
	return st, nil
}

// Stats samples the task; CPUPercent is relative to one core over the time
// since the previous sample (or since start for the first).
func (s *Store) Stats(ctx context.Context, id string) (*drivers.TaskResourceUsage, error) {
	e, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, cpu, err := e.runner.Usage()
	if err != nil {
		return nil, fmt.Errorf("stats of task %q: %w", id, err)
	}
	now := time.Now()
	e.mu.Lock()
	prevT, prevCPU := e.lastSample, e.lastCPU
	if prevT.IsZero() {
		prevT, prevCPU = e.startedAt, 0
	}
	if wall := now.Sub(prevT); wall > 0 && cpu >= prevCPU {
		u.CPUPercent = float64(cpu-prevCPU) / float64(wall.Nanoseconds()) * 100
	}
	e.lastSample, e.lastCPU = now, cpu
	e.mu.Unlock()
	u.CPUTotalTicks = float64(cpu) / float64(time.Millisecond)
	u.Timestamp = now.UnixNano()
	return u, nil
}

// ParseSignal accepts "SIGTERM", "TERM", "sigterm" or a number.
func ParseSignal(name string) (syscall.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if v, err := strconv.Atoi(n); err == nil && v > 0 && v < 65 {
		return syscall.Signal(v), nil
	}
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if sig := unix.SignalNum(n); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("unknown signal " + strconv.Quote(name))
}
