package safefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// Lstat describes name without following it: a symlink is reported as one.
func (r *Root) Lstat(name string) (os.FileInfo, error) {
	parts, err := split(name)
	if err != nil {
		return nil, r.pathErr("lstat", name, err)
	}
	var st unix.Stat_t
	if len(parts) == 0 {
		err = unix.Fstat(r.fd, &st)
		return &fileInfo{name: path.Base(r.name), st: st}, r.wrap("lstat", name, err)
	}
	dir, leaf, err := r.parent(name)
	if err != nil {
		return nil, r.pathErr("lstat", name, err)
	}
	defer unix.Close(dir)
	if err := unix.Fstatat(dir, leaf, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, r.pathErr("lstat", name, err)
	}
	return &fileInfo{name: leaf, st: st}, nil
}

// ReadDir lists the directory name, sorted by name. Entries are described
// as Lstat would (symlinks as links).
func (r *Root) ReadDir(name string) ([]os.FileInfo, error) {
	f, err := r.openDir(name)
	if err != nil {
		return nil, r.pathErr("readdir", name, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, r.pathErr("readdir", name, err)
	}
	sort.Strings(names)
	out := make([]os.FileInfo, 0, len(names))
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(int(f.Fd()), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed since the listing
			}
			return nil, r.pathErr("readdir", path.Join(name, n), err)
		}
		out = append(out, &fileInfo{name: n, st: st})
	}
	return out, nil
}

// openDir opens a directory for reading its entries. Opening a directory
// has no side effects, so no O_PATH step is needed.
func (r *Root) openDir(name string) (*os.File, error) {
	parts, err := split(name)
	if err != nil {
		return nil, err
	}
	var fd int
	if len(parts) == 0 {
		fd, err = unix.Openat(r.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	} else {
		fd, err = r.openBeneath(parts, unix.O_RDONLY|unix.O_DIRECTORY)
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(r.name, name)), nil
}

// Open opens name for reading. It must be a regular file with one link.
func (r *Root) Open(name string) (*os.File, error) {
	return r.OpenFile(name, os.O_RDONLY, 0)
}

// OpenFile opens name, which must be (or, with O_CREATE, become) a regular
// file with one link. O_CREATE never follows a link left at the name.
func (r *Root) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	defer unix.Close(dir)
	if flag&os.O_CREATE != 0 {
		// O_EXCL makes the kernel refuse whatever is already there,
		// links included, so a new file is certainly ours.
		fd, err := unix.Openat(dir, leaf, flag|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, unixMode(perm))
		if err == nil {
			return os.NewFile(uintptr(fd), path.Join(r.name, name)), nil
		}
		if !errors.Is(err, unix.EEXIST) || flag&os.O_EXCL != 0 {
			return nil, r.pathErr("open", name, mapErr(err))
		}
		flag &^= os.O_CREATE
	}
	pfd, st, err := r.leafPath(dir, leaf)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	defer unix.Close(pfd)
	if err := checkRegular(st); err != nil {
		return nil, r.pathErr("open", name, err)
	}
	fd, err := reopen(pfd, st, dir, leaf, flag)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	return os.NewFile(uintptr(fd), path.Join(r.name, name)), nil
}

// leafPath takes an O_PATH descriptor of dir/leaf (never a link) and its
// stat.
func (r *Root) leafPath(dir int, leaf string) (int, *unix.Stat_t, error) {
	pfd, err := openLeaf(dir, leaf, unix.O_PATH)
	if err != nil {
		return -1, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		unix.Close(pfd)
		return -1, nil, err
	}
	return pfd, &st, nil
}

func checkRegular(st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w (%s)", ErrNotRegular, typeName(st.Mode))
	}
	if st.Nlink > 1 {
		return fmt.Errorf("%w (%d links)", ErrHardLink, st.Nlink)
	}
	return nil
}

// ReadFile reads the regular file name whole. Use Open for files a task
// may have made arbitrarily large.
func (r *Root) ReadFile(name string) ([]byte, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile replaces name with data atomically: it writes a new file next
// to it and renames it over the old one, so a reader never sees half a file
// and a link left at the name is replaced, not followed.
func (r *Root) WriteFile(name string, data []byte, perm os.FileMode) error {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return r.pathErr("write", name, err)
	}
	defer unix.Close(dir)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := "." + leaf + ".tmp-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, unixMode(perm))
	if err != nil {
		return r.pathErr("write", name, mapErr(err))
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil {
		// Mode bits the umask filtered out at creation.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dir, tmp, dir, leaf)
	}
	if err != nil {
		_ = unix.Unlinkat(dir, tmp, 0)
		return r.pathErr("write", name, err)
	}
	return nil
}

// Mkdir creates the directory name.
func (r *Root) Mkdir(name string, perm os.FileMode) error {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return r.pathErr("mkdir", name, err)
	}
	defer unix.Close(dir)
	return r.wrap("mkdir", name, unix.Mkdirat(dir, leaf, unixMode(perm)))
}

