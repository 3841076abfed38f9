package safefs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

var (
	// ErrEscape: the name is absolute or has a ".." component.
	ErrEscape = errors.New("path escapes its root")
	// ErrSymlink: a component of the name is a symbolic link.
	ErrSymlink = errors.New("path contains a symbolic link")
	// ErrNotRegular: a regular file was expected (a FIFO, socket, device or
	// directory was found).
	ErrNotRegular = errors.New("not a regular file")
	// ErrHardLink: a regular file has more than one hard link.
	ErrHardLink = errors.New("file has more than one hard link")
	// ErrNotFIFO: OpenFIFO found something other than a FIFO.
	ErrNotFIFO = errors.New("not a FIFO")
	// ErrMountPoint: RemoveAll met a mount point and left it alone.
	ErrMountPoint = errors.New("mount point")
)

// resolveFlags confine every lookup beneath the root, link-free.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// noOpenat2 is set once openat2 turns out to be missing (ENOSYS: kernels
// before 5.6, or a seccomp filter refusing it); tests set it to exercise
// the per-component fallback.
var noOpenat2 atomic.Bool

// procFD is where an O_PATH descriptor is re-opened; "" (tests, or no /proc)
// makes reopen fall back to openat plus an inode comparison.
var procFD = "/proc/self/fd/"

// Root is an open directory that confines all operations beneath it. It is
// safe for concurrent use; Close it when done.
type Root struct {
	fd     int // O_PATH|O_DIRECTORY
	name   string
	closed atomic.Bool
}

// OpenRoot opens dir, which the caller trusts (its path is not task
// controlled), as a Root.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "openroot", Path: dir, Err: err}
	}
	return &Root{fd: fd, name: dir}, nil
}

// Name is the path the root was opened with.
func (r *Root) Name() string { return r.name }

// Close releases the root's descriptor.
func (r *Root) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	return unix.Close(r.fd)
}

// File returns a new descriptor of the root directory itself (O_PATH: good
// for *at calls and for handing to a helper process), which the caller
// closes.
func (r *Root) File() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "dup", Path: r.name, Err: err}
	}
	return os.NewFile(uintptr(fd), r.name), nil
}

// OpenRoot opens the directory name beneath r as a Root of its own.
func (r *Root) OpenRoot(name string) (*Root, error) {
	parts, err := split(name)
	if err != nil {
		return nil, r.pathErr("openroot", name, err)
	}
	fd, err := r.walk(parts)
	if err != nil {
		return nil, r.pathErr("openroot", name, err)
	}
	return &Root{fd: fd, name: path.Join(r.name, strings.Join(parts, "/"))}, nil
}

// split validates name and returns its components; none for the root.
func split(name string) ([]string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("%w: NUL byte in name", ErrEscape)
	}
	if strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("%w: absolute name", ErrEscape)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%w: \"..\" component", ErrEscape)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// walk returns an O_PATH descriptor of the directory parts name beneath the
// root (a dup of the root for none). The caller closes it.
func (r *Root) walk(parts []string) (int, error) {
	if len(parts) == 0 {
		return unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
	}
	return r.openBeneath(parts, unix.O_PATH|unix.O_DIRECTORY)
}

// openBeneath opens parts beneath the root with flags (O_NOFOLLOW and
// O_CLOEXEC are added), never following a link on the way.
func (r *Root) openBeneath(parts []string, flags int) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !noOpenat2.Load() {
		how := &unix.OpenHow{Flags: uint64(flags), Resolve: resolveFlags}
		p := strings.Join(parts, "/")
		for range 16 {
			fd, err := unix.Openat2(r.fd, p, how)
			switch {
			case err == nil:
				return fd, nil
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
				// A concurrent rename raced the lookup; the kernel asks to retry.
				continue
			case errors.Is(err, unix.ENOSYS):
				noOpenat2.Store(true)
				return r.openBeneath(parts, flags)
			case errors.Is(err, unix.ENOTDIR) && r.leafIsSymlink(parts):
				// O_NOFOLLOW|O_DIRECTORY on a final link says ENOTDIR.
				return -1, ErrSymlink
			}
			return -1, mapErr(err)
		}
		return -1, fmt.Errorf("resolving %q: %w", p, unix.EAGAIN)
	}
	if len(parts) == 0 {
		return -1, fmt.Errorf("%w: the root itself", os.ErrInvalid)
	}
	dir, err := r.walkComponents(parts[:len(parts)-1])
	if err != nil {
		return -1, err
	}
	defer unix.Close(dir)
	return openLeaf(dir, parts[len(parts)-1], flags)
}

