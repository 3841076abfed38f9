//go:build linux

package java

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/drivers/rawexec"
)

// errExitUnknown is the result of a plain JVM re-attached after a client
// restart: only its parent could have reaped its status.
var errExitUnknown = errors.New("exit status unknown: the JVM was re-attached after a client restart")

// plainProc is a JVM run as an ordinary host process in its own process
// group, used where isolation is unavailable.
type plainProc struct {
	pid        int
	startTicks uint64
	done       chan struct{}

	mu       sync.Mutex
	result   *drivers.ExitResult
	finished time.Time
}

var _ isolation.Runner = (*plainProc)(nil)

// checkPlain refuses what a JVM without isolation cannot honour: it has
// no mount namespace for bind mounts, and sees host devices only at their
// host paths.
func checkPlain(s *isolation.Spec) error {
	if len(s.Mounts) > 0 {
		return fmt.Errorf("cannot mount %s into the task: task isolation is unavailable on this node, so the JVM runs without a mount namespace", s.Mounts[0].TaskPath)
	}
	for _, dv := range s.Devices {
		if dv.TaskPath != "" && dv.TaskPath != dv.HostPath {
			return fmt.Errorf("cannot expose device %s at %s: the JVM runs without isolation", dv.HostPath, dv.TaskPath)
		}
	}
	return nil
}

// cpuList parses a cpuset list of single cores ("0,2").
func cpuList(set string) []uint16 {
	if set == "" {
		return nil
	}
	var out []uint16
	for _, f := range strings.Split(set, ",") {
		if n, err := strconv.ParseUint(f, 10, 16); err == nil {
			out = append(out, uint16(n))
		}
	}
	return out
}

func startPlain(s *isolation.Spec) (*plainProc, error) {
	cmd := exec.Command(s.Command, s.Args...)
	cmd.Dir = s.TaskDir
	cmd.Env = isolation.EnvList(s.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cred, err := plainCredential(s, os.Geteuid())
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr.Credential = cred
	var files []*os.File
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	openLog := func(path string) (*os.File, error) {
		if path == "" {
			return nil, nil
		}
		// Read-write, so the FIFO never lacks a reader (see drivers.TaskConfig).
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open log fifo: %w", err)
		}
		files = append(files, f)
		return f, nil
	}
	stdout, err := openLog(s.StdoutPath)
	if err != nil {
		return nil, err
	}
	stderr, err := openLog(s.StderrPath)
	if err != nil {
		return nil, err
	}
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := drivers.SpawnIn(s.NetNSPath, cpuList(s.CPUSet), cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Command, err)
	}
	p := &plainProc{pid: cmd.Process.Pid, done: make(chan struct{})}
	// Cannot fail before cmd.Wait reaps the JVM; a zero only disables the
	// start-time check on re-attach.
	p.startTicks, _ = rawexec.StartTicks(p.pid)
	go func() {
		err := cmd.Wait()
		res := &drivers.ExitResult{}
		if ps := cmd.ProcessState; ps != nil {
			if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.Signal = int(ws.Signal())
				res.ExitCode = 128 + res.Signal
			} else {
				res.ExitCode = ps.ExitCode()
			}
		} else if err != nil {
			res.Err = err
		}
		// Whatever the JVM left in its group goes with it.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		p.finish(res)
	}()
	return p, nil
}

// plainCredential is who a plain JVM runs as: the task's resolved
// identity (checked by the driver; the spec's user resolved here when the
// caller did not) when the agent can switch to it (runs as root), else the
// agent's own user.
func plainCredential(s *isolation.Spec, euid int) (*syscall.Credential, error) {
	if euid != 0 {
		return nil, nil
	}
	id := s.Identity
	if id == nil {
		var err error
		if id, err = isolation.ResolveUser(s.User); err != nil {
			return nil, err
		}
	}
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}, nil
}