// MkdirAll creates name and its missing parents; an existing component must
// be a real directory.
func (r *Root) MkdirAll(name string, perm os.FileMode) error {
	parts, err := split(name)
	if err != nil {
		return r.pathErr("mkdir", name, err)
	}
	fd, err := unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return r.pathErr("mkdir", name, err)
	}
	for i, p := range parts {
		if err := unix.Mkdirat(fd, p, unixMode(perm)); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(fd)
			return r.pathErr("mkdir", path.Join(parts[:i+1]...), err)
		}
		next, err := openLeaf(fd, p, unix.O_PATH|unix.O_DIRECTORY)
		unix.Close(fd)
		if err != nil {
			return r.pathErr("mkdir", path.Join(parts[:i+1]...), err)
		}
		fd = next
	}
	unix.Close(fd)
	return nil
}

// Remove removes the file, link or empty directory name (a link itself,
// never its target).
func (r *Root) Remove(name string) error {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return r.pathErr("remove", name, err)
	}
	defer unix.Close(dir)
	err = unix.Unlinkat(dir, leaf, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(dir, leaf, unix.AT_REMOVEDIR)
	}
	return r.wrap("remove", name, err)
}

// RemoveAll removes name and everything below it; a missing name is not an
// error. It never follows a link and never descends into a mount point: it
// stops with ErrMountPoint and leaves the mount's contents alone.
func (r *Root) RemoveAll(name string) error {
	dir, leaf, err := r.parent(name)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return r.pathErr("removeall", name, err)
	}
	defer unix.Close(dir)
	if err := removeAllAt(dir, leaf, 0); err != nil {
		return r.pathErr("removeall", name, err)
	}
	return nil
}

// maxRemoveDepth bounds the recursion (and the descriptors it holds) of a
// tree a task built to be deep.
const maxRemoveDepth = 512

func removeAllAt(dir int, leaf string, depth int) error {
	err := unix.Unlinkat(dir, leaf, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%s: %w", leaf, err)
	}
	if depth >= maxRemoveDepth {
		return fmt.Errorf("%s: directory tree deeper than %d", leaf, maxRemoveDepth)
	}
	fd, err := openSameMount(dir, leaf)
	if err != nil {
		return fmt.Errorf("%s: %w", leaf, err)
	}
	f := os.NewFile(uintptr(fd), leaf)
	defer f.Close()
	// Entries a task adds while the tree goes away are caught by another
	// round; a task cannot keep that up for long once it is stopped.
	for range 8 {
		names, err := f.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("%s: %w", leaf, err)
		}
		for _, n := range names {
			if err := removeAllAt(fd, n, depth+1); err != nil {
				return fmt.Errorf("%s/%w", leaf, err)
			}
		}
		err = unix.Unlinkat(dir, leaf, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("%s: %w", leaf, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", leaf, err)
		}
	}
	return fmt.Errorf("%s: %w", leaf, unix.ENOTEMPTY)
}

// openSameMount opens the directory dir/leaf for reading unless it is a
// link or the root of another mount.
func openSameMount(dir int, leaf string) (int, error) {
	flags := uint64(unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC)
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(dir, leaf, &unix.OpenHow{Flags: flags, Resolve: resolveFlags | unix.RESOLVE_NO_XDEV})
		if err == nil {
			return fd, nil
		}
		if errors.Is(err, unix.EXDEV) {
			return -1, ErrMountPoint
		}
		if !errors.Is(err, unix.ENOSYS) {
			return -1, mapErr(err)
		}
		noOpenat2.Store(true)
	}
	fd, err := openLeaf(dir, leaf, int(flags))
	if err != nil {
		return -1, err
	}
	if !sameMount(dir, fd) {
		unix.Close(fd)
		return -1, ErrMountPoint
	}
	return fd, nil
}

// sameMount compares mount IDs (statx, Linux 5.8+), else devices.
func sameMount(a, b int) bool {
	var sa, sb unix.Statx_t
	ea := unix.Statx(a, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sa)
	eb := unix.Statx(b, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &sb)
	if ea == nil && eb == nil && sa.Mask&sb.Mask&unix.STATX_MNT_ID != 0 {
		return sa.Mnt_id == sb.Mnt_id
	}
	var ta, tb unix.Stat_t
	return unix.Fstat(a, &ta) == nil && unix.Fstat(b, &tb) == nil && ta.Dev == tb.Dev
}

