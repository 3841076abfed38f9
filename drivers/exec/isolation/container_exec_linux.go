//go:build linux && cgo

package isolation

import (
	"os"
	"sync"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// execStreams holds what a command run in a container uses for input and
// its terminal, until the command ends.
type execStreams struct {
	stdinR, stdinW *os.File
	sockParent     *os.File
	sockChild      *os.File
	tty            *ttySession
	stop           chan struct{}
	once           sync.Once
}

// containerStreams wires p for req: a pipe for its input, or a console
// socket on which libcontainer hands back the master of the terminal it
// makes for the command inside the container.
func containerStreams(p *libcontainer.Process, req *drivers.ExecRequest) (*execStreams, error) {
	s := &execStreams{stop: make(chan struct{})}
	switch {
	case req.TTY:
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return nil, err
		}
		s.sockParent, s.sockChild = parent, child
		p.ConsoleSocket = child
		p.Stdout, p.Stderr = nil, nil
	case req.Stdin != nil:
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.stdinR, s.stdinW = r, w
		p.Stdin = r
	}
	return s, nil
}

// started finishes the wiring once the command runs: the parent's copies
// of the child's ends are closed, input starts flowing, and a terminal's
// master is received and served.
func (s *execStreams) started(req *drivers.ExecRequest) error {
	if s.stdinR != nil {
		_ = s.stdinR.Close()
		s.stdinR = nil
		drivers.PumpInput(req.Stdin, s.stdinW, s.stdinW.Close, false, s.stop)
	}
	if s.sockParent == nil {
		return nil
	}
	_ = s.sockChild.Close()
	s.sockChild = nil
	recv, err := utils.RecvFile(s.sockParent)
	if err != nil {
		return err
	}
	f, err := pollable(recv)
	if err != nil {
		return err
	}
	s.tty = serveTTY(f, req)
	return nil
}

// close waits for a terminal's last output and frees everything; safe to
// call twice.
func (s *execStreams) close() {
	s.once.Do(func() {
		close(s.stop)
		if s.tty != nil {
			s.tty.finish()
		}
		for _, f := range []*os.File{s.stdinR, s.stdinW, s.sockParent, s.sockChild} {
			if f != nil {
				_ = f.Close()
			}
		}
	})
}

// pollable returns a non-blocking copy of f in Go's poller (and closes f),
// so closing it interrupts a read blocked on it: a process left in the
// container could otherwise hold the terminal's other end open forever.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(u uintptr) { fd, derr = unix.Dup(int(u)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
