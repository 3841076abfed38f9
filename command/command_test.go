package command

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

type env struct {
	backend *httpapitest.Backend
	client  *httpapitest.Client
	url     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	cb := httpapitest.NewClient(structs.GenerateUUID())
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: cb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return &env{backend: b, client: cb, url: srv.URL}
}

// run executes the CLI with -address inserted after the subcommand words.
func (e *env) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	words := 2
	if args[0] == "version" {
		words = 1
	}
	full := append(append(append([]string{}, args[:words]...), "-address", e.url), args[words:]...)
	return runCLI(t, full...)
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{ctx: t.Context(), out: &out, err: &errb, in: strings.NewReader(""), env: nil}
	code := c.run(args)
	return code, out.String(), errb.String()
}

func (e *env) addNode(t *testing.T) *structs.Node {
	t.Helper()
	n := httpapitest.TestNode("node-1", "")
	if _, err := e.backend.RegisterNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return n
}

const jobHCL = `
job "%s" {
  datacenters = ["*"]
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["${var.secs}"]
      }
    }
  }
}

variable "secs" {
  type    = string
  default = "30"
}
`

func writeJob(t *testing.T, id string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), id+".nomad.hcl")
	if err := os.WriteFile(p, []byte(strings.Replace(jobHCL, "%s", id, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJobRunMonitorsPlacement(t *testing.T) {
	e := newEnv(t)
	node := e.addNode(t)
	code, out, errs := e.run(t, "job", "run", "-var", "secs=5", writeJob(t, "web"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{`Monitoring evaluation "`, `Evaluation triggered by job "web"`,
		`created: node "` + shortID(node.ID) + `", group "g"`, `finished with status "complete"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "Allocation \""); n != 2 {
		t.Errorf("%d allocations reported, want 2:\n%s", n, out)
	}
	job, _ := e.backend.State().JobByID(nil, "default", "web")
	if job == nil || job.TaskGroups[0].Tasks[0].Config["args"].([]any)[0] != "5" {
		t.Fatalf("job not registered with -var applied: %+v", job)
	}
}

func TestJobRunPlacementFailureExits2(t *testing.T) {
	e := newEnv(t)
	code, out, _ := e.run(t, "job", "run", writeJob(t, "nowhere"))
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	for _, want := range []string{"failed to place all allocations", `Task Group "g" (failed to place 2 allocations)`,
		"waiting for additional capacity"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// job status shows the failure.
	code, out, _ = e.run(t, "job", "status", "nowhere")
	if code != 0 || !strings.Contains(out, "Placement Failure") {
		t.Fatalf("status exit %d:\n%s", code, out)
	}
}

func TestJobRunDetachAndOutput(t *testing.T) {
	e := newEnv(t)
	path := writeJob(t, "d")
	code, out, _ := e.run(t, "job", "run", "-output", path)
	var doc struct{ Job *structs.Job }
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Job == nil || doc.Job.ID != "d" {
		t.Fatalf("-output: exit %d %q", code, out)
	}
	if j, _ := e.backend.State().JobByID(nil, "default", "d"); j != nil {
		t.Fatal("-output submitted the job")
	}
	code, out, _ = e.run(t, "job", "run", "-detach", path)
	if code != 0 || !strings.Contains(out, "Evaluation ID: ") {
		t.Fatalf("-detach: exit %d %q", code, out)
	}
}

func TestJobStatusInspectStop(t *testing.T) {
	e := newEnv(t)
	e.addNode(t)
	for _, id := range []string{"api-one", "api-two"} {
		if code, out, errs := e.run(t, "job", "run", "-detach", writeJob(t, id)); code != 0 {
			t.Fatalf("run %s: %d %s %s", id, code, out, errs)
		}
	}
	code, out, _ := e.run(t, "job", "status")
	if code != 0 || !strings.Contains(out, "api-one") || !strings.Contains(out, "Submit Date") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	code, _, errs := e.run(t, "job", "status", "api")
	if code != 1 || !strings.Contains(errs, "Prefix matched multiple jobs") || !strings.Contains(errs, "api-two") {
		t.Fatalf("ambiguous prefix: %d %q", code, errs)
	}
	code, out, _ = e.run(t, "job", "status", "api-o")
	for _, want := range []string{"ID            = api-one", "Summary", "Task Group", "Allocations", "Desired"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	code, out, _ = e.run(t, "job", "inspect", "api-two")
	var doc struct{ Job *structs.Job }
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Job.ID != "api-two" {
		t.Fatalf("inspect: %d %q", code, out)
	}
	code, out, _ = e.run(t, "job", "stop", "api-one")
	if code != 0 || !strings.Contains(out, `finished with status "complete"`) {
		t.Fatalf("stop: %d\n%s", code, out)
	}
	code, out, _ = e.run(t, "job", "status", "api-one")
	if code != 0 || !strings.Contains(out, "dead (stopped)") && !strings.Contains(out, "(stopped)") {
		t.Fatalf("stopped status: %d\n%s", code, out)
	}
	// -no-shutdown-delay reaches the servers: the stopped allocations
	// carry the mark that makes their client skip shutdown delays.
	code, _, _ = e.run(t, "job", "stop", "-no-shutdown-delay", "-detach", "api-two")
	if code != 0 {
		t.Fatalf("stop -no-shutdown-delay exit %d", code)
	}
	two, _ := e.backend.State().AllocsByJob(nil, "default", "api-two")
	if len(two) == 0 || !two[0].DesiredTransition.ShouldIgnoreShutdownDelay() {
		t.Fatalf("allocs after stop -no-shutdown-delay: %+v", two)
	}
	code, _, _ = e.run(t, "job", "stop", "-purge", "-detach", "api-one")
	if code != 0 {
		t.Fatalf("purge exit %d", code)
	}
	code, _, errs = e.run(t, "job", "status", "api-one")
	if code != 1 || !strings.Contains(errs, `No job(s) with prefix or id "api-one" found`) {
		t.Fatalf("purged status: %d %q", code, errs)
	}
}

func TestJobValidateAndInit(t *testing.T) {
	code, out, _ := runCLI(t, "job", "validate", writeJob(t, "v"))
	if code != 0 || !strings.Contains(out, "Job validation successful") {
		t.Fatalf("validate: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	os.WriteFile(bad, []byte(`job "x" { group "g" { task "t" { driver = } } }`), 0o644)
	code, _, errs := runCLI(t, "job", "validate", bad)
	if code != 1 || !strings.Contains(errs, "Error parsing job file") {
		t.Fatalf("bad file: %d %q", code, errs)
	}
	code, _, errs = runCLI(t, "job", "validate", filepath.Join(t.TempDir(), "missing.hcl"))
	if code != 1 || !strings.Contains(errs, "Error reading job file") {
		t.Fatalf("missing file: %d %q", code, errs)
	}

	dir := t.TempDir()
	for _, short := range []bool{false, true} {
		name := filepath.Join(dir, "long.nomad.hcl")
		args := []string{"job", "init", name}
		if short {
			name = filepath.Join(dir, "short.nomad.hcl")
			args = []string{"job", "init", "-short", name}
		}
		code, out, errs := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Example job file written to") {
			t.Fatalf("init: %d %q %q", code, out, errs)
		}
		// The example must itself be a valid job.
		if code, out, errs := runCLI(t, "job", "validate", name); code != 0 {
			t.Fatalf("example invalid: %d %q %q", code, out, errs)
		}
		if code, _, errs := runCLI(t, args...); code != 1 || !strings.Contains(errs, "already exists") {
			t.Fatalf("second init: %d %q", code, errs)
		}
	}
}

func TestNodeAndAllocStatusAndLogs(t *testing.T) {
	e := newEnv(t)
	node := e.addNode(t)
	code, out, errs := e.run(t, "job", "run", "-detach", writeJob(t, "lg"))
	if code != 0 {
		t.Fatalf("run: %s %s", out, errs)
	}
	code, out, _ = e.run(t, "node", "status")
	if code != 0 || !strings.Contains(out, shortID(node.ID)) || !strings.Contains(out, "ready") {
		t.Fatalf("node list: %d\n%s", code, out)
	}
	code, out, _ = e.run(t, "node", "status", node.ID[:6])
	if code != 0 || !strings.Contains(out, "Allocated Resources") || !strings.Contains(out, "raw_exec") {
		t.Fatalf("node status: %d\n%s", code, out)
	}

	allocs, _ := e.backend.State().AllocsByJob(nil, "default", "lg")
	a := allocs[0]
	code, out, _ = e.run(t, "alloc", "status", a.ID[:8])
	if code != 0 || !strings.Contains(out, "ID                  = "+a.ID) || !strings.Contains(out, `Task "t" is "pending"`) {
		t.Fatalf("alloc status: %d\n%s", code, out)
	}
	code, _, errs = e.run(t, "alloc", "status", "")
	if code != 1 || !strings.Contains(errs, "Prefix matched multiple allocations") {
		t.Fatalf("ambiguous alloc: %d %q", code, errs)
	}
	code, _, errs = e.run(t, "alloc", "status", "ffffffff")
	if code != 1 || !strings.Contains(errs, "No allocation(s)") {
		t.Fatalf("unknown alloc: %d %q", code, errs)
	}

	dir := t.TempDir()
	logs := filepath.Join(dir, "alloc", "logs")
	os.MkdirAll(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "t.stdout.0"), []byte("one\ntwo\n"), 0o644)
	os.WriteFile(filepath.Join(logs, "t.stdout.1"), []byte("three\nfour\n"), 0o644)
	os.WriteFile(filepath.Join(logs, "t.stderr.0"), []byte("bad\n"), 0o644)
	e.client.AddAlloc(a.ID, dir)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{a.ID[:8]}, "one\ntwo\nthree\nfour\n"},
		{[]string{a.ID, "t"}, "one\ntwo\nthree\nfour\n"},
		{[]string{"-stderr", a.ID}, "bad\n"},
		{[]string{"-tail", "-n", "3", a.ID}, "two\nthree\nfour\n"},
		{[]string{"-tail", a.ID}, "one\ntwo\nthree\nfour\n"},
		{[]string{"-tail", "-c", "5", a.ID}, "four\n"},
	} {
		code, out, errs := e.run(t, append([]string{"alloc", "logs"}, tc.args...)...)
		if code != 0 || out != tc.want {
			t.Errorf("alloc logs %v: %d %q %q, want %q", tc.args, code, out, errs, tc.want)
		}
	}
	code, _, errs = e.run(t, "alloc", "logs", a.ID, "nope")
	if code != 1 || !strings.Contains(errs, `task "nope" not found`) {
		t.Fatalf("unknown task: %d %q", code, errs)
	}
}

func TestAllocLogsFollowTail(t *testing.T) {
	e := newEnv(t)
	e.addNode(t)
	if code, out, errs := e.run(t, "job", "run", "-detach", writeJob(t, "f")); code != 0 {
		t.Fatalf("run: %s %s", out, errs)
	}
	allocs, _ := e.backend.State().AllocsByJob(nil, "default", "f")
	dir := t.TempDir()
	logs := filepath.Join(dir, "alloc", "logs")
	os.MkdirAll(logs, 0o755)
	os.WriteFile(filepath.Join(logs, "t.stdout.0"), []byte("a\nb\nc\n"), 0o644)
	e.client.AddAlloc(allocs[0].ID, dir)

	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		c := &cli{ctx: ctx, out: pw, err: io.Discard, in: strings.NewReader("")}
		done <- c.run([]string{"alloc", "logs", "-address", e.url, "-f", "-tail", "-n", "1", allocs[0].ID})
		pw.Close()
	}()
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(pr, buf, 2)
	if err != nil || string(buf[:n]) != "c\n" {
		t.Fatalf("tail head = %q %v", buf[:n], err)
	}
	f, _ := os.OpenFile(filepath.Join(logs, "t.stdout.0"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("d\n")
	f.Close()
	n, err = io.ReadAtLeast(pr, buf, 2)
	if err != nil || string(buf[:n]) != "d\n" {
		t.Fatalf("followed = %q %v", buf[:n], err)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Fatalf("interrupted follow exit %d", code)
	}
}

func TestServerMembersVersionAndErrors(t *testing.T) {
	e := newEnv(t)
	code, out, _ := e.run(t, "server", "members")
	if code != 0 || !strings.Contains(out, "test.global") || !strings.Contains(out, "true") {
		t.Fatalf("members: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "version")
	if code != 0 || out != "orch v"+structs.Version+"\n" {
		t.Fatalf("version: %d %q", code, out)
	}
	code, _, errs := runCLI(t, "job", "status", "-address", "http://127.0.0.1:1")
	if code != 1 || !strings.HasPrefix(errs, "Error querying jobs: ") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("unreachable agent: %d %q", code, errs)
	}
	for _, args := range [][]string{{"bogus"}, {"job"}, {"job", "bogus"}, {"job", "run"}, {"job", "status", "-bogus"}, {}} {
		if code, _, errs := runCLI(t, args...); code != 1 || errs == "" {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
	if code, _, errs := e.run(t, "job", "inspect", "missing"); code != 1 || !strings.Contains(errs, "No job(s)") {
		t.Fatalf("inspect missing: %d %q", code, errs)
	}
}
