package migrate

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/orch-project/orch/internal/safefs"
	"golang.org/x/sys/unix"
)

// maxDepth bounds how deep a migrated tree may nest, on both sides.
const maxDepth = 128

// dataDirs are the directories of an allocation that move to its
// replacement, relative to the allocation's root: the shared alloc/data
// and each task's local/ (Nomad's sticky disk).
func dataDirs(tasks []string) []string {
	out := []string{"alloc/data"}
	for _, t := range tasks {
		out = append(out, t+"/local")
	}
	return out
}

// WriteArchive writes the data directories of the allocation rooted at
// root as a tar stream to w. Everything is read through safefs: a link,
// FIFO, device or hard-linked file a task left is skipped (counted in
// skipped), never followed or opened.
func WriteArchive(w io.Writer, root *safefs.Root, tasks []string) (skipped int, err error) {
	tw := tar.NewWriter(w)
	for _, dir := range dataDirs(tasks) {
		fi, err := root.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return skipped, fmt.Errorf("stat %s: %w", dir, err)
		}
		if !fi.IsDir() {
			skipped++
			continue
		}
		n, err := writeTree(tw, root, dir, fi, 0)
		skipped += n
		if err != nil {
			return skipped, err
		}
	}
	return skipped, tw.Close()
}

func writeTree(tw *tar.Writer, root *safefs.Root, name string, fi os.FileInfo, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%s: nested deeper than %d directories", name, maxDepth)
	}
	if err := tw.WriteHeader(header(name, fi, tar.TypeDir, 0)); err != nil {
		return 0, err
	}
	ents, err := root.ReadDir(name)
	if err != nil {
		return 0, fmt.Errorf("listing %s: %w", name, err)
	}
	skipped := 0
	for _, e := range ents {
		child := name + "/" + e.Name()
		switch {
		case e.IsDir():
			n, err := writeTree(tw, root, child, e, depth+1)
			skipped += n
			if err != nil {
				return skipped, err
			}
		case e.Mode().IsRegular():
			ok, err := writeFile(tw, root, child)
			if err != nil {
				return skipped, err
			}
			if !ok {
				skipped++
			}
		default:
			skipped++
		}
	}
	return skipped, nil
}

// writeFile adds one regular file; false when safefs refuses to open it
// (a hard link, or something swapped in for the file).
func writeFile(tw *tar.Writer, root *safefs.Root, name string) (bool, error) {
	f, err := root.Open(name)
	if errors.Is(err, safefs.ErrHardLink) || errors.Is(err, safefs.ErrNotRegular) || errors.Is(err, safefs.ErrSymlink) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if err := tw.WriteHeader(header(name, fi, tar.TypeReg, fi.Size())); err != nil {
		return false, err
	}
	if _, err := io.CopyN(tw, f, fi.Size()); err != nil {
		return false, fmt.Errorf("reading %s: %w", name, err)
	}
	return true, nil
}

func header(name string, fi os.FileInfo, typ byte, size int64) *tar.Header {
	h := &tar.Header{Typeflag: typ, Name: name, Mode: int64(fi.Mode().Perm()), Size: size,
		ModTime: fi.ModTime(), Format: tar.FormatPAX}
	switch st := fi.Sys().(type) {
	case *unix.Stat_t: // safefs
		h.Uid, h.Gid = int(st.Uid), int(st.Gid)
	case *syscall.Stat_t: // os.File.Stat
		h.Uid, h.Gid = int(st.Uid), int(st.Gid)
	}
	return h
}

// Limits bound what Extract accepts.
type Limits struct {
	// Bytes is the total size of the files (the group's ephemeral disk).
	Bytes int64
	// Files is the number of entries.
	Files int
}

// Extract unpacks a tar stream written by WriteArchive into dst through
// safefs. The peer is not trusted: an entry that is not a plain directory
// or regular file (a link, device, FIFO), a name that is absolute, has a
// ".." component or lies outside alloc/data and <task>/local, or a total
// past the limits fails the whole extraction. The caller removes what was
// written on error.
func Extract(r io.Reader, dst *safefs.Root, lim Limits) error {
	tr := tar.NewReader(r)
	var total int64
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		if files++; files > lim.Files {
			return fmt.Errorf("archive has more than %d entries", lim.Files)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		perm := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := mkdirAll(dst, name); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += h.Size; h.Size < 0 || total > lim.Bytes {
				return fmt.Errorf("archive is larger than the ephemeral disk (%d MB)", lim.Bytes>>20)
			}
			if err := mkdirAll(dst, path.Dir(name)); err != nil {
				return err
			}
			if err := writeEntry(dst, name, tr, h.Size); err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q is not a directory or a regular file (type %q): refused", h.Name, h.Typeflag)
		}
		if err := dst.Lchown(name, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		if err := dst.Chmod(name, perm); err != nil {
			return fmt.Errorf("chmod %s: %w", name, err)
		}
	}
}

// entryName checks an archive name: relative, clean, no "..", inside one
// of the data directories, not too deep.
func entryName(n string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("archive entry %q %s: refused", n, why)
	}
	if n == "" || strings.IndexByte(n, 0) >= 0 || strings.HasPrefix(n, "/") {
		return bad("is not a relative name")
	}
	parts := strings.Split(strings.TrimSuffix(n, "/"), "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return bad("has an empty, . or .. component")
		}
	}
	if len(parts) > maxDepth {
		return bad("is nested too deep")
	}
	inData := len(parts) >= 2 && (parts[0] == "alloc" && parts[1] == "data" || parts[0] != "alloc" && parts[1] == "local")
	if !inData {
		return bad("is outside alloc/data and the tasks' local directories")
	}
	return strings.Join(parts, "/"), nil
}

func mkdirAll(dst *safefs.Root, name string) error {
	if err := dst.MkdirAll(name, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	return nil
}

func writeEntry(dst *safefs.Root, name string, r io.Reader, size int64) error {
	f, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	_, err = io.CopyN(f, r, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
