package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/client/hooks"
	"github.com/orch-project/orch/drivers"
	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// opsClient is a client backend whose allocation actions are recorded, and
// whose exec echoes its input and the terminal size it was given: the
// websocket, routing and authorization are under test here; the drivers'
// exec is covered by their own tests and the e2e tests.
type opsClient struct {
	*httpapitest.Client
	mu       sync.Mutex
	restarts []string
	signals  []string
}

func (c *opsClient) RestartAlloc(_ context.Context, allocID, task string) error {
	if task == "dead" {
		return fmt.Errorf("task %q: %w", task, hooks.ErrTaskNotRunning)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restarts = append(c.restarts, allocID+"/"+task)
	return nil
}

func (c *opsClient) SignalAlloc(allocID, task, sig string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signals = append(c.signals, allocID+"/"+task+"/"+sig)
	return nil
}

func (c *opsClient) ExecRunsOnHost(_, task string) (bool, error) {
	if task == "missing" {
		return false, fmt.Errorf("%w %q", structs.ErrUnknownTask, task)
	}
	return task == "host", nil
}

func (c *opsClient) ExecAlloc(ctx context.Context, _, task string, req *drivers.ExecRequest) (int, error) {
	if req.TTY {
		select {
		case sz := <-req.Resize:
			fmt.Fprintf(req.Stdout, "size:%dx%d\n", sz.Height, sz.Width)
		case <-time.After(10 * time.Second):
			return 0, fmt.Errorf("no terminal size")
		}
	}
	in, err := io.ReadAll(req.Stdin)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(req.Stdout, "%s:%s:%s", task, strings.Join(req.Command, " "), in)
	fmt.Fprint(req.Stderr, "on-stderr")
	return 9, nil
}

// opsAgent is an agent with ACLs over a recording opsClient that runs one
// allocation of job.
type opsAgent struct {
	cl      *opsClient
	url     string
	allocID string
	token   func(caps string) string
}

func newOpsAgent(t *testing.T, job *structs.Job) *opsAgent {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	cl := &opsClient{Client: httpapitest.NewClient(structs.GenerateUUID())}
	srv := httptest.NewServer(New(Config{Server: b, Client: cl, Logger: quietLogger(), ACLEnabled: true, Resolver: b.Resolver()}))
	t.Cleanup(srv.Close)
	ctx := t.Context()
	if _, _, err := b.BootstrapACL(ctx, ""); err != nil {
		t.Fatal(err)
	}
	node := httpapitest.TestNode("n1", strings.TrimPrefix(srv.URL, "http://"))
	cl.ID = node.ID
	if _, err := b.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	allocs, _ := b.State().AllocsByJob(nil, "default", job.ID)
	if len(allocs) != 1 {
		t.Fatal("no allocation")
	}
	cl.AddAlloc(allocs[0].ID, t.TempDir())
	cl.SetAllocation(allocs[0])
	token := func(caps string) string {
		name := structs.GenerateUUID()[:8]
		rules := fmt.Sprintf("namespace \"default\" {\n  capabilities = [%s]\n}\n", caps)
		if _, err := b.UpsertACLPolicies(ctx, []*structs.ACLPolicy{{Name: name, Rules: rules}}); err != nil {
			t.Fatal(err)
		}
		tok, _, err := b.UpsertACLToken(ctx, &structs.ACLToken{Type: structs.ACLTokenTypeClient, Policies: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.SecretID
	}
	return &opsAgent{cl: cl, url: srv.URL, allocID: allocs[0].ID, token: token}
}

// The exec websocket speaks Nomad's frames (driven here by nomad/api's own
// client): input arrives, output returns on its streams, the terminal size
// is delivered and the exit code comes back. alloc-exec suffices for an
// isolated task; a task without isolation from the node takes
// alloc-node-exec as well. Restart and signal reach the client; a task
// that does not run is a 400.
func TestAllocExecRestartSignalOverHTTP(t *testing.T) {
	oa := newOpsAgent(t, testJob("web", 1))
	cl, token, ctx := oa.cl, oa.token, t.Context()
	execOnly := token(`"alloc-exec", "read-job"`)
	nodeExec := token(`"alloc-exec", "alloc-node-exec", "read-job"`)
	lifecycle := token(`"alloc-lifecycle", "read-job"`)

	client := func(secret string) *nomad.Client {
		c, err := nomad.NewClient(&nomad.Config{Address: oa.url, SecretID: secret})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alloc, _, err := client(execOnly).Allocations().Info(oa.allocID, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := func(c *nomad.Client, task string, tty bool) (string, string, int, error) {
		var out, errb bytes.Buffer
		sizes := make(chan nomad.TerminalSize, 1)
		sizes <- nomad.TerminalSize{Height: 24, Width: 80}
		ectx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		code, err := c.Allocations().Exec(ectx, alloc, task, tty, []string{"cat", "-"}, strings.NewReader("in-put"), &out, &errb, sizes, nil)
		return out.String(), errb.String(), code, err
	}
	out, errOut, code, err := run(client(execOnly), "isolated", false)
	if err != nil || code != 9 || out != "isolated:cat -:in-put" || errOut != "on-stderr" {
		t.Fatalf("exec: code %d err %v out %q stderr %q", code, err, out, errOut)
	}
	if out, _, code, err = run(client(execOnly), "isolated", true); err != nil || code != 9 || out != "size:24x80\nisolated:cat -:in-put" {
		t.Fatalf("exec on a terminal: code %d err %v out %q", code, err, out)
	}
	if _, _, _, err = run(client(execOnly), "host", false); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("exec into a host task with alloc-exec only: %v", err)
	}
	if _, _, code, err = run(client(nodeExec), "host", false); err != nil || code != 9 {
		t.Fatalf("exec into a host task with alloc-node-exec: code %d err %v", code, err)
	}
	if _, _, _, err = run(client(lifecycle), "isolated", false); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("exec without alloc-exec: %v", err)
	}
	if _, _, _, err = run(client(execOnly), "missing", false); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("exec into an unknown task: %v", err)
	}

	lc := client(lifecycle)
	if err := lc.Allocations().Restart(alloc, "main", nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.Allocations().Signal(alloc, nil, "main", "SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Allocations().Signal(alloc, nil, "main", "SIGBOGUS"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("bogus signal: %v", err)
	}
	if err := lc.Allocations().Restart(alloc, "dead", nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("restart of a task that does not run: %v", err)
	}
	if err := client(execOnly).Allocations().Restart(alloc, "main", nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("restart without alloc-lifecycle: %v", err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.restarts) != 1 || cl.restarts[0] != alloc.ID+"/main" || len(cl.signals) != 1 || cl.signals[0] != alloc.ID+"/main/SIGHUP" {
		t.Fatalf("restarts %v signals %v", cl.restarts, cl.signals)
	}
}
