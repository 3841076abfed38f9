//go:build linux

package isolation

import (
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
)

// A command run in a task on a terminal (drivers.ExecRequest.TTY) gets a
// pseudo-terminal whose master the agent serves: for host commands (raw_exec,
// plain java) one the agent opens, for commands in a libcontainer container
// (exec, isolated java) the one libcontainer makes inside it. The master is
// only ever touched through its *os.File in Go's poller (never Fd(), which
// would make it blocking): closing it then interrupts a read blocked on it.

// ttySession serves one command's pseudo-terminal: output read from the
// master goes to req.Stdout, req.Stdin is written to it, and req.Resize
// sizes it.
type ttySession struct {
	master  *os.File
	outDone chan struct{}
	stop    chan struct{}
	once    sync.Once
}

// newPTY opens a pseudo-terminal pair: the master for the agent, the
// slave for the command. uid and gid (when not -1) own the slave, so a
// command running as the task's user can reopen its terminal.
func newPTY(uid, gid int) (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	var n uint32
	if err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlock terminal: %w", err)
		}
		var err error
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	}); err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	if uid >= 0 {
		if err = os.Chown(name, uid, gid); err != nil {
			return nil, nil, err
		}
	}
	if slave, err = os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0); err != nil {
		return nil, nil, err
	}
	return master, slave, nil
}

// control runs fn on f's descriptor without taking it out of the poller.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func resizePTY(master *os.File, sz drivers.TerminalSize) error {
	return control(master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
	})
}

// serveTTY starts serving master for req.
func serveTTY(master *os.File, req *drivers.ExecRequest) *ttySession {
	t := &ttySession{master: master, outDone: make(chan struct{}), stop: make(chan struct{})}
	out := req.Stdout
	if out == nil {
		out = io.Discard
	}
	go func() {
		defer close(t.outDone)
		// EIO once the command and everything holding the slave are gone.
		_, _ = io.Copy(out, master)
	}()
	if req.Stdin != nil {
		drivers.PumpInput(req.Stdin, master, nil, true, t.stop)
	}
	if req.Resize != nil {
		go func() {
			for {
				select {
				case <-t.stop:
					return
				case sz, ok := <-req.Resize:
					if !ok {
						return
					}
					_ = resizePTY(master, sz)
				}
			}
		}()
	}
	return t
}

// finish waits (bounded) for the command's last output and frees the
// terminal.
func (t *ttySession) finish() {
	t.once.Do(func() {
		select {
		case <-t.outDone:
		case <-time.After(time.Second):
		}
		close(t.stop)
		_ = t.master.Close()
		<-t.outDone
	})
}
