//go:build linux && cgo

package isolation

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	// The cgroup managers can only apply device rules with this imported.
	_ "github.com/opencontainers/cgroups/devices"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/drivers/tasklock"
)

// Contract with the C shim in init_linux.go.
const (
	shimEnv      = "__ORCH_EXEC_SHIM"
	shimExeArg   = "/proc/self/fd/4" // ExtraFiles[1]
	statusFile   = "orch-exit-status"
	execWaitTime = 30 * time.Second
)

// State is what a driver persists to find a container again.
type State struct {
	ContainerID string `json:"ContainerID"`
	StateRoot   string `json:"StateRoot"`
	TaskDir     string `json:"TaskDir"`
	Pid         int    `json:"Pid"`
	// ExtraReadOnly lists the Spec's extra mount points, for cleanup.
	ExtraReadOnly []string `json:"ExtraReadOnly,omitempty"`
}

// Container is an isolated task: libcontainer's container whose init is the
// supervising shim, which runs the task's command as its only child.
type Container struct {
	state State
	lc    *libcontainer.Container

	done     chan struct{}
	mu       sync.Mutex
	result   *drivers.ExitResult
	finished time.Time
}

var _ Runner = (*Container)(nil)

// Start creates and runs the container; it returns once the task's command
// has been exec'd (or fails with the exec error, e.g. command not found).
func Start(ctx context.Context, s *Spec) (*Container, error) {
	if s.TaskDir == "" || s.StateRoot == "" || s.Command == "" {
		return nil, errors.New("isolation: TaskDir, StateRoot and Command are required")
	}
	ident := s.Identity
	if ident == nil {
		var err error
		if ident, err = ResolveUser(s.User); err != nil {
			return nil, fmt.Errorf("resolve task user: %w", err)
		}
	}
	if err := prepareDirs(s, ident); err != nil {
		return nil, fmt.Errorf("prepare task directories: %w", err)
	}
	id := ContainerID(s.ID)
	cfg, err := buildConfig(s, id, ident)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.StateRoot, 0o700); err != nil {
		return nil, fmt.Errorf("create state root: %w", err)
	}
	// Held from here until the container's init dies (it inherits the
	// lock), so an agent that crashes anywhere below leaves a copy the
	// next start finds and kills rather than one nobody tracks.
	intent := fmt.Sprintf("intent task=%s container=%s agent=%d at=%s", s.ID, id, os.Getpid(), time.Now().UTC().Format(time.RFC3339Nano))
	lock, err := tasklock.Acquire(LockPath(s.StateRoot, id), intent, killInit, lockWait)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if started {
			lock.Release()
		} else {
			_ = lock.Discard()
		}
	}()
	lc, err := libcontainer.Create(s.StateRoot, id, cfg)
	if errors.Is(err, libcontainer.ErrExist) {
		// Left over from a task whose destroy never ran: its processes are
		// gone or unwanted, so clear it and start afresh.
		if old, lerr := libcontainer.Load(s.StateRoot, id); lerr == nil {
			_ = old.Signal(unix.SIGKILL)
			_ = old.Destroy()
		} else {
			_ = os.RemoveAll(filepath.Join(s.StateRoot, id))
		}
		lc, err = libcontainer.Create(s.StateRoot, id, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	c, err := run(ctx, s, lc, ident, lock.File())
	if err != nil {
		_ = lc.Signal(unix.SIGKILL)
		_ = lc.Destroy()
		return nil, err
	}
	started = true
	return c, nil
}

func run(ctx context.Context, s *Spec, lc *libcontainer.Container, ident *identity.Identity, lock *os.File) (*Container, error) {
	st := State{ContainerID: lc.ID(), StateRoot: s.StateRoot, TaskDir: s.TaskDir, ExtraReadOnly: s.ExtraReadOnly}
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	open := func(path string, flag int) (*os.File, error) {
		f, err := os.OpenFile(path, flag, 0o600)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	status, err := open(filepath.Join(s.StateRoot, st.ContainerID, statusFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("create exit status file: %w", err)
	}
	exe, err := open("/proc/self/exe", os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open own executable for the shim: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec error pipe: %w", err)
	}
	files = append(files, errW)
	defer errR.Close()
	proc := &libcontainer.Process{
		Args:             append([]string{shimExeArg, s.Command}, s.Args...),
		Env:              append(EnvList(s.Env), shimEnv+"=1"),
		UID:              int(ident.UID),
		GID:              int(ident.GID),
		AdditionalGroups: intGroups(ident.Groups),
		Cwd:              "/",
		// fds 3-6: exit status, own executable, exec error pipe, task lock.
		ExtraFiles: []*os.File{status, exe, errW, lock},
		Init:       true,
	}
	// Log FIFOs are opened read-write so a write never fails for want of a
	// reader while the client's collector restarts.
	if s.StdoutPath != "" {
		if proc.Stdout, err = open(s.StdoutPath, os.O_RDWR); err != nil {
			return nil, fmt.Errorf("open stdout: %w", err)
		}
	}
	if s.StderrPath != "" {
		if proc.Stderr, err = open(s.StderrPath, os.O_RDWR); err != nil {
			return nil, fmt.Errorf("open stderr: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := lc.Run(proc); err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	_ = errW.Close() // our copy; EOF then means the command was exec'd
	if errno := readExecError(errR); errno != 0 {
		_, _ = proc.Wait()
		return nil, fmt.Errorf("exec %q: %w", s.Command, errno)
	}
	pid, err := proc.Pid()
	if err != nil {
		return nil, fmt.Errorf("container pid: %w", err)
	}
	st.Pid = pid
	c := &Container{state: st, lc: lc, done: make(chan struct{})}
	go func() {
		ps, werr := proc.Wait()
		c.finish(ps, werr)
	}()
	return c, nil
}

// readExecError returns the errno the shim's child reported, or 0 when the
// pipe closed without data (the command was exec'd).
func readExecError(r *os.File) syscall.Errno {
	_ = r.SetReadDeadline(time.Now().Add(execWaitTime))
	var buf [4]byte
	n, _ := r.Read(buf[:])
	if n < 4 {
		return 0
	}
	return syscall.Errno(binary.NativeEndian.Uint32(buf[:]))
}

// Recover re-attaches to a container started by an earlier process.
func Recover(st State) (*Container, error) {
	lc, err := libcontainer.Load(st.StateRoot, st.ContainerID)
	if err != nil {
		if errors.Is(err, libcontainer.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", st.ContainerID, drivers.ErrTaskNotFound)
		}
		return nil, fmt.Errorf("load container %s: %w", st.ContainerID, err)
	}
	c := &Container{state: st, lc: lc, done: make(chan struct{})}
	if ls, err := lc.State(); err == nil {
		c.state.Pid = ls.InitProcessPid
	}
	go c.watch()
	return c, nil
}

// watch waits for a container that is not our child: through a pidfd on
// the netpoller when possible, else by polling its status.
func (c *Container) watch() {
	if pidfd, err := unix.PidfdOpen(c.state.Pid, unix.PIDFD_NONBLOCK); err == nil {
		f := os.NewFile(uintptr(pidfd), "pidfd")
		// The pid may have been reused between Load and PidfdOpen;
		// libcontainer checks the start time, so ask it again now.
		if running(c.lc) {
			if rc, err := f.SyscallConn(); err == nil {
				_ = rc.Read(func(fd uintptr) bool {
					pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
					n, _ := unix.Poll(pfd, 0)
					return n > 0
				})
			}
		}
		_ = f.Close()
	}
	for running(c.lc) {
		time.Sleep(time.Second)
	}
	c.finish(nil, nil)
}

func running(lc *libcontainer.Container) bool {
	s, err := lc.Status()
	return err == nil && s != libcontainer.Stopped
}

// finish settles the exit result: the shim's record first (it knows the
// command's real status even when we were not its parent), then the wait
// status of the shim itself.
func (c *Container) finish(ps *os.ProcessState, werr error) {
	res := c.readStatus()
	if res == nil {
		res = &drivers.ExitResult{}
		switch {
		case ps != nil:
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal = int(ws.Signal())
				res.ExitCode = 128 + res.Signal
			} else {
				res.ExitCode = ps.ExitCode()
			}
		case werr != nil:
			res.Err = fmt.Errorf("wait for container: %w", werr)
		default:
			// Not our child and no record: the shim itself was killed,
			// which only SIGKILL (ours or the OOM killer's) does.
			res.Signal = int(unix.SIGKILL)
			res.ExitCode = 128 + res.Signal
		}
	}
	res.OOMKilled = c.oomKilled(res)
	c.mu.Lock()
	c.result, c.finished = res, time.Now()
	c.mu.Unlock()
	close(c.done)
}

func (c *Container) readStatus() *drivers.ExitResult {
	b, err := os.ReadFile(filepath.Join(c.state.StateRoot, c.state.ContainerID, statusFile))
	if err != nil || len(b) == 0 {
		return nil
	}
	var code, sig int
	if _, err := fmt.Sscanf(string(b), "%d %d", &code, &sig); err != nil {
		return nil
	}
	return &drivers.ExitResult{ExitCode: code, Signal: sig}
}

// Done implements Runner.
func (c *Container) Done() <-chan struct{} { return c.done }

// Result implements Runner.
func (c *Container) Result() *drivers.ExitResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.result == nil {
		return nil
	}
	r := *c.result
	return &r
}

// FinishedAt implements Runner.
func (c *Container) FinishedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}

// Signal implements Runner; the shim forwards it to the command.
func (c *Container) Signal(sig syscall.Signal) error {
	if err := c.lc.Signal(sig); err != nil {
		return fmt.Errorf("signal container: %w", err)
	}
	return nil
}

// Kill implements Runner: SIGKILL to the PID namespace's init takes every
// process in it down (libcontainer kills the whole cgroup otherwise).
func (c *Container) Kill() error { return c.Signal(unix.SIGKILL) }

// Destroy implements Runner: removes the cgroups and the state directory
// (mounts lived only in the container's mount namespace), then the empty
// mount points libcontainer created in the task directory.
func (c *Container) Destroy() error {
	if err := c.lc.Destroy(); err != nil {
		return fmt.Errorf("destroy container: %w", err)
	}
	removeMountStubs(c.state.TaskDir, c.state.ExtraReadOnly)
	if err := tasklock.Remove(LockPath(c.state.StateRoot, c.state.ContainerID), killInit, lockWait); err != nil {
		return fmt.Errorf("destroy container: %w", err)
	}
	return nil
}

// LockPath is a task's lock file (see drivers/tasklock), beside
// libcontainer's state dir, which a start may remove and recreate.
func LockPath(stateRoot, containerID string) string {
	return filepath.Join(stateRoot, containerID+".lock")
}

// lockWait bounds how long a start waits for a killed copy to die.
const lockWait = 10 * time.Second

// killInit ends a process found holding a container's lock: the
// container's init (killing it ends its whole PID namespace) or, before
// that, libcontainer's init stages.
func killInit(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

// State returns what must be persisted to recover the container.
func (c *Container) State() State { return c.state }

// Attributes implements Runner.
func (c *Container) Attributes() map[string]string {
	return map[string]string{"container_id": c.state.ContainerID, "pid": strconv.Itoa(c.state.Pid)}
}

// Usage implements Runner from the container's cgroup counters.
func (c *Container) Usage() (*drivers.TaskResourceUsage, uint64, error) {
	st, err := c.lc.Stats()
	if err != nil {
		return nil, 0, fmt.Errorf("cgroup stats: %w", err)
	}
	u := &drivers.TaskResourceUsage{Pids: map[string]uint64{}}
	var cpu uint64
	if cg := st.CgroupStats; cg != nil {
		m := cg.MemoryStats
		u.MemoryCache = m.Cache
		u.MemoryMaxRSS = m.Usage.MaxUsage
		if rss, ok := m.Stats["rss"]; ok {
			u.MemoryRSS = rss
		} else if anon, ok := m.Stats["anon"]; ok {
			u.MemoryRSS = anon
		} else {
			u.MemoryRSS = m.Usage.Usage
		}
		cpu = cg.CpuStats.CpuUsage.TotalUsage
	}
	if pids, err := c.lc.Processes(); err == nil {
		for _, p := range pids {
			u.Pids[strconv.Itoa(p)] = processRSS(p)
		}
	}
	return u, cpu, nil
}

func processRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	if _, err := fmt.Sscanf(string(b), "%d %d", &size, &rss); err != nil {
		return 0
	}
	return rss * uint64(os.Getpagesize())
}

// Exec runs a command inside the container: its namespaces, cgroup and
// root, as the task's user, with the task's environment. The end of ctx
// kills it.
func (c *Container) Exec(ctx context.Context, cfg *drivers.TaskConfig, req *drivers.ExecRequest) (int, error) {
	// The user the task was checked and started as (see Start).
	ident, err := ResolveUser(cfg.User)
	if err != nil {
		return 0, fmt.Errorf("resolve task user: %w", err)
	}
	env := EnvList(cfg.Env)
	if !hasKey(env, "PATH") {
		env = append(env, "PATH="+defaultPath)
	}
	p := &libcontainer.Process{
		Args: req.Command, Env: env, UID: int(ident.UID), GID: int(ident.GID), AdditionalGroups: intGroups(ident.Groups),
		Cwd: "/", Stdout: req.Stdout, Stderr: req.Stderr,
	}
	if p.Stdout == nil {
		p.Stdout = io.Discard
	}
	if p.Stderr == nil {
		p.Stderr = io.Discard
	}
	streams, err := containerStreams(p, req)
	if err != nil {
		return 0, fmt.Errorf("exec in container: %w", err)
	}
	defer streams.close()
	if err := c.lc.Run(p); err != nil {
		return 0, fmt.Errorf("exec in container: %w", err)
	}
	if err := streams.started(req); err != nil {
		_ = p.Signal(unix.SIGKILL)
		_, _ = p.Wait()
		return 0, fmt.Errorf("exec in container: %w", err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Signal(unix.SIGKILL)
		case <-done:
		}
	}()
	ps, werr := p.Wait()
	close(done)
	streams.close()
	if ctx.Err() != nil {
		return 0, fmt.Errorf("exec in container: %w", ctx.Err())
	}
	if ps == nil {
		return 0, fmt.Errorf("exec in container: %w", werr)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return true
		}
	}
	return false
}

func intGroups(gs []uint32) []int {
	out := make([]int, len(gs))
	for i, g := range gs {
		out[i] = int(g)
	}
	return out
}
