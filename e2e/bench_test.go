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
// Besides p50/p99 of that, it reports the p50 of each phase, from the
// timestamps the system records itself (the leader's CreateTime of the
// allocation, the task's Received, Task Setup and Started events):
// submit → placed, → received by the client, → setup begun, → started,
// → seen running through the API.
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
	samples := make([]e1Sample, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		samples = append(samples, submitAndWaitRunning(b, ctx, c, fmt.Sprintf("e1-%d", i)))
	}
	b.StopTimer()
	pct := func(q float64, f func(e1Sample) time.Duration) float64 {
		v := make([]time.Duration, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return float64(v[int(q*float64(len(v)-1))].Microseconds()) / 1000
	}
	total := func(s e1Sample) time.Duration { return s.total }
	b.ReportMetric(pct(0.5, total), "p50-ms")
	b.ReportMetric(pct(0.99, total), "p99-ms")
	for i, name := range e1Phases {
		b.ReportMetric(pct(0.5, func(s e1Sample) time.Duration { return s.phases[i] }), name+"-p50-ms")
	}
}

// e1Phases name the parts of a submission E1 reports, in order.
var e1Phases = []string{"placed", "received", "setup", "started", "seen"}

type e1Sample struct {
	total  time.Duration
	phases [5]time.Duration
}

func submitAndWaitRunning(b *testing.B, ctx context.Context, c *api.Client, id string) e1Sample {
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
				return e1SampleOf(start, time.Now(), al)
			}
		}
		if time.Since(start) > 30*time.Second {
			b.Fatalf("job %s not running after 30s", id)
		}
		index = qm.LastIndex
	}
}

// e1SampleOf splits submit → seen at the allocation's recorded times (one
// clock: server and client are the same process).
func e1SampleOf(start, seen time.Time, al *structs.AllocListStub) e1Sample {
	first := map[string]int64{}
	if ts := al.TaskStates["t"]; ts != nil {
		for _, e := range ts.Events {
			if _, ok := first[e.Type]; !ok {
				first[e.Type] = e.Time
			}
		}
	}
	marks := []int64{start.UnixNano(), al.CreateTime, first[structs.TaskReceived], first[structs.TaskSetup],
		first[structs.TaskStarted], seen.UnixNano()}
	s := e1Sample{total: seen.Sub(start)}
	for i := range s.phases {
		s.phases[i] = time.Duration(marks[i+1] - marks[i])
	}
	return s
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