// leafIsSymlink reports whether the last of parts is a symlink.
func (r *Root) leafIsSymlink(parts []string) bool {
	dir, err := r.walk(parts[:len(parts)-1])
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	return isSymlinkAt(dir, parts[len(parts)-1])
}

// walkComponents is the fallback resolver: one openat per component, each
// O_NOFOLLOW, so no symlink is ever followed.
func (r *Root) walkComponents(parts []string) (int, error) {
	fd, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, p := range parts {
		next, err := openLeaf(fd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// openLeaf opens one component of dir. With O_PATH|O_NOFOLLOW the kernel
// hands back the symlink itself rather than failing, so the type is checked.
func openLeaf(dir int, name string, flags int) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dir, name, flags, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) && isSymlinkAt(dir, name) {
			return -1, ErrSymlink
		}
		return -1, mapErr(err)
	}
	if flags&unix.O_PATH != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return -1, ErrSymlink
		}
	}
	return fd, nil
}

func isSymlinkAt(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// mapErr turns the kernel's answers to a refused resolution into this
// package's errors: ELOOP is what RESOLVE_NO_SYMLINKS and O_NOFOLLOW give for
// a link, EXDEV what RESOLVE_BENEATH gives for an escape.
func mapErr(err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return ErrSymlink
	case errors.Is(err, unix.EXDEV):
		return ErrEscape
	}
	return err
}

// parent resolves all but the last component of name and returns the
// parent's O_PATH descriptor and the last component. The root itself has
// no parent: "" and "." are refused (os.ErrInvalid).
func (r *Root) parent(name string) (dir int, leaf string, err error) {
	parts, err := split(name)
	if err != nil {
		return -1, "", err
	}
	if len(parts) == 0 {
		return -1, "", fmt.Errorf("%w: the root itself", os.ErrInvalid)
	}
	dir, err = r.walk(parts[:len(parts)-1])
	if err != nil {
		return -1, "", err
	}
	return dir, parts[len(parts)-1], nil
}

func (r *Root) pathErr(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: path.Join(r.name, name), Err: err}
}

// reopen opens the inode an O_PATH descriptor refers to with flags, without
// resolving any name again (so nothing swapped in meanwhile is opened), and
// checks the result is the same inode. Without /proc it falls back to
// openat of the leaf with O_NOFOLLOW|O_NONBLOCK, the same inode check, and
// only then the truncation O_TRUNC asked for.
func reopen(pathFD int, want *unix.Stat_t, dir int, leaf string, flags int) (int, error) {
	flags |= unix.O_CLOEXEC | unix.O_NOCTTY
	fd := -1
	var err error = unix.ENOENT
	if procFD != "" {
		fd, err = unix.Open(procFD+strconv.Itoa(pathFD), flags, 0)
	}
	fallback := errors.Is(err, unix.ENOENT)
	if fallback {
		fd, err = unix.Openat(dir, leaf, (flags&^unix.O_TRUNC)|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	}
	if err != nil {
		return -1, mapErr(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Dev != want.Dev || st.Ino != want.Ino {
		unix.Close(fd)
		return -1, fmt.Errorf("file replaced while opening: %w", unix.EAGAIN)
	}
	if fallback {
		if err := finishFallback(fd, flags); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// finishFallback applies what the fallback open left out until the inode
// was known: blocking mode and truncation.
func finishFallback(fd, flags int) error {
	if flags&unix.O_NONBLOCK == 0 {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK); err != nil {
			return err
		}
	}
	if flags&unix.O_TRUNC != 0 {
		return unix.Ftruncate(fd, 0)
	}
	return nil
}

// OpenPath returns an O_PATH descriptor of name beneath r (a file or a
// directory; "" or "." is the root itself), no link followed on the way or
// at the end: a handle on exactly that inode, which a later rename or
// planted link cannot change (bind mount it through /proc/self/fd/N).
func (r *Root) OpenPath(name string) (*os.File, error) {
	parts, err := split(name)
	if err != nil {
		return nil, r.pathErr("openpath", name, err)
	}
	if len(parts) == 0 {
		return r.File()
	}
	fd, err := r.openBeneath(parts, unix.O_PATH)
	if err != nil {
		return nil, r.pathErr("openpath", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
		unix.Close(fd)
		if err == nil {
			err = ErrSymlink
		}
		return nil, r.pathErr("openpath", name, err)
	}
	return os.NewFile(uintptr(fd), path.Join(r.name, strings.Join(parts, "/"))), nil
}
