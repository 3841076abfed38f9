package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/orch-project/orch/structs"
)

// testImage is built locally from the host's static busybox (there is no
// registry here) and kept between runs.
const testImage = "orch-test/busybox:latest"

var (
	// dockerErr says why Docker tests cannot run; nil when they can.
	dockerErr error
	// testNodeID labels every container this run creates, so the final
	// sweep removes them all even when a test failed half-way.
	testNodeID = "orch-test-" + structs.GenerateUUID()[:8]
	// The orphan test runs as its own node (orphanNodeID) so that it cannot
	// remove containers of tests running in parallel; otherNodeID is a
	// second node sharing the daemon.
	orphanNodeID = testNodeID + "-orphans"
	otherNodeID  = testNodeID + "-other"
)

func TestMain(m *testing.M) {
	dockerErr = prepareDocker()
	code := m.Run()
	if dockerErr == nil {
		sweepContainers()
	}
	os.Exit(code)
}

// needDocker skips without Docker unless CI is set, where it fails.
func needDocker(tb testing.TB) {
	tb.Helper()
	if dockerErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("docker unavailable with CI set: %v", dockerErr)
	}
	tb.Skipf("docker unavailable: %v", dockerErr)
}

func prepareDocker() error {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		return fmt.Errorf("pinging daemon: %w", err)
	}
	return ensureTestImage(ctx, c)
}

// busyboxApplets become symlinks in the test image.
var busyboxApplets = []string{
	"sh", "sleep", "echo", "httpd", "cat", "true", "false", "ls", "kill", "env",
	"printf", "yes", "head", "wc", "id", "mkdir", "rm", "seq", "dd",
}

func ensureTestImage(ctx context.Context, c *client.Client) error {
	if _, err := c.ImageInspect(ctx, testImage); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspecting %s: %w", testImage, err)
	}
	bin, err := staticBusybox()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"bin/", "tmp/", "etc/", "proc/", "sys/", "dev/", "www/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin))}); err != nil {
		return err
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return err
		}
	}
	passwd := []byte("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd))}); err != nil {
		return err
	}
	if _, err := tw.Write(passwd); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	rc, err := c.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, testImage,
		image.ImportOptions{Changes: []string{`ENV PATH=/bin`, `CMD ["/bin/sh"]`}})
	if err != nil {
		return fmt.Errorf("importing %s: %w", testImage, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("importing %s: %w", testImage, err)
	}
	return nil
}

// staticBusybox reads the host's busybox, which must be static to run in
// an image with no libc (package busybox-static).
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

// sweepContainers removes whatever this run's tests left behind.
func sweepContainers() {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, node := range []string{testNodeID, orphanNodeID, otherNodeID} {
		list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelNodeID+"="+node))})
		if err != nil {
			continue
		}
		for _, ct := range list {
			_ = c.ContainerRemove(ctx, ct.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}
