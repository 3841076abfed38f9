package command

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/server"
	"github.com/orch-project/orch/server/servertest"
	"github.com/orch-project/orch/structs"
)

// realEnv is a real one-server cluster behind the HTTP API, for the
// commands whose behaviour lives in the server (services, variables,
// keyring).
type realEnv struct {
	srv *server.Server
	url string
}

func newRealEnv(t *testing.T) *realEnv {
	t.Helper()
	srv, url := servertest.HTTP(t)
	return &realEnv{srv: srv, url: url}
}

// run executes the CLI with -address after the subcommand words (two, or
// four for "operator root keyring X").
func (e *realEnv) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	words := 2
	if args[0] == "operator" {
		words = 4
	}
	full := append(append(append([]string{}, args[:words]...), "-address", e.url), args[words:]...)
	return runCLI(t, full...)
}

func (e *realEnv) runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	full := append(append(append([]string{}, args[:2]...), "-address", e.url), args[2:]...)
	var out, errb strings.Builder
	c := &cli{ctx: t.Context(), out: &out, err: &errb, in: strings.NewReader(stdin)}
	code := c.run(full)
	return code, out.String(), errb.String()
}

func expect(t *testing.T, code int, out, errOut string, wantCode int, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, wantCode, out, errOut)
	}
	for _, w := range wants {
		if !strings.Contains(out+errOut, w) {
			t.Fatalf("output lacks %q\nstdout: %s\nstderr: %s", w, out, errOut)
		}
	}
}

func TestVarCommands(t *testing.T) {
	e := newRealEnv(t)
	code, out, errOut := e.run(t, "var", "put", "nomad/jobs/app", "db_password=s3cret", "user=app")
	expect(t, code, out, errOut, 0, `Created variable "nomad/jobs/app" with modify index`)
	code, out, errOut = e.run(t, "var", "get", "-item", "db_password", "nomad/jobs/app")
	expect(t, code, out, errOut, 0)
	if out != "s3cret" {
		t.Fatalf("-item printed %q", out)
	}
	// Not a terminal: JSON, which var put takes back (a check-and-set at
	// its index).
	code, out, errOut = e.run(t, "var", "get", "nomad/jobs/app")
	expect(t, code, out, errOut, 0, `"db_password": "s3cret"`)
	var got structs.VariableDecrypted
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	code, out2, errOut := e.runIn(t, out, "var", "put", "-in", "json", "-out", "table", "-", "user=dba")
	expect(t, code, out2, errOut, 0, `Successfully updated variable "nomad/jobs/app"!`, "user        = dba", "Check Index")
	// The same spec again is stale now.
	code, out2, errOut = e.runIn(t, out, "var", "put", "-in", "json", "-")
	expect(t, code, out2, errOut, 1, "does not match the variable's modify index")
	code, out2, errOut = e.runIn(t, out, "var", "put", "-in", "json", "-force", "-")
	expect(t, code, out2, errOut, 0, "Updated variable")
	code, out, errOut = e.run(t, "var", "put", "-check-index", "0", "nomad/jobs/app", "a=b")
	expect(t, code, out, errOut, 1, "does not match")

	// Specification files, HCL and JSON, with items from files.
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.nv.hcl")
	os.WriteFile(spec, []byte("path = \"from/spec\"\nitems {\n  port = 8080\n  host = \"db\"\n}\n"), 0o644)
	blob := filepath.Join(dir, "cert.pem")
	os.WriteFile(blob, []byte("-----CERT-----\n"), 0o644)
	code, out, errOut = e.run(t, "var", "put", "-out", "hcl", "@"+spec, "cert=@"+blob)
	expect(t, code, out, errOut, 0, `path      = "from/spec"`, `port = "8080"`, `cert = "-----CERT-----\n"`)
	code, out, errOut = e.run(t, "var", "get", "-out", "table", "from/spec")
	expect(t, code, out, errOut, 0, "Namespace   = default", "Path        = from/spec", "Items", "host = db")
	code, out, errOut = e.run(t, "var", "get", "-out", "go-template", "-template", "{{.Path}}:{{.Items.host}}", "from/spec")
	expect(t, code, out, errOut, 0, "from/spec:db")
	code, out, errOut = e.run(t, "var", "get", "missing/var")
	expect(t, code, out, errOut, 1, "Variable not found")
	code, out, errOut = e.run(t, "var", "put", "nomad/system", "a=b")
	expect(t, code, out, errOut, 1, "nomad/jobs")

	// Listing: JSON to a pipe, tables, terse, pages.
	for _, p := range []string{"list/1", "list/2", "list/3"} {
		if code, out, errOut := e.run(t, "var", "put", p, "k=v"); code != 0 {
			t.Fatal(out, errOut)
		}
	}
	code, out, errOut = e.run(t, "var", "list", "list/")
	expect(t, code, out, errOut, 0, `"Path": "list/1"`)
	code, out, errOut = e.run(t, "var", "list", "-out", "table", "list/")
	expect(t, code, out, errOut, 0, "Path", "Last Updated", "list/3")
	code, out, errOut = e.run(t, "var", "list", "-q", "-per-page", "2", "list/")
	expect(t, code, out, errOut, 0, "list/1\nlist/2\n", "Next page token: list/3")
	code, out, errOut = e.run(t, "var", "list", "-q", "-filter", `Path == "list/2"`)
	expect(t, code, out, errOut, 0)
	if out != "list/2\n" {
		t.Fatalf("filtered list %q", out)
	}

	code, out, errOut = e.run(t, "var", "purge", "-check-index", "1", "list/1")
	expect(t, code, out, errOut, 1, "does not match")
	code, out, errOut = e.run(t, "var", "purge", "list/1")
	expect(t, code, out, errOut, 0, `Successfully purged variable "list/1"!`)

	chdir(t, t.TempDir())
	code, out, errOut = runCLI(t, "var", "init")
	expect(t, code, out, errOut, 0, "Example variable specification written to spec.nv.hcl")
	code, out, errOut = runCLI(t, "var", "init", "-out", "json", "x.json")
	expect(t, code, out, errOut, 0, "x.json")
	code, out, errOut = e.run(t, "var", "put", "@x.json")
	expect(t, code, out, errOut, 0, `"path/to/variable"`)
}

