package rawexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/drivers/exec/isolation/shim"
	"github.com/orch-project/orch/drivers/identity"
	"github.com/orch-project/orch/internal/safefs"
)

// handleVersion is the DriverState format version.
const handleVersion = 1

// driverState is what a TaskHandle carries to find the process again.
type driverState struct {
	// Pid is the shim's pid when StateDir is set (it leads the task's
	// process group), the task's own pid in handles from before the shim.
	Pid        int    `json:"Pid"`
	StartTicks uint64 `json:"StartTicks"`
	BootID     string `json:"BootID"`
	StateDir   string `json:"StateDir,omitempty"`
}

// Start implements drivers.Driver.
func (d *Driver) Start(ctx context.Context, cfg *drivers.TaskConfig) (*drivers.TaskHandle, error) {
	if !d.cfg.Enabled {
		return nil, errors.New("raw_exec: driver is disabled on this node")
	}
	if cfg == nil || cfg.ID == "" {
		return nil, errors.New("raw_exec: task config without ID")
	}
	tc, err := parseConfig(cfg.Config)
	if err != nil {
		return nil, err
	}
	if err := checkTaskWorld(cfg); err != nil {
		return nil, drivers.NonRecoverable(fmt.Errorf("raw_exec: %w", err))
	}
	d.mu.Lock()
	if t, ok := d.tasks[cfg.ID]; ok && !t.exited() {
		d.mu.Unlock()
		return nil, fmt.Errorf("raw_exec: task %q is already running", cfg.ID)
	}
	d.mu.Unlock()

	env := mergeEnv(os.Environ(), cfg.Env)
	path, err := resolveCommand(tc.Command, cfg.TaskDir, lookupEnv(env, "PATH"))
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	cred, err := d.credential(cfg.User)
	if err != nil {
		// A user that cannot be resolved or that the host policy denies
		// stays so: retrying would be refused again.
		return nil, drivers.NonRecoverable(fmt.Errorf("raw_exec: %w", err))
	}
	attr.Credential = cred
	// A task with a user gets its directories (as isolated tasks do) and
	// enters its task dir by descriptor: the shim runs as that user, who
	// need not be able to traverse the data dir above it.
	dir, dirFile, err := userTaskDirs(cfg, cred)
	if err != nil {
		return nil, drivers.NonRecoverable(fmt.Errorf("raw_exec: %w", err))
	}
	if dirFile != nil {
		defer dirFile.Close()
	}
	stdout, err := openOutput(cfg.StdoutPath)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: stdout: %w", err)
	}
	defer stdout.Close()
	stderr, err := openOutput(cfg.StderrPath)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: stderr: %w", err)
	}
	defer stderr.Close()

	exe, err := shimExecutable()
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	stateDir := d.taskStateDir(cfg.ID)
	// The lock is held from here until the shim dies (it inherits it), so
	// a crash anywhere below leaves a copy the next start finds and kills.
	lock, err := d.lockTask(cfg.ID, stateDir)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	// keep: a shim holds the lock now, so only the agent's copy goes.
	keep := false
	defer func() {
		if keep {
			lock.Release()
		} else if err := lock.Discard(); err != nil {
			d.logger.Warn("discarding task lock", "task", cfg.ID, "error", err)
		}
	}()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("raw_exec: creating task state dir: %w", err)
	}
	statusPath := filepath.Join(stateDir, statusFileName)
	status, err := os.OpenFile(statusPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("raw_exec: creating exit status file: %w", err)
	}
	defer status.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("raw_exec: %w", err)
	}
	defer errR.Close()
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        append([]string{exe, path, tc.Command}, tc.Args...),
		Env:         append(env, shim.EnvMarker+"="+shim.ModeRaw),
		Dir:         dir,
		Stdout:      stdout,
		Stderr:      stderr,
		SysProcAttr: attr,
		// fd 3: status file, fd 4: the task dir to enter (user tasks),
		// fd 5: exec error pipe, fd 6: the task's lock.
		ExtraFiles: []*os.File{status, dirFile, errW, lock.File()},
	}
	var cores []uint16
	if cfg.Resources != nil {
		cores = cfg.Resources.Cpu.ReservedCores
	}
	err = drivers.SpawnIn(cfg.NetNSPath(), cores, cmd.Start)
	errW.Close()
	if err != nil {
		return nil, fmt.Errorf("raw_exec: starting %s: %w", tc.Command, err)
	}
	keep = true
	startedAt := time.Now()
	pid := cmd.Process.Pid
	if testCrashAfterShimStart != nil && testCrashAfterShimStart() {
		// A test stands in for an agent killed right here.
		return nil, errCrashed
	}
	st, err := readProcStat(pid)
	// Blocks until the shim's child has executed the command or failed to.
	if errno := readExecErrno(errR); errno != 0 {
		_ = cmd.Wait()
		keep = false
		_ = os.RemoveAll(stateDir)
		return nil, fmt.Errorf("raw_exec: executing %s: %w", path, errno)
	}
	var ticks uint64
	if err == nil {
		ticks = st.StartTicks
	} else {
		// Only possible if the process is already reaped, which it cannot be
		// before cmd.Wait; keep going, Recover will then not find it.
		d.logger.Warn("reading start time of new task", "task", cfg.ID, "pid", pid, "error", err)
	}
	t := newTask(cfg.ID, cfg.Name, pid, ticks, startedAt, true)
	t.cfg = cfg
	t.shim, t.stateDir, t.statusPath = true, stateDir, statusPath
	go func() {
		err := cmd.Wait()
		t.finish(t.shimExit(exitResultFromState(cmd.ProcessState, err)))
	}()
	d.mu.Lock()
	d.tasks[cfg.ID] = t
	d.mu.Unlock()

	ds, err := json.Marshal(driverState{Pid: pid, StartTicks: ticks, BootID: bootID(), StateDir: stateDir})
	if err != nil {
		return nil, fmt.Errorf("raw_exec: encoding state: %w", err)
	}
	d.logger.Debug("task started", "task", cfg.ID, "pid", pid)
	return &drivers.TaskHandle{
		Version: handleVersion, Driver: Name, Config: cfg, DriverState: ds, StartedAt: startedAt,
	}, nil
}

