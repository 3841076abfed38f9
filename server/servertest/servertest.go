// Package servertest starts real one-server clusters (Raft on disk, the
// real scheduler and leader loops) behind the HTTP API, for tests of the
// layers above the server: the API, the CLI, clients.
package servertest

import (
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/server"
)

// Server starts a dev-mode server on a free port in a temporary data dir,
// stopped when the test ends. It returns once the server leads and its
// first root key exists.
func Server(t testing.TB) *server.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, err := server.New(server.Config{
		DataDir: t.TempDir(), NodeName: "s1", BindAddr: "127.0.0.1", RaftPort: port, HTTPAddr: "127.0.0.1:0",
		BootstrapExpect: 1, Dev: true, NumWorkers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Nodes tests register directly do not heartbeat: keep them up.
		Heartbeat: server.HeartbeatConfig{MinTTL: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		keys, _ := srv.State().Snapshot().RootKeys(nil)
		if srv.IsLeader() && len(keys) > 0 {
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatal("test server: no leadership or root key after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HTTP starts Server behind the HTTP API and returns both and the API's URL.
func HTTP(t testing.TB) (*server.Server, string) {
	t.Helper()
	srv := Server(t)
	hs := httptest.NewServer(httpapi.New(httpapi.Config{Server: srv, Services: srv, Variables: srv,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(hs.Close)
	return srv, hs.URL
}
