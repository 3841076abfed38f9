package rawexec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/drivers/exec/isolation/shim"
)

// statusFileName is the file the shim writes the task's exit to.
const statusFileName = "exit-status"

// taskStateDir is the per-task directory holding the shim's status file.
func (d *Driver) taskStateDir(taskID string) string {
	return filepath.Join(d.stateRoot, url.PathEscape(taskID))
}

// shimExecutable is the binary re-executed as a task's supervisor: this
// one, which links the shim's constructor.
func shimExecutable() (string, error) {
	if !shim.Available {
		return "", errors.New("this build has no task shim (needs linux and cgo)")
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating own executable for the shim: %w", err)
	}
	return exe, nil
}

// readStatus reads the shim's record of the task's exit; ok is false when
// the shim never wrote one (it was SIGKILLed with its group).
func readStatus(path string) (*drivers.ExitResult, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, false
	}
	code, err1 := strconv.Atoi(f[0])
	sig, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return nil, false
	}
	return &drivers.ExitResult{ExitCode: code, Signal: sig}, true
}

// readExecErrno reads what the shim's child reported through the
// close-on-exec pipe: 0 once the command was executed.
func readExecErrno(r *os.File) syscall.Errno {
	var b [4]byte
	n, _ := r.Read(b[:])
	if n < 4 {
		return 0
	}
	return syscall.Errno(binary.NativeEndian.Uint32(b[:]))
}

// sigqueue sends sig with si_code SI_QUEUE, which the shim forwards to the
// task's main process only (a plain kill() reaches the whole group).
func sigqueue(pid int, sig syscall.Signal) error {
	// struct siginfo for the _rt member: signo, errno, code, pad, pid, uid.
	var info [128]byte
	binary.NativeEndian.PutUint32(info[0:], uint32(sig))
	binary.NativeEndian.PutUint32(info[8:], uint32(0xffffffff)) // SI_QUEUE = -1
	binary.NativeEndian.PutUint32(info[16:], uint32(os.Getpid()))
	binary.NativeEndian.PutUint32(info[20:], uint32(os.Getuid()))
	_, _, e := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(pid), uintptr(sig), uintptr(unsafe.Pointer(&info[0])))
	if e != 0 {
		return e
	}
	return nil
}
