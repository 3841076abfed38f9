// Package testimage builds the container image orch's tests run. There is
// no registry on the test machines, so the image is imported from a tarball
// made of the host's static busybox (Debian's busybox-static).
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Busybox is the image's reference; it is kept between runs.
const Busybox = "orch-test/busybox:latest"

// applets become symlinks to busybox in the image.
var applets = []string{
	"sh", "sleep", "echo", "httpd", "cat", "true", "false", "ls", "kill", "env",
	"printf", "yes", "head", "wc", "id", "mkdir", "rm", "seq", "dd",
}

// Pause is a sandbox ("infra") image for the docker driver's group network
// namespaces: the busybox root sleeping forever (there is no registry to
// pull the real pause image from).
const Pause = "orch-test/pause:latest"

// EnsureBusybox imports the image unless the daemon already has it.
func EnsureBusybox(ctx context.Context, c *client.Client) error {
	return ensure(ctx, c, Busybox, `CMD ["/bin/sh"]`)
}

// EnsurePause imports the Pause image unless the daemon already has it.
func EnsurePause(ctx context.Context, c *client.Client) error {
	return ensure(ctx, c, Pause, `CMD ["/bin/sleep", "2147483647"]`)
}

func ensure(ctx context.Context, c *client.Client, ref, cmd string) error {
	if _, err := c.ImageInspect(ctx, ref); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspecting %s: %w", ref, err)
	}
	tarball, err := rootfs()
	if err != nil {
		return err
	}
	rc, err := c.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(tarball), SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{`ENV PATH=/bin`, cmd}})
	if err != nil {
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("importing %s: %w", ref, err)
	}
	return nil
}

// rootfs is a minimal root filesystem: a static busybox, applet links, an
// /etc/passwd with root and nobody, and the usual mount points.
func rootfs() ([]byte, error) {
	bin, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) error {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("image tarball: %w", err)
		}
		_, err := tw.Write(body)
		return err
	}
	for _, dir := range []string{"bin/", "etc/", "proc/", "sys/", "dev/", "www/"} {
		if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil); err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755}, bin); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644}, passwd); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image tarball: %w", err)
	}
	return buf.Bytes(), nil
}

// staticBusybox reads the host's busybox, which must be static to run in an
// image without a libc.
func staticBusybox() ([]byte, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return os.ReadFile(p)
		}
	}
	return nil, errors.New("no static busybox found; install busybox-static")
}