func chdir(t *testing.T, dir string) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(old) })
}

func TestVarLockCommand(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	marker := filepath.Join(t.TempDir(), "ran")
	// The child sees the lock held, and its exit code is the command's.
	child := "touch " + marker + "; exit 3"
	code, out, errOut := e.run(t, "var", "lock", "-ttl", "10s", "-delay", "1s", "locks/job", child)
	expect(t, code, out, errOut, 3)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("child did not run")
	}
	v, err := e.srv.State().Snapshot().VariableByPath(nil, "default", "locks/job")
	if err != nil || v == nil || v.Lock != nil {
		t.Fatalf("after the child: %+v %v", v, err)
	}
	// While one holder runs, a second waits for it.
	done := make(chan int, 1)
	go func() {
		c, _, _ := e.run(t, "var", "lock", "-ttl", "10s", "-shell=false", "locks/job", "sleep", "1")
		done <- c
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := e.srv.State().Snapshot().VariableByPath(nil, "default", "locks/job")
		if v != nil && v.Lock != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first holder never locked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	code, out, errOut = e.run(t, "var", "lock", "-ttl", "10s", "-verbose", "locks/job", "true")
	expect(t, code, out, errOut, 0, "is locked; retrying")
	if first := <-done; first != 0 {
		t.Fatalf("first holder exit %d", first)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Fatal("second holder did not wait")
	}
}

