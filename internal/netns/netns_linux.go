//go:build linux

// Package netns creates and removes network namespaces bound at a file, so
// they outlive the thread that made them and can be joined by path (the
// allocation's bridge namespace, which every task of the group joins).
package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Create makes a new network namespace and binds it at path (which must
// not exist; its directory must). The namespace has only a loopback
// interface, down.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating network namespace file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, "")
		// Back to the host's namespace before the thread serves other
		// goroutines; if that fails the thread stays locked and the
		// runtime discards it with this goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("creating network namespace at %s: %w", path, err)
	}
	return nil
}

// Bind binds an existing namespace (src, e.g. /proc/<pid>/ns/net of a
// sandbox container's process) at path, which must not exist: the
// namespace then outlives that process and is joined and removed like one
// made by Create.
func Bind(src, path string) error {
	if !IsNamespace(src) {
		return fmt.Errorf("%s is not a network namespace", src)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating network namespace file: %w", err)
	}
	f.Close()
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("binding network namespace %s at %s: %w", src, path, err)
	}
	return nil
}

// Remove unbinds and removes a namespace made by Create; the namespace
// itself goes once no process is left in it. A missing path is not an
// error.
func Remove(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing network namespace %s: %w", path, err)
	}
	return nil
}

// ID is the namespace's identity as /proc/<pid>/ns/net links show it
// ("net:[4026532599]"), for tests and logs.
func ID(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", err
	}
	return "net:[" + strconv.FormatUint(st.Ino, 10) + "]", nil
}

// IsNamespace reports whether path is a bound network namespace (nsfs).
func IsNamespace(path string) bool {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return false
	}
	return fs.Type == unix.NSFS_MAGIC
}