// Rename moves oldname to newname, replacing what is there (a link at
// newname is replaced, not followed).
func (r *Root) Rename(oldname, newname string) error {
	od, oleaf, err := r.parent(oldname)
	if err != nil {
		return r.pathErr("rename", oldname, err)
	}
	defer unix.Close(od)
	nd, nleaf, err := r.parent(newname)
	if err != nil {
		return r.pathErr("rename", newname, err)
	}
	defer unix.Close(nd)
	return r.wrap("rename", oldname, unix.Renameat(od, oleaf, nd, nleaf))
}

// Mkfifo creates a FIFO at name; an existing file of any kind is EEXIST.
func (r *Root) Mkfifo(name string, perm os.FileMode) error {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return r.pathErr("mkfifo", name, err)
	}
	defer unix.Close(dir)
	return r.wrap("mkfifo", name, unix.Mknodat(dir, leaf, unix.S_IFIFO|unixMode(perm), 0))
}

// OpenFIFO opens the FIFO name read-write and non-blocking (so the open
// never waits for a peer and reads park in Go's poller). Anything but a
// FIFO is refused with ErrNotFIFO.
func (r *Root) OpenFIFO(name string) (*os.File, error) {
	dir, leaf, err := r.parent(name)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	defer unix.Close(dir)
	pfd, st, err := r.leafPath(dir, leaf)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	defer unix.Close(pfd)
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, r.pathErr("open", name, fmt.Errorf("%w (%s)", ErrNotFIFO, typeName(st.Mode)))
	}
	fd, err := reopen(pfd, st, dir, leaf, unix.O_RDWR|unix.O_NONBLOCK)
	if err != nil {
		return nil, r.pathErr("open", name, err)
	}
	return os.NewFile(uintptr(fd), path.Join(r.name, name)), nil
}

// Chmod sets the mode of a directory or a single-link regular file.
func (r *Root) Chmod(name string, mode os.FileMode) error {
	pfd, dir, leaf, st, err := r.target(name)
	if err != nil {
		return r.pathErr("chmod", name, err)
	}
	defer unix.Close(pfd)
	defer unix.Close(dir)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := checkRegular(st); err != nil {
			return r.pathErr("chmod", name, err)
		}
	}
	fd, err := reopen(pfd, st, dir, leaf, unix.O_RDONLY)
	if err != nil {
		return r.pathErr("chmod", name, err)
	}
	defer unix.Close(fd)
	return r.wrap("chmod", name, unix.Fchmod(fd, unixMode(mode)))
}

// Lchown sets the owner of a directory or a single-link regular file; a
// link, FIFO or device is refused.
func (r *Root) Lchown(name string, uid, gid int) error {
	pfd, dir, _, st, err := r.target(name)
	if err != nil {
		return r.pathErr("chown", name, err)
	}
	defer unix.Close(pfd)
	defer unix.Close(dir)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := checkRegular(st); err != nil {
			return r.pathErr("chown", name, err)
		}
	}
	// AT_EMPTY_PATH acts on the O_PATH descriptor's own inode.
	return r.wrap("chown", name, unix.Fchownat(pfd, "", uid, gid, unix.AT_EMPTY_PATH))
}

// target returns an O_PATH descriptor of name (the root itself for ""), a
// directory descriptor and leaf that reopen can fall back to, and its stat.
func (r *Root) target(name string) (pfd, dir int, leaf string, st *unix.Stat_t, err error) {
	parts, err := split(name)
	if err != nil {
		return -1, -1, "", nil, err
	}
	if len(parts) == 0 {
		if pfd, err = unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return -1, -1, "", nil, err
		}
		if dir, err = unix.FcntlInt(uintptr(r.fd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			unix.Close(pfd)
			return -1, -1, "", nil, err
		}
		st = new(unix.Stat_t)
		if err = unix.Fstat(pfd, st); err != nil {
			unix.Close(pfd)
			unix.Close(dir)
			return -1, -1, "", nil, err
		}
		return pfd, dir, ".", st, nil
	}
	dir, leaf, err = r.parent(name)
	if err != nil {
		return -1, -1, "", nil, err
	}
	pfd, st, err = r.leafPath(dir, leaf)
	if err != nil {
		unix.Close(dir)
		return -1, -1, "", nil, err
	}
	return pfd, dir, leaf, st, nil
}

func (r *Root) wrap(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return r.pathErr(op, name, mapErr(err))
}

// unixMode converts permission and special bits of an os.FileMode.
func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "file of mode " + strconv.FormatUint(uint64(mode&unix.S_IFMT), 8)
}
