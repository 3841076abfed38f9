package client

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/server"
)

// TestRegistrationFollowsLocalElection: a client whose agent also runs a
// server registers as soon as that server is an elected, ready leader, not
// at its next backoff step. The client starts first and fails until its
// backoff is 1.6 s; the server then starts and elects itself; without the
// wake-up the next attempt would come ~1 s after the election.
func TestRegistrationFollowsLocalElection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rpc := "127.0.0.1:" + strconv.Itoa(port)

	// As in the agent, LocalLeader reads the local server's gate; the
	// server only exists once created below, which closes created.
	var mu sync.Mutex
	var srv *server.Server
	created := make(chan struct{})
	localLeader := func() (bool, <-chan struct{}) {
		mu.Lock()
		defer mu.Unlock()
		if srv == nil {
			return false, created
		}
		return srv.LeaderReady()
	}
	c, err := New(Config{DataDir: t.TempDir(), NodeName: "test-node", Datacenter: "dc9", Servers: []string{rpc},
		Logger: testLogger(), HTTPAddr: "127.0.0.1:4646", Options: map[string]string{"driver.raw_exec.enable": "1"},
		LocalLeader: localLeader})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// Attempts at 0, 0.1, 0.3, 0.7 and 1.5 s fail: the next waits 1.6 s.
	time.Sleep(1600 * time.Millisecond)

	s, err := server.New(server.Config{
		DataDir: t.TempDir(), NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port, HTTPAddr: "127.0.0.1:0",
		BootstrapExpect: 1, Dev: true, NumWorkers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Heartbeat: server.HeartbeatConfig{MinTTL: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	mu.Lock()
	srv = s
	mu.Unlock()
	close(created)
	ts := &testServer{Server: s, rpc: rpc}
	ts.waitFor(t, "leadership", func() bool { ready, _ := s.LeaderReady(); return ready })
	elected := time.Now()
	ts.waitFor(t, "registration", func() bool { return c.NodeID() != "" && ts.node(c.NodeID()) != nil })
	if d := time.Since(elected); d > 500*time.Millisecond {
		t.Fatalf("registered %s after the local server was elected; want it at once", d)
	}
}
