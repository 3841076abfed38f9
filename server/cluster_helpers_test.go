package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testCluster starts n servers in this process, each with its own data dir
// and Raft on disk, bootstrapped together (no gossip), and waits for a
// leader.
func testCluster(t testing.TB, n int, adjust func(i int, c *Config)) []*Server {
	t.Helper()
	var servers []*Server
	var conf raft.Configuration
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cfg := Config{
			DataDir: t.TempDir(), NodeName: fmt.Sprintf("s%d", i+1), BindAddr: "127.0.0.1", RaftPort: port,
			HTTPAddr: fmt.Sprintf("127.0.0.1:%d", port), BootstrapExpect: n, NumWorkers: 1,
			// Test nodes do not heartbeat: keep them alive for the test.
			Heartbeat: HeartbeatConfig{MinTTL: time.Hour},
			Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		}
		if adjust != nil {
			adjust(i, &cfg)
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown() })
		servers = append(servers, s)
		conf.Servers = append(conf.Servers, raft.Server{ID: s.raftID(), Address: raft.ServerAddress(s.RaftAddr())})
	}
	for _, s := range servers {
		if err := s.raft.BootstrapCluster(conf).Error(); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader(t, servers)
	return servers
}

// waitLeader waits until one of servers leads and returns it.
func waitLeader(t testing.TB, servers []*Server) *Server {
	t.Helper()
	var leader *Server
	waitUntil(t, 15*time.Second, "a leader", func() bool {
		for _, s := range servers {
			if s.IsLeader() && s.AwaitLeaderReady(context.Background()) == nil {
				leader = s
				return true
			}
		}
		return false
	})
	return leader
}
