package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/internal/testimage"
)

// busyboxImage is the image docker tasks run. There is no registry here, so
// it is built locally from the host's static busybox (busybox-static) and
// kept between runs; drivers/docker's tests build the same image.
const busyboxImage = testimage.Busybox

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
	testenv.Need(tb, "docker", dockerReady())
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
	if err := testimage.EnsureBusybox(ctx, c); err != nil {
		return err
	}
	return testimage.EnsurePause(ctx, c)
}

// javaSource is the JVM program the java tasks run: "marker" prints $MARKER
// and the payload the prestart task copied, "count" prints a counter every
// 200ms, "exit CODE" exits with CODE once the file alloc/data/go exists,
// "sh SCRIPT" runs SCRIPT with /bin/sh as a child of the JVM.
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
        case "sh":
            System.exit(new ProcessBuilder("/bin/sh", "-c", a[1]).inheritIO().start().waitFor());
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
