//go:build linux

package drivers

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// SpawnIn runs start (which forks the task, e.g. exec.Cmd.Start) on an OS
// thread that has first joined the network namespace at netns (when set)
// and been pinned to cores (when any): a forked child inherits both from
// the thread that forked it. The thread then returns to the host's
// namespace and its old CPU mask before it goes back to the Go scheduler;
// if it cannot, it stays locked to its goroutine and the runtime discards
// it, so no other goroutine ever runs in the task's namespace or on its
// cores.
func SpawnIn(netns string, cores []uint16, start func() error) error {
	if netns == "" && len(cores) == 0 {
		return start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := spawnLocked(netns, cores, start)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func spawnLocked(netns string, cores []uint16, start func() error) (restored bool, err error) {
	var undo []func() error
	defer func() {
		restored = true
		for i := len(undo) - 1; i >= 0; i-- {
			if undo[i]() != nil {
				restored = false
			}
		}
	}()
	if netns != "" {
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return false, fmt.Errorf("opening the host's network namespace: %w", err)
		}
		undo = append(undo, func() error {
			defer orig.Close()
			return unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
		})
		f, err := os.Open(netns)
		if err != nil {
			return false, fmt.Errorf("opening network namespace: %w", err)
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			return false, fmt.Errorf("joining network namespace %s: %w", netns, err)
		}
	}
	if len(cores) > 0 {
		var old, set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &old); err != nil {
			return false, fmt.Errorf("reading CPU affinity: %w", err)
		}
		undo = append(undo, func() error { return unix.SchedSetaffinity(0, &old) })
		for _, c := range cores {
			set.Set(int(c))
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return false, fmt.Errorf("pinning to cores %s: %w", CPUSet(cores), err)
		}
	}
	return false, start()
}
