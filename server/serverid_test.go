package server

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/raft"

	"github.com/orch-project/orch/structs"
)

func configIDs(t testing.TB, s *Server) []string {
	t.Helper()
	conf, _, err := s.raftConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, srv := range conf.Servers {
		out = append(out, string(srv.ID))
	}
	return out
}

func restartServer(t testing.TB, s *Server, adjust func(*Config)) *Server {
	t.Helper()
	cfg := s.cfg
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(&cfg)
	}
	s2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Shutdown() })
	return s2
}

// A server's Raft ID is a UUID kept in <data-dir>/server/node-id across
// restarts.
func TestServerIDIsAPersistedUUID(t *testing.T) {
	dir := t.TempDir()
	s := testServer(t, dir)
	id := s.RaftID()
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("raft ID %q is not a UUID", id)
	}
	b, err := os.ReadFile(serverIDPath(dir))
	if err != nil || strings.TrimSpace(string(b)) != id {
		t.Fatalf("node-id file %q, raft ID %q (%v)", b, id, err)
	}
	if ids := configIDs(t, s); len(ids) != 1 || ids[0] != id {
		t.Fatalf("raft configuration %v", ids)
	}
	s2 := restartServer(t, s, nil)
	if s2.RaftID() != id {
		t.Fatalf("ID changed across a restart: %s -> %s", id, s2.RaftID())
	}
	waitUntil(t, 10*time.Second, "leadership after restart", func() bool { return s2.AwaitLeaderReady(context.Background()) == nil })
}

// A lone server whose data dir predates server IDs (its address is its
// Raft ID) moves to a UUID at its next start, keeping its state.
func TestLoneLegacyServerMigratesToAUUID(t *testing.T) {
	dir := t.TempDir()
	s := testServerWith(t, dir, func(c *Config) { c.legacyAddressID = true })
	if s.RaftID() != s.RaftAddr() {
		t.Fatalf("legacy server runs with ID %s", s.RaftID())
	}
	job := testJob("kept", 1, 64)
	job.Type = structs.JobTypeBatch
	if _, err := s.RegisterJob(context.Background(), &structs.JobRegisterRequest{Job: job}); err != nil {
		t.Fatal(err)
	}
	s2 := restartServer(t, s, func(c *Config) { c.legacyAddressID = false })
	if _, err := uuid.Parse(s2.RaftID()); err != nil {
		t.Fatalf("after the migration the raft ID is %q", s2.RaftID())
	}
	waitUntil(t, 10*time.Second, "leadership after the migration", func() bool { return s2.AwaitLeaderReady(context.Background()) == nil })
	if ids := configIDs(t, s2); len(ids) != 1 || ids[0] != s2.RaftID() {
		t.Fatalf("raft configuration after the migration: %v", ids)
	}
	if j, _ := s2.State().JobByID(nil, "default", "kept"); j == nil {
		t.Fatal("state lost in the migration")
	}
	if b, _ := os.ReadFile(serverIDPath(dir)); strings.TrimSpace(string(b)) != s2.RaftID() {
		t.Fatalf("node-id file %q after the migration", b)
	}
}

// The leader of three, leaving, hands leadership over first (no election
// gap) and is removed from the configuration; a server from before server
// IDs leaving that way comes back under a UUID.
func TestLeaderLeavesByHandingOver(t *testing.T) {
	servers := testCluster(t, 3, func(_ int, c *Config) { c.legacyAddressID = true })
	leader := waitLeader(t, servers)
	var rest []*Server
	for _, s := range servers {
		if s != leader {
			rest = append(rest, s)
		}
	}
	start := time.Now()
	var handedAfter time.Duration
	leader.Leave(15*time.Second, func() {
		// What the gossip leave event makes the new leader do (retried:
		// under load an election may interrupt it, as autopilot's dead
		// server cleanup would then finish it).
		nl := waitLeader(t, rest)
		handedAfter = time.Since(start)
		var err error
		for i := 0; i < 20; i++ {
			if err = nl.RemoveRaftPeer(context.Background(), leader.RaftID(), ""); err == nil || strings.Contains(err.Error(), "not found") {
				return
			}
			time.Sleep(200 * time.Millisecond)
			nl = waitLeader(t, rest)
		}
		t.Errorf("removing the leaving server: %v", err)
	})
	if leader.IsLeader() {
		t.Fatal("the leaving server still leads")
	}
	t.Logf("leadership handed over after %s", handedAfter.Round(time.Millisecond))
	if handedAfter > 900*time.Millisecond {
		t.Errorf("a new leader took %s, as long as an election timeout (1s): leadership was not handed over", handedAfter)
	}
	nl := waitLeader(t, rest)
	for _, id := range configIDs(t, nl) {
		if id == leader.RaftID() {
			t.Fatalf("the leaving server is still in the configuration: %v", configIDs(t, nl))
		}
	}
	// It left as a legacy server: its next start is under a UUID.
	id, err := existingServerID(leader.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("the legacy server's ID for its next start is %q", id)
	}
	back := restartServer(t, leader, func(c *Config) { c.legacyAddressID = false })
	if back.RaftID() != id {
		t.Fatalf("restarted with ID %s, want %s", back.RaftID(), id)
	}
	// The leader adds it back (gossip does this in an agent).
	if err := nl.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(back.RaftAddr()), 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the rejoined server replicating", func() bool {
		return back.AppliedIndex() >= nl.AppliedIndex() && back.StateRestored()
	})
}
