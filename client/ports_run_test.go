package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// TestMain lets the test binary double as a task that listens on its
// NOMAD_PORT_http, so port tests need nothing beyond the binary itself.
func TestMain(m *testing.M) {
	if os.Getenv("ORCH_TEST_LISTEN") == "1" {
		addr := net.JoinHostPort(os.Getenv("NOMAD_IP_http"), os.Getenv("NOMAD_PORT_http"))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Printf("listening on %s\n", os.Getenv("NOMAD_PORT_http"))
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(4)
			}
			c.Close()
		}
	}
	os.Exit(m.Run())
}

func TestRawExecTaskBindsDynamicPort(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t)
	dataDir := t.TempDir()
	start := func() (*Client, func()) {
		c, err := New(Config{DataDir: dataDir, Servers: []string{srv.rpc}, HTTPAddr: "127.0.0.1:4646", Datacenter: "dc9",
			Logger:  testLogger(),
			Options: map[string]string{"driver.raw_exec.enable": "1", "min_dynamic_port": "24100", "max_dynamic_port": "24199"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.Run(ctx) }()
		return c, func() { cancel(); <-done }
	}
	c, stop := start()
	srv.waitFor(t, "registration", func() bool { return srv.node(c.NodeID()) != nil })
	alloc := srv.runJob(t, "ports", func(g *structs.TaskGroup) {
		task := g.Tasks[0]
		task.Config = map[string]any{"command": exe}
		task.Env = map[string]string{"ORCH_TEST_LISTEN": "1"}
		g.Networks = []*structs.NetworkResource{{Mode: "host", DynamicPorts: []structs.Port{{Label: "http"}}}}
	})

	var port int
	srv.waitFor(t, "reported port", func() bool {
		u := srv.alloc(alloc.ID)
		if u == nil || u.AllocatedResources == nil || len(u.AllocatedResources.Shared.Ports) != 1 {
			return false
		}
		port = u.AllocatedResources.Shared.Ports[0].Value
		return u.ClientStatus == structs.AllocClientStatusRunning
	})
	if port < 24100 || port > 24199 {
		t.Fatalf("port %d outside the configured range", port)
	}
	dir, _ := c.AllocDir(alloc.ID)
	logFile := filepath.Join(dir, "alloc", "logs", "web.stdout.0")
	srv.waitFor(t, "task output", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "listening on "+strconv.Itoa(port))
	})
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		t.Fatalf("task does not listen on its port: %v", err)
	}
	conn.Close()

	// A restarted client keeps the assignment.
	stop()
	c2, stop2 := start()
	defer stop2()
	srv.waitFor(t, "restored", func() bool { _, ok := c2.Allocation(alloc.ID); return ok })
	a, _ := c2.Allocation(alloc.ID)
	if a.AllocatedResources == nil || len(a.AllocatedResources.Shared.Ports) != 1 ||
		a.AllocatedResources.Shared.Ports[0].Value != port {
		t.Fatalf("ports after restart: %+v", a)
	}
	if _, err := srv.DeregisterJob(context.Background(), "default", "ports", structs.JobDeregisterOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.waitFor(t, "stopped", func() bool {
		_, held := c2.ports.Lookup(alloc.ID)
		return !held
	})
}
