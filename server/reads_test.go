package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// A leader cut off from its quorum never vouches for a consistent read,
// even while it still believes it leads.
func TestConsistentReadNeedsAQuorum(t *testing.T) {
	servers := testCluster(t, 3, nil)
	leader := waitLeader(t, servers)
	if err := leader.ConsistentRead(context.Background()); err != nil {
		t.Fatalf("consistent read on a healthy leader: %v", err)
	}
	for _, s := range servers {
		if s != leader {
			if err := s.ConsistentRead(context.Background()); err == nil {
				t.Fatal("a follower vouched for a consistent read")
			}
			_ = s.Shutdown()
		}
	}
	start := time.Now()
	err := leader.ConsistentRead(context.Background())
	if err == nil {
		t.Fatal("a leader without its quorum vouched for a consistent read")
	}
	t.Logf("refused after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// A restarted server reports its state restored only once it holds what
// it held before, and from then on never holds less.
func TestStateRestoredOnlyWithTheWholeLog(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	ctx := context.Background()
	const jobs = 20
	for i := 0; i < jobs; i++ {
		job := testJob(fmt.Sprintf("j%d", i), 1, 64)
		job.Type = structs.JobTypeBatch
		if _, err := s.RegisterJob(ctx, &structs.JobRegisterRequest{Job: job}); err != nil {
			t.Fatal(err)
		}
	}
	if !s.StateRestored() {
		t.Fatal("a running leader reports its state not restored")
	}
	before := s.raft.AppliedIndex()
	port := s.cfg.RaftPort
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{DataDir: dir, NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port, BootstrapExpect: 1, Dev: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	if s2.restoreTarget < before {
		t.Fatalf("restore target %d below the index applied before the restart %d", s2.restoreTarget, before)
	}
	sawUnrestored := false
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !s2.StateRestored() {
			sawUnrestored = true
			time.Sleep(time.Millisecond)
			continue
		}
		all, _ := s2.State().JobsByIDPrefix(nil, "default", "")
		if len(all) != jobs {
			t.Fatalf("restored state holds %d of %d jobs (target %d, raft applied %d, fsm applied %d, before %d)", len(all), jobs, s2.restoreTarget, s2.raft.AppliedIndex(), s2.fsm.AppliedIndex(), before)
		}
		t.Logf("not restored for a while after start: %v", sawUnrestored)
		return
	}
	t.Fatal("state never restored")
}
