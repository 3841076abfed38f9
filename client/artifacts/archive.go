package artifacts

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	getter "github.com/hashicorp/go-getter/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// checkedDecompressors wraps go-getter's archive decompressors with a
// first pass over the archive's entries that refuses links, device nodes
// and FIFOs (go-getter would unpack a link as an empty file) and names
// with "..", and applies the size and count limits before anything is
// written.
func checkedDecompressors(filesLimit int, sizeLimit int64) map[string]getter.Decompressor {
	out := getter.LimitedDecompressors(filesLimit, sizeLimit)
	for ext, d := range out {
		var open func(io.Reader) (io.Reader, error)
		switch ext {
		case "tar":
			open = func(r io.Reader) (io.Reader, error) { return r, nil }
		case "tar.gz", "tgz":
			open = func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
		case "tar.bz2", "tbz2":
			open = func(r io.Reader) (io.Reader, error) { return bzip2.NewReader(r), nil }
		case "tar.xz", "txz":
			open = func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) }
		case "tar.zst", "tzst":
			open = func(r io.Reader) (io.Reader, error) {
				z, err := zstd.NewReader(r)
				if err != nil {
					return nil, err
				}
				return z.IOReadCloser(), nil
			}
		case "zip":
			out[ext] = &checked{inner: d, check: func(src string) error { return checkZip(src, filesLimit, sizeLimit) }}
			continue
		default:
			continue // single compressed files hold no entries
		}
		out[ext] = &checked{inner: d, check: func(src string) error { return checkTar(src, open, filesLimit, sizeLimit) }}
	}
	return out
}

type checked struct {
	inner getter.Decompressor
	check func(src string) error
}

func (c *checked) Decompress(dst, src string, dir bool, umask os.FileMode) error {
	if err := c.check(src); err != nil {
		return err
	}
	return c.inner.Decompress(dst, src, dir, umask)
}

func checkTar(src string, open func(io.Reader) (io.Reader, error), filesLimit int, sizeLimit int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := open(f)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	tr := tar.NewReader(r)
	var n int
	var size int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		case tar.TypeReg, tar.TypeRegA, tar.TypeDir:
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("archive entry %q is a link to %q: links are not unpacked", hdr.Name, hdr.Linkname)
		default:
			return fmt.Errorf("archive entry %q is not a file or directory", hdr.Name)
		}
		if err := checkName(hdr.Name); err != nil {
			return err
		}
		n++
		size += hdr.Size
		if filesLimit > 0 && n > filesLimit {
			return fmt.Errorf("archive contains more than %d files (decompression_file_count_limit)", filesLimit)
		}
		if sizeLimit > 0 && size > sizeLimit {
			return fmt.Errorf("archive unpacks to more than %d bytes (decompression_size_limit)", sizeLimit)
		}
	}
}

func checkZip(src string, filesLimit int, sizeLimit int64) error {
	z, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("reading archive: %w", err)
	}
	defer z.Close()
	if filesLimit > 0 && len(z.File) > filesLimit {
		return fmt.Errorf("archive contains more than %d files (decompression_file_count_limit)", filesLimit)
	}
	var size uint64
	for _, f := range z.File {
		m := f.Mode()
		if !m.IsRegular() && !m.IsDir() {
			return fmt.Errorf("archive entry %q is a %s: only files and directories are unpacked", f.Name, m.Type())
		}
		if err := checkName(f.Name); err != nil {
			return err
		}
		size += f.UncompressedSize64
		if sizeLimit > 0 && size > uint64(sizeLimit) {
			return fmt.Errorf("archive unpacks to more than %d bytes (decompression_size_limit)", sizeLimit)
		}
	}
	return nil
}

func checkName(name string) error {
	for _, el := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return fmt.Errorf("archive entry %q escapes the destination", name)
		}
	}
	return nil
}
