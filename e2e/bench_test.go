package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/api"
	"github.com/orch-project/orch/structs"
)

// BenchmarkSubmitToRunning is E1: the time from PUT /v1/jobs until the API
// reports the raw_exec task's allocation running, on a warm dev agent.
// Run: go test -run '^$' -bench SubmitToRunning -benchtime 100x ./e2e/
func BenchmarkSubmitToRunning(b *testing.B) {
	a := startAgent(b, newIP(), b.TempDir(), "-dev")
	defer a.kill()
	waitReadyB(b, a)
	c, err := api.NewClient(api.Config{Address: a.addr()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Warm up the path once.
	submitAndWaitRunning(b, ctx, c, "warm")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = append(lat, submitAndWaitRunning(b, ctx, c, fmt.Sprintf("e1-%d", i)))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

func submitAndWaitRunning(b *testing.B, ctx context.Context, c *api.Client, id string) time.Duration {
	job := &structs.Job{
		ID: id, Name: id, Type: structs.JobTypeService, Datacenters: []string{"*"},
		TaskGroups: []*structs.TaskGroup{{
			Name: "g", Count: 1,
			Tasks: []*structs.Task{{
				Name: "t", Driver: "raw_exec",
				Config:    map[string]any{"command": "/bin/sleep", "args": []string{"300"}},
				Resources: &structs.Resources{CPU: 10, MemoryMB: 16},
			}},
		}},
	}
	start := time.Now()
	var resp structs.JobRegisterResponse
	if err := c.Write(ctx, "PUT", "/v1/jobs", nil, &structs.JobRegisterRequest{Job: job}, &resp); err != nil {
		b.Fatalf("register %s: %v", id, err)
	}
	var index uint64
	for {
		var allocs []*structs.AllocListStub
		qm, err := c.Query(ctx, "/v1/job/"+id+"/allocations", &api.QueryOptions{WaitIndex: index, WaitTime: 10 * time.Second}, &allocs)
		if err != nil {
			b.Fatalf("allocations of %s: %v", id, err)
		}
		for _, al := range allocs {
			if al.ClientStatus == structs.AllocClientStatusRunning {
				return time.Since(start)
			}
		}
		if time.Since(start) > 30*time.Second {
			b.Fatalf("job %s not running after 30s", id)
		}
		index = qm.LastIndex
	}
}

func waitReadyB(b *testing.B, a *agentProc) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var nodes []*structs.NodeListStub
		var leader string
		if getJSON(a.addr()+"/v1/status/leader", &leader) == nil && leader != "" &&
			getJSON(a.addr()+"/v1/nodes", &nodes) == nil && len(nodes) == 1 && nodes[0].Status == "ready" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("dev agent not ready:\n%s", tail(a.logs.String(), 40))
}

// BenchmarkDevAgentStart measures the time from exec until a dev agent has
// a leader and a ready node, and its RSS after idling.
// Run: go test -run '^$' -bench DevAgentStart -benchtime 5x ./e2e/
func BenchmarkDevAgentStart(b *testing.B) {
	var total time.Duration
	var rssKB int
	for i := 0; i < b.N; i++ {
		start := time.Now()
		a := startAgent(b, newIP(), b.TempDir(), "-dev")
		waitReadyB(b, a)
		total += time.Since(start)
		if i == b.N-1 {
			b.StopTimer()
			time.Sleep(5 * time.Second)
			rssKB = vmRSS(a.cmd.Process.Pid)
			b.StartTimer()
		}
		a.kill()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
	b.ReportMetric(float64(rssKB)/1024, "idle-RSS-MB")
}

func vmRSS(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}
