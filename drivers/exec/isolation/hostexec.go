//go:build unix

package isolation

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation/shim"
)

// HostCommand is a command run on the host on a task's behalf (raw_exec
// and plain java tasks' exec).
type HostCommand struct {
	Path       string
	Args       []string // Args[0] is the command as given
	Env        []string
	Dir        string
	Credential *syscall.Credential // nil: the agent's own user
	Stdout     io.Writer
	Stderr     io.Writer
	// NetNS is the task's network namespace, "" for the host's.
	NetNS string
	// Stdin, TTY and Resize are as in drivers.ExecRequest.
	Stdin  io.Reader
	TTY    bool
	Resize <-chan drivers.TerminalSize
	// DirFile, when set, is a descriptor of Dir (O_PATH will do): the
	// command then runs through the task shim, which enters Dir by
	// descriptor, since a command of another user may not be allowed to
	// traverse Dir's parents (a 0700 data dir).
	DirFile *os.File
}

// HostCommandFor fills a HostCommand's streams from an exec request.
func HostCommandFor(req *drivers.ExecRequest, c *HostCommand) *HostCommand {
	c.Stdout, c.Stderr, c.Stdin, c.TTY, c.Resize = req.Stdout, req.Stderr, req.Stdin, req.TTY, req.Resize
	return c
}

// RunHost runs c in its own process group (a session of its own on a
// TTY) and returns its exit code (128 plus the signal for a command killed
// by one). The end of ctx kills the whole group, so nothing the command
// started outlives it.
func RunHost(ctx context.Context, c *HostCommand) (int, error) {
	cmd := &exec.Cmd{
		Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir, Stdout: c.Stdout, Stderr: c.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Credential: c.Credential},
		// A process that left the group cannot hold our output pipes
		// (and so this call) open for long.
		WaitDelay: time.Second,
	}
	stop := make(chan struct{})
	defer close(stop)
	var (
		tty   *ttySession
		slave *os.File
	)
	if c.TTY {
		uid, gid := -1, -1
		if c.Credential != nil {
			uid, gid = int(c.Credential.Uid), int(c.Credential.Gid)
		}
		master, s, err := newPTY(uid, gid)
		if err != nil {
			return 0, fmt.Errorf("allocate a terminal: %w", err)
		}
		slave = s
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		// The terminal becomes the controlling terminal of a new session,
		// whose leader also leads its process group.
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty = false, true, true
		tty = serveTTY(master, &drivers.ExecRequest{Stdout: c.Stdout, Stdin: c.Stdin, Resize: c.Resize})
		defer tty.finish()
	} else if c.Stdin != nil {
		w, err := cmd.StdinPipe()
		if err != nil {
			return 0, err
		}
		drivers.PumpInput(c.Stdin, w, w.Close, false, stop)
	}
	var execErr *os.File
	if c.DirFile != nil {
		errR, closeShim, err := viaShim(cmd, c)
		if err != nil {
			return 0, fmt.Errorf("start %s: %w", c.Path, err)
		}
		defer closeShim()
		defer errR.Close()
		execErr = errR
	}
	err := drivers.SpawnIn(c.NetNS, nil, cmd.Start)
	if len(cmd.ExtraFiles) > 2 {
		_ = cmd.ExtraFiles[2].Close() // the shim's end of the errno pipe
	}
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", c.Path, err)
	}
	if execErr != nil {
		if errno := readErrno(execErr); errno != 0 {
			_ = cmd.Wait()
			return 0, fmt.Errorf("start %s: %w", c.Path, errno)
		}
	}
	if slave != nil {
		// Only the command holds the terminal now: its end ends the output.
		_ = slave.Close()
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	// Whatever the command left running in its group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if tty != nil {
		tty.finish()
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("%s: %w", c.Path, ctx.Err())
	}
	return exitCode(cmd, err)
}

// viaShim turns cmd into the task shim running c (raw mode: argv <exe>
// <path> <argv0> <args...>; fd 3 a status file, here /dev/null; fd 4 the
// directory to enter; fd 5 the exec errno pipe). It returns the pipe's
// read end and a function closing what the shim was handed.
func viaShim(cmd *exec.Cmd, c *HostCommand) (*os.File, func(), error) {
	if !shim.Available {
		return nil, nil, errors.New("this build has no task shim (needs linux and cgo)")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	status, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		status.Close()
		return nil, nil, err
	}
	cmd.Path, cmd.Dir = exe, ""
	cmd.Args = append([]string{exe, c.Path}, c.Args...)
	cmd.Env = append(append([]string(nil), c.Env...), shim.EnvMarker+"="+shim.ModeRaw)
	cmd.ExtraFiles = []*os.File{status, c.DirFile, errW}
	return errR, func() { status.Close(); errW.Close() }, nil
}

// readErrno reads the errno the shim reports when the command could not be
// executed; EOF (the pipe closed on exec) means it was.
func readErrno(r *os.File) syscall.Errno {
	var b [4]byte
	if n, _ := io.ReadFull(r, b[:]); n < 4 {
		return 0
	}
	return syscall.Errno(binary.NativeEndian.Uint32(b[:]))
}

func exitCode(cmd *exec.Cmd, err error) (int, error) {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

// defaultPath is the search path of commands run in a task whose
// environment sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath resolves a command name against the PATH of env (a list of
// KEY=VALUE), relative to dir for a path with a slash.
func LookPath(name, dir string, env []string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	if strings.Contains(name, "/") {
		return filepath.Join(dir, name), nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		cand := filepath.Join(d, name)
		if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH", name)
}