// recoverPlain re-attaches to a JVM by pid; its exit code is lost. The pid
// must still be the JVM started at startTicks during boot: after a reboot
// or pid reuse it names some other process. Handles from before the start
// time was recorded (startTicks 0) are trusted by pid alone.
func recoverPlain(pid int, startTicks uint64, boot string) (*plainProc, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("invalid pid %d: %w", pid, drivers.ErrTaskNotFound)
	}
	if b := rawexec.BootID(); boot != "" && b != "" && b != boot {
		return nil, fmt.Errorf("host rebooted: %w", drivers.ErrTaskNotFound)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, drivers.ErrTaskNotFound)
	}
	// Checked after pidfd_open, which pins the process, so a reuse
	// between the two cannot slip through.
	if startTicks != 0 && !rawexec.SameProcess(pid, startTicks) {
		_ = unix.Close(pidfd)
		return nil, fmt.Errorf("pid %d is another process now: %w", pid, drivers.ErrTaskNotFound)
	}
	p := &plainProc{pid: pid, startTicks: startTicks, done: make(chan struct{})}
	go func() {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				break
			}
		}
		_ = unix.Close(pidfd)
		p.finish(&drivers.ExitResult{Err: errExitUnknown})
	}()
	return p, nil
}

func (p *plainProc) finish(res *drivers.ExitResult) {
	p.mu.Lock()
	p.result, p.finished = res, time.Now()
	p.mu.Unlock()
	close(p.done)
}

func (p *plainProc) Done() <-chan struct{} { return p.done }

func (p *plainProc) Result() *drivers.ExitResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.result == nil {
		return nil
	}
	r := *p.result
	return &r
}

func (p *plainProc) FinishedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.finished
}

func (p *plainProc) Signal(sig syscall.Signal) error { return syscall.Kill(p.pid, sig) }

func (p *plainProc) Kill() error { return syscall.Kill(-p.pid, syscall.SIGKILL) }

func (p *plainProc) Destroy() error { return nil }

func (p *plainProc) Attributes() map[string]string {
	return map[string]string{"pid": strconv.Itoa(p.pid), "isolation": "none"}
}

// Usage reads the JVM's own counters from /proc (its children, if any, are
// not counted).
func (p *plainProc) Usage() (*drivers.TaskResourceUsage, uint64, error) {
	pid := strconv.Itoa(p.pid)
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, 0, fmt.Errorf("read stat: %w", err)
	}
	// Fields after the parenthesised command: utime and stime are the
	// 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var cpu uint64
	if len(fields) > 12 {
		ut, _ := strconv.ParseUint(fields[11], 10, 64)
		st, _ := strconv.ParseUint(fields[12], 10, 64)
		cpu = (ut + st) * uint64(10*time.Millisecond)
	}
	u := &drivers.TaskResourceUsage{Pids: map[string]uint64{}}
	if statm, err := os.ReadFile("/proc/" + pid + "/statm"); err == nil {
		var size, rss uint64
		if _, err := fmt.Sscanf(string(statm), "%d %d", &size, &rss); err == nil {
			u.MemoryRSS = rss * uint64(os.Getpagesize())
		}
	}
	u.Pids[pid] = u.MemoryRSS
	return u, cpu, nil
}

// Exec runs a command beside the plain JVM: on the host, in the task's
// directory, with its environment, as its user (when the agent can switch
// to it).
func (p *plainProc) Exec(ctx context.Context, cfg *drivers.TaskConfig, req *drivers.ExecRequest) (int, error) {
	env := isolation.EnvList(cfg.Env)
	path, err := isolation.LookPath(req.Command[0], cfg.TaskDir, env)
	if err != nil {
		return 0, err
	}
	cred, err := plainCredential(&isolation.Spec{User: cfg.User}, os.Geteuid())
	if err != nil {
		return 0, err
	}
	return isolation.RunHost(ctx, isolation.HostCommandFor(req, &isolation.HostCommand{
		Path: path, Args: req.Command, Env: env, Dir: cfg.TaskDir, Credential: cred,
		NetNS: cfg.NetNSPath(),
	}))
}