func TestServiceCommands(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	ctx := context.Background()
	node := httpapitest.TestNode("n1", "")
	if _, err := e.srv.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	job := &structs.Job{ID: "web", Name: "web", Namespace: "default", Region: "global", Type: structs.JobTypeService,
		Priority: 50, Datacenters: []string{"dc1"}, TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: 2, EphemeralDisk: &structs.EphemeralDisk{SizeMB: 10},
			RestartPolicy:    &structs.RestartPolicy{Attempts: 1, Interval: time.Minute, Delay: time.Second, Mode: "fail"},
			ReschedulePolicy: &structs.ReschedulePolicy{},
			Tasks: []*structs.Task{{Name: "t", Driver: "raw_exec", Config: map[string]any{"command": "/bin/true"},
				Resources: &structs.Resources{CPU: 10, MemoryMB: 10}}},
		}}}
	if _, err := e.srv.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	var allocs []*structs.Allocation
	deadline := time.Now().Add(10 * time.Second)
	for len(allocs) < 2 && time.Now().Before(deadline) {
		allocs, _ = e.srv.State().AllocsByJob(nil, "default", "web")
		time.Sleep(20 * time.Millisecond)
	}
	var regs []*structs.ServiceRegistration
	for i, a := range allocs {
		regs = append(regs, &structs.ServiceRegistration{ID: "_nomad-task-" + a.ID + "-t-web-http", ServiceName: "web",
			Namespace: "default", NodeID: node.ID, Datacenter: "dc1", JobID: "web", AllocID: a.ID,
			Tags: []string{"cache", "db"}, Address: "127.0.0.1", Port: 22686 + i})
	}
	if _, err := e.srv.UpsertServiceRegistrations(ctx, node.ID, regs); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.run(t, "service", "list")
	expect(t, code, out, errOut, 0, "Service Name", "web", "[cache,db]")
	code, out, errOut = e.run(t, "service", "list", "-namespace", "*")
	expect(t, code, out, errOut, 0, "Namespace", "default")
	code, out, errOut = e.run(t, "service", "info", "web")
	expect(t, code, out, errOut, 0, "Job ID", "Address", "127.0.0.1:22686", shortID(allocs[0].ID))
	code, out, errOut = e.run(t, "service", "info", "-verbose", "web")
	expect(t, code, out, errOut, 0, "ID           = _nomad-task-", "Service Name = web", "Datacenter   = dc1")
	code, out, errOut = e.run(t, "service", "info", "-json", "web")
	expect(t, code, out, errOut, 0, `"ServiceName": "web"`)
	code, out, errOut = e.run(t, "service", "info", "-t", "{{range .}}{{.Port}} {{end}}", "web")
	expect(t, code, out, errOut, 0, "22686 22687")
	code, out, errOut = e.run(t, "service", "delete", "web", regs[0].ID)
	expect(t, code, out, errOut, 0, "Successfully deleted service registration")
	code, out, errOut = e.run(t, "service", "delete", "web", regs[0].ID)
	expect(t, code, out, errOut, 1, "Error deleting service registration")
	code, out, errOut = e.run(t, "service", "info", "nope")
	expect(t, code, out, errOut, 0, "No service registrations found")
}

func TestKeyringCommands(t *testing.T) {
	t.Parallel()
	e := newRealEnv(t)
	code, out, errOut := e.run(t, "operator", "root", "keyring", "list")
	expect(t, code, out, errOut, 0, "Key", "State", "active")
	first := strings.Fields(strings.Split(out, "\n")[1])[0]
	code, out, errOut = e.run(t, "operator", "root", "keyring", "rotate", "-verbose")
	expect(t, code, out, errOut, 0, "active", "<none>")
	code, out, errOut = e.run(t, "operator", "root", "keyring", "list")
	expect(t, code, out, errOut, 0, first, "inactive")
	code, out, errOut = e.run(t, "operator", "root", "keyring", "rotate", "-prepublish", "1h")
	expect(t, code, out, errOut, 0, "prepublished")
	code, out, errOut = e.run(t, "operator", "root", "keyring", "remove", first)
	expect(t, code, out, errOut, 0, "Removed encryption key")
	code, out, errOut = e.run(t, "operator", "root", "keyring", "rotate", "-now", "-prepublish", "1h")
	expect(t, code, out, errOut, 1, "Only one of -now or -prepublish")
}