// checkTaskWorld refuses what a process without a mount namespace cannot
// honour: a bind mount (host volumes reach raw_exec tasks as paths in
// their environment instead, see client/volumes), or a device under
// another path than the host's. Devices at their host path are there
// already: raw_exec tasks see the host's /dev.
func checkTaskWorld(cfg *drivers.TaskConfig) error {
	if len(cfg.Mounts) > 0 {
		return fmt.Errorf("cannot mount %s into the task: raw_exec has no mount namespace", cfg.Mounts[0].TaskPath)
	}
	for _, dv := range cfg.Devices {
		if dv.TaskPath != "" && dv.TaskPath != dv.HostPath {
			return fmt.Errorf("cannot expose device %s at %s: raw_exec has no mount namespace", dv.HostPath, dv.TaskPath)
		}
	}
	return cfg.CheckNetworkIsolation()
}

// openOutput opens a log FIFO read-write: the task then holds a reader of
// its own pipe and never gets SIGPIPE while the client's collector is away
// (e.g. during an agent restart). The fd stays in blocking mode, which the
// task inherits. An empty path discards output.
func openOutput(path string) (*os.File, error) {
	if path == "" {
		path = os.DevNull
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// mergeEnv layers the task's variables over the agent's environment, as
// Nomad does for raw_exec, and sorts the result for reproducibility.
func mergeEnv(base []string, task map[string]string) []string {
	m := make(map[string]string, len(base)+len(task))
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	for k, v := range task {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// resolveCommand finds the executable: absolute paths as given, relative
// paths with a slash inside the task dir, bare names in the task's local/
// dir, the task dir, then the task's PATH.
func resolveCommand(cmd, taskDir, pathEnv string) (string, error) {
	if filepath.IsAbs(cmd) {
		return cmd, nil
	}
	if strings.Contains(cmd, "/") {
		return filepath.Join(taskDir, cmd), nil
	}
	cands := []string{}
	if taskDir != "" {
		cands = append(cands, filepath.Join(taskDir, "local", cmd), filepath.Join(taskDir, cmd))
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		cands = append(cands, filepath.Join(dir, cmd))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("command %q not found in task dir or PATH", cmd)
}

// credential resolves who a task runs as against the host's passwd and
// group files and checks that identity (uid, gid, supplementary groups)
// against the policy: a task without a user runs as the agent, and that is
// what is checked then. nil means no switch.
func (d *Driver) credential(spec string) (*syscall.Credential, error) {
	src, err := identity.HostSource()
	if err != nil {
		return nil, err
	}
	var id *identity.Identity
	if spec == "" {
		id = agentIdentity()
	} else if id, err = identity.Resolve(spec, "", identity.GIDSameAsUID, src); err != nil {
		return nil, err
	}
	if err := d.cfg.Policy.Check(spec, id, src); err != nil {
		return nil, err
	}
	if spec == "" {
		return nil, nil
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}, nil
}

// userTaskDirs readies the directories of a task that runs as another
// user (cred non-nil): its local/, secrets/ and tmp/ become the user's,
// the group's shared data/ and tmp/ open to it (as for exec tasks), and
// the task dir itself is the user's alone (0700), so other users reach
// nothing below it. It returns the working directory to give exec.Cmd
// ("" for a user task) and, for a user task, an O_PATH descriptor of the
// task dir for the shim to fchdir into.
func userTaskDirs(cfg *drivers.TaskConfig, cred *syscall.Credential) (string, *os.File, error) {
	if cred == nil || cfg.TaskDir == "" {
		return cfg.TaskDir, nil, nil
	}
	ident := &identity.Identity{UID: cred.Uid, GID: cred.Gid, Groups: cred.Groups}
	if err := isolation.PrepareDirs(cfg.TaskDir, cfg.AllocDir, ident); err != nil {
		return "", nil, fmt.Errorf("preparing task directories: %w", err)
	}
	// The alloc dir above the task dir is the agent's (tasks cannot
	// rename or replace it), so the task dir is handled from there
	// without following a link.
	parent, err := safefs.OpenRoot(filepath.Dir(cfg.TaskDir))
	if err != nil {
		return "", nil, err
	}
	defer parent.Close()
	base := filepath.Base(cfg.TaskDir)
	if err := parent.Lchown(base, int(cred.Uid), int(cred.Gid)); err != nil {
		return "", nil, fmt.Errorf("chown task dir: %w", err)
	}
	if err := parent.Chmod(base, 0o700); err != nil {
		return "", nil, fmt.Errorf("chmod task dir: %w", err)
	}
	td, err := parent.OpenRoot(base)
	if err != nil {
		return "", nil, err
	}
	defer td.Close()
	f, err := td.File()
	if err != nil {
		return "", nil, err
	}
	return "", f, nil
}

// agentIdentity is who this process runs as.
func agentIdentity() *identity.Identity {
	id := &identity.Identity{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	gs, _ := os.Getgroups()
	for _, g := range gs {
		if uint32(g) != id.GID {
			id.Groups = append(id.Groups, uint32(g))
		}
	}
	return id
}
