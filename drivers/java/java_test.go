package java

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orch-project/orch/drivers"
	orchexec "github.com/orch-project/orch/drivers/exec"
	"github.com/orch-project/orch/drivers/exec/isolation"
	"github.com/orch-project/orch/internal/testenv"
	"github.com/orch-project/orch/structs"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the container bootstrap, as orch does.
	if orchexec.IsInitProcess() {
		orchexec.Init()
	}
	os.Exit(m.Run())
}

func TestParseVersion(t *testing.T) {
	out := "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\nOpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)\n"
	info, err := ParseVersion(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "17.0.15" || info.Runtime != "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)" ||
		info.VM != "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)" {
		t.Fatalf("parsed %+v", info)
	}
	if _, err := ParseVersion("command not found"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestParseConfig(t *testing.T) {
	tc, err := ParseConfig(map[string]any{"class": "Main", "class_path": "local", "jvm_options": []any{"-Dfoo=bar"}, "args": []any{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tc.JavaArgs(), " "); got != "-Dfoo=bar -cp local Main a" {
		t.Fatalf("args %q", got)
	}
	tc, _ = ParseConfig(map[string]any{"jar_path": "local/app.jar", "jvm_options": []string{"-Xmx32m"}})
	if got := strings.Join(tc.JavaArgs(), " "); got != "-Xmx32m -jar local/app.jar" {
		t.Fatalf("args %q", got)
	}
	for _, bad := range []map[string]any{{}, {"jar_path": "a", "class": "b"}, {"class": 1}, {"class": "x", "image": "y"}} {
		if _, err := ParseConfig(bad); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}

// requireJDK skips without javac/jar unless CI demands the test.
func requireJDK(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"java", "javac", "jar"} {
		_, err := exec.LookPath(tool)
		testenv.Need(t, tool, err)
	}
}

const mainJava = `public class Main {
    public static void main(String[] args) {
        System.out.println("hello from java foo=" + System.getProperty("foo") + " args=" + String.join(",", args));
        System.err.println("to stderr");
        System.exit(args.length > 0 ? Integer.parseInt(args[0]) : 0);
    }
}
`

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// buildProgram compiles Main once per test run into Main.class and app.jar.
func buildProgram(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "orch-java-test")
		if buildErr != nil {
			return
		}
		if buildErr = os.WriteFile(filepath.Join(buildDir, "Main.java"), []byte(mainJava), 0o644); buildErr != nil {
			return
		}
		for _, args := range [][]string{
			{"javac", "--release", "11", "Main.java"},
			{"jar", "cfe", "app.jar", "Main", "Main.class"},
		} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = buildDir
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = &buildError{args, out, err}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

type buildError struct {
	args []string
	out  []byte
	err  error
}

func (e *buildError) Error() string {
	return strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + string(e.out)
}

type collector struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	kick chan struct{}
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// fifo makes a log FIFO and collects what arrives on it until closed.
func fifo(t *testing.T, path string) (*collector, func() string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{kick: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			select {
			case c.kick <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = f.Close() })
	// until waits for the first complete line.
	until := func() string {
		deadline := time.NewTimer(20 * time.Second)
		defer deadline.Stop()
		for !strings.Contains(c.String(), "\n") {
			select {
			case <-c.kick:
			case <-deadline.C:
				return c.String()
			}
		}
		return c.String()
	}
	return c, until
}

func runJava(t *testing.T, plain bool, config map[string]any) (*drivers.ExitResult, string, string) {
	t.Helper()
	prog := buildProgram(t)
	base := t.TempDir()
	if plain {
		// A plain JVM runs as the task's user (nobody by default), which
		// must reach its task dir: t.TempDir's parents are private.
		var err error
		if base, err = os.MkdirTemp("", "orch-java-plain-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	allocDir := filepath.Join(base, "alloc")
	taskDir := filepath.Join(allocDir, "app")
	local := filepath.Join(taskDir, "local")
	for _, d := range []string{allocDir, taskDir, local, filepath.Join(taskDir, "tmp"), filepath.Join(taskDir, "secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"Main.class", "app.jar"} {
		b, err := os.ReadFile(filepath.Join(prog, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(local, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(filepath.Join(taskDir, "tmp"), 0o1777)
	_, outUntil := fifo(t, filepath.Join(base, "out.fifo"))
	_, errUntil := fifo(t, filepath.Join(base, "err.fifo"))
	id := structs.GenerateUUID()
	cfg := &drivers.TaskConfig{
		ID: id + "/app", AllocID: id, Name: "app", Config: config, Env: map[string]string{},
		Resources: &structs.AllocatedTaskResources{Cpu: structs.AllocatedCpuResources{CpuShares: 500}, Memory: structs.AllocatedMemoryResources{MemoryMB: 256}},
		AllocDir:  allocDir, TaskDir: taskDir,
		StdoutPath: filepath.Join(base, "out.fifo"), StderrPath: filepath.Join(base, "err.fifo"),
	}
	d := New(Config{StateRoot: filepath.Join(base, "state"), DisableIsolation: plain})
	if _, err := d.Start(context.Background(), cfg); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = d.Destroy(cfg.ID, true) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, err := d.Wait(ctx, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	res := <-ch
	if res == nil {
		t.Fatal("java task did not exit")
	}
	out, errOut := outUntil(), errUntil()
	if err := d.Destroy(cfg.ID, false); err != nil {
		t.Errorf("destroy: %v", err)
	}
	return res, out, errOut
}

func TestFingerprint(t *testing.T) {
	requireJDK(t)
	info := New(Config{}).Fingerprint(context.Background())
	if !info.Detected || info.Attributes["driver.java.version"] == "" || info.Attributes["driver.java.vm"] == "" ||
		info.Attributes["driver.java.runtime"] == "" {
		t.Fatalf("fingerprint: %+v", info)
	}
}

func TestFingerprintWithoutJava(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("JAVA_HOME", "")
	info := New(Config{}).Fingerprint(context.Background())
	if info.Detected || info.HealthDescription == "" {
		t.Fatalf("fingerprint without java: %+v", info)
	}
}

func TestRunJar(t *testing.T) {
	requireJDK(t)
	requireIsolation(t)
	res, out, errOut := runJava(t, false, map[string]any{
		"jar_path": "local/app.jar", "jvm_options": []any{"-Dfoo=bar", "-Xmx64m"}, "args": []any{"3", "x"},
	})
	if res.ExitCode != 3 || res.Signal != 0 {
		t.Fatalf("want exit 3, got %+v (stderr %q)", res, errOut)
	}
	if !strings.Contains(out, "hello from java foo=bar args=3,x") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
	if !strings.Contains(errOut, "to stderr") {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestRunClass(t *testing.T) {
	requireJDK(t)
	requireIsolation(t)
	res, out, errOut := runJava(t, false, map[string]any{"class": "Main", "class_path": "local", "jvm_options": []any{"-Dfoo=baz"}})
	if !res.Successful() {
		t.Fatalf("exit %+v, stderr %q", res, errOut)
	}
	if !strings.Contains(out, "hello from java foo=baz args=") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
}

// TestRunPlain covers hosts without isolation: the JVM runs as a plain
// process with the task dir as its working directory.
func TestRunPlain(t *testing.T) {
	requireJDK(t)
	res, out, errOut := runJava(t, true, map[string]any{"class": "Main", "class_path": "local", "jvm_options": []any{"-Dfoo=plain"}, "args": []any{"4"}})
	if res.ExitCode != 4 {
		t.Fatalf("want exit 4, got %+v, stderr %q", res, errOut)
	}
	if !strings.Contains(out, "hello from java foo=plain args=4") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}
}

func requireIsolation(t *testing.T) {
	t.Helper()
	if ok, reason := isolation.Available(); !ok {
		testenv.Need(t, "isolation", errors.New(reason))
	}
}
