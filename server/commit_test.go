package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/raftfsm"
	"github.com/orch-project/orch/structs"
)

// An eval committed by any write path reaches the broker (pending) or the
// blocked tracker (blocked) without the path enqueueing it: here the
// entries are committed with nothing but raftApply, as a new write path
// that knows nothing of the broker would.
func TestEvalCommittedByAnyWritePathIsScheduled(t *testing.T) {
	s := testServer(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.RegisterNode(ctx, testNode("n1", 4000, 4096)); err != nil {
		t.Fatal(err)
	}
	job := testJob("raw", 2, 128)
	if _, err := s.raftApply(raftfsm.JobRegisterType, &raftfsm.JobRegister{Job: job, SubmitTime: s.now()}); err != nil {
		t.Fatal(err)
	}
	ev := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: "default", Priority: 50, Type: structs.JobTypeService,
		TriggeredBy: structs.EvalTriggerJobRegister, JobID: "raw", Status: structs.EvalStatusPending,
	}
	if _, err := s.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: []*structs.Evaluation{ev}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the eval scheduled", func() bool {
		e, _ := s.State().EvalByID(nil, ev.ID)
		return e != nil && e.Status == structs.EvalStatusComplete && len(liveAllocs(t, s, "raw")) == 2
	})

	blocked := &structs.Evaluation{
		ID: structs.GenerateUUID(), Namespace: "default", Priority: 50, Type: structs.JobTypeService,
		TriggeredBy: structs.EvalTriggerQueuedAllocs, JobID: "raw", Status: structs.EvalStatusBlocked,
	}
	if _, err := s.raftApply(raftfsm.EvalUpsertType, &raftfsm.EvalUpsert{Evals: []*structs.Evaluation{blocked}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the blocked eval tracked", func() bool { return s.blocked.Len() == 1 })
	// A node joining frees capacity: the FSM reports it and the blocked
	// eval runs, again with no endpoint involved.
	if _, err := s.raftApply(raftfsm.NodeRegisterType, &raftfsm.NodeRegister{Node: testNode("n2", 4000, 4096)}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the blocked eval run", func() bool {
		e, _ := s.State().EvalByID(nil, blocked.ID)
		return s.blocked.Len() == 0 && e != nil && e.Status == structs.EvalStatusComplete
	})
}

// A server stops, naming the entry, when a committed entry cannot be
// applied, and stops again at the same entry when restarted: it never
// skips it. The server runs in a child process (this test binary
// re-executed), since stopping means the process dies.
func TestServerStopsOnEntryItCannotApply(t *testing.T) {
	if os.Getenv("ORCH_TEST_HALT_CHILD") != "" {
		haltChild()
		return
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	run := func(mode string) (string, int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServerStopsOnEntryItCannotApply$", "-test.v")
		cmd.Env = append(os.Environ(), "ORCH_TEST_HALT_CHILD="+mode, "ORCH_TEST_DIR="+dir, "ORCH_TEST_PORT="+port)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, mode := range []string{"apply", "restart"} {
		out, code := run(mode)
		if code == 0 || !strings.Contains(out, "stopping the server: raft entry cannot be applied") ||
			!strings.Contains(out, "type MessageType(42)) cannot be applied: decode: unknown message type 42") ||
			strings.Contains(out, "CHILD SURVIVED") {
			t.Fatalf("%s: exit %d, output:\n%s", mode, code, out)
		}
		if !strings.Contains(out, "raft entry ") {
			t.Fatalf("%s: the message does not name the entry's index:\n%s", mode, out)
		}
	}
}

func haltChild() {
	port, _ := strconv.Atoi(os.Getenv("ORCH_TEST_PORT"))
	s, err := New(Config{
		DataDir: os.Getenv("ORCH_TEST_DIR"), NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port,
		BootstrapExpect: 1, Dev: true, NumWorkers: 1,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		panic(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.IsLeader() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if os.Getenv("ORCH_TEST_HALT_CHILD") == "apply" {
		// An entry of a type this version does not know, as a newer
		// leader might write without the ignore flag.
		_ = s.raft.Apply([]byte{42, '{', '}'}, time.Second).Error()
	}
	time.Sleep(5 * time.Second)
	os.Stdout.WriteString("CHILD SURVIVED\n")
	os.Exit(0)
}
