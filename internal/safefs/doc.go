// Package safefs is the one way the agent touches files inside a directory
// a task can write to (an allocation's directory, a task's local/ and
// secrets/, the log dir). The agent runs as root and tasks are hostile:
// whatever a task leaves in its directories — a symlink to /etc/shadow, a
// hard link, a FIFO that blocks the opener, a device node, a directory
// renamed mid-walk — must not make the agent read, write, create, chmod or
// delete anything outside the directory, or hang.
//
// # Contract
//
// A Root is an open directory handle. Every name given to its methods is a
// slash-separated path relative to that root ("" and "." name the root
// itself). Every method:
//
//   - refuses absolute names and any ".." component (ErrEscape), before
//     touching the file system;
//   - resolves the name with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//     RESOLVE_NO_MAGICLINKS) relative to the root's descriptor, or, on a
//     kernel without openat2, one component at a time with O_NOFOLLOW.
//     A symlink anywhere in the name, the last component included, is
//     refused (ErrSymlink) — never followed, not even when it points back
//     inside the root;
//   - acts on the final component through the resolved parent's descriptor
//     (mkdirat, unlinkat, renameat2, mknodat, fchownat with
//     AT_SYMLINK_NOFOLLOW, fstatat with AT_SYMLINK_NOFOLLOW), so a component
//     swapped for a symlink after resolution is not followed either.
//
// Opening a file that must be regular (Open, OpenFile, ReadFile, Chmod of a
// file) first takes an O_PATH descriptor, which has no side effects even on
// a FIFO or a device, checks its type, and only then re-opens that same
// inode through /proc/self/fd. So a FIFO cannot block the agent and a device
// node a container made with mknod is never opened by the host (ErrNotRegular).
// Those methods also refuse a regular file with more than one hard link
// (ErrHardLink): a task that can link a host file it could not read into its
// directory (a raw_exec task running as a non-root user, with
// fs.protected_hardlinks off) must not get the agent to read or append to
// it. The agent's own files (logs, rendered templates, tokens) always have
// exactly one link.
//
// OpenFIFO is the one method that opens a FIFO, and it opens nothing else.
// RemoveAll never crosses a mount point (a bind-mounted host volume inside
// an alloc dir is left alone and reported) and never follows a link.
//
// Limits: the root itself is opened by path (OpenRoot follows links in that
// path): callers pass a directory tasks cannot modify, such as
// <data-dir>/alloc/<alloc-id>. A directory a task renames out of the root
// while a call is walking it is only possible across a mount the task can
// write on both sides of — for containers that is nothing outside /alloc,
// and a raw_exec task already has the agent's privileges.
package safefs
