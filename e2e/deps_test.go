package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// busyboxImage is the image docker tasks run. There is no registry here, so
// it is built locally from the host's static busybox (busybox-static) and
// kept between runs; drivers/docker's tests build the same image.
const busyboxImage = "orch-test/busybox:latest"

// need skips tb for a missing dependency, unless CI is set: there a missing
// dependency is a failure, so CI cannot go green by skipping.
func need(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s unavailable with CI set: %v", what, err)
	}
	tb.Skipf("%s unavailable: %v", what, err)
}

func rootErr() error {
	if os.Geteuid() != 0 {
		return errors.New("not root")
	}
	return nil
}

func javaErr() error {
	for _, tool := range []string{"java", "javac", "jar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("JDK: %s: %w", tool, err)
		}
	}
	return nil
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// needDocker checks the daemon and builds the busybox image once per run.
func needDocker(tb testing.TB) {
	tb.Helper()
	need(tb, "docker", dockerReady())
}

func dockerReady() error {
	dockerOnce.Do(func() { dockerErr = prepareDocker() })
	return dockerErr
}

func dockerClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
}

func prepareDocker() error {
	c, err := dockerClient()
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		return fmt.Errorf("pinging docker: %w", err)
	}
	if _, err := c.ImageInspect(ctx, busyboxImage); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspecting %s: %w", busyboxImage, err)
	}
	tarball, err := busyboxRootfs()
	if err != nil {
		return err
	}
	rc, err := c.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(tarball), SourceName: "-"}, busyboxImage,
		image.ImportOptions{Changes: []string{`ENV PATH=/bin`, `CMD ["/bin/sh"]`}})
	if err != nil {
		return fmt.Errorf("importing %s: %w", busyboxImage, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("importing %s: %w", busyboxImage, err)
	}
	return nil
}

// busyboxRootfs is a minimal root filesystem: a static busybox, applet
// links for what the tests run, and an /etc/passwd.
func busyboxRootfs() ([]byte, error) {
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
	for _, a := range []string{"sh", "sleep", "echo", "httpd", "cat", "true", "false", "ls", "kill", "env",
		"printf", "yes", "head", "wc", "id", "mkdir", "rm", "seq", "dd"} {
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

// javaSource is the JVM program the java tasks run: "marker" prints $MARKER
// and the payload the prestart task copied, "count" prints a counter every
// 200ms, "exit CODE" exits with CODE once the file alloc/data/go exists.
const javaSource = `import java.nio.file.*;

public class Main {
    public static void main(String[] a) throws Exception {
        switch (a[0]) {
        case "marker":
            String payload = new String(Files.readAllBytes(Paths.get(System.getenv("NOMAD_ALLOC_DIR"), "data", "payload.txt"))).trim();
            System.out.println(System.getenv("MARKER") + " " + payload);
            break;
        case "count":
            for (long i = 0; ; i++) {
                System.out.println("count " + i);
                System.out.flush();
                Thread.sleep(200);
            }
        case "exit":
            Path trigger = Paths.get(System.getenv("NOMAD_ALLOC_DIR"), "data", "go");
            while (!Files.exists(trigger)) {
                Thread.sleep(100);
            }
            System.exit(Integer.parseInt(a[1]));
        }
    }
}
`

// buildJar compiles javaSource into dir/app.jar and returns its path.
func buildJar(tb testing.TB, dir string) string {
	tb.Helper()
	src := tb.TempDir()
	if err := os.WriteFile(filepath.Join(src, "Main.java"), []byte(javaSource), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "manifest.txt"), []byte("Main-Class: Main\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	jar := filepath.Join(dir, "app.jar")
	for _, args := range [][]string{
		{"javac", "-d", src, filepath.Join(src, "Main.java")},
		{"jar", "cfm", jar, filepath.Join(src, "manifest.txt"), "-C", src, "Main.class"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			tb.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	return jar
}
