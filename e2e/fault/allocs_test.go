package fault

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orch-project/orch/structs"
)

// The allocation side of a run: a service job whose tasks append
// "<job> <alloc index> <alloc id> <unix ns>" to a beats file every 100 ms,
// so what actually ran, and when, is read from the tasks' own record
// rather than from the servers' view of it.

const (
	sentinelJob = "sentinel"
	// sentinelKill is the tasks' kill_timeout; they exit on SIGTERM
	// within a beat, so the kill never waits for it.
	sentinelKill = 2 * time.Second
	beatEvery    = 100 * time.Millisecond
)

// sentinelSpec sizes the job so that each client fits exactly perNode
// allocations by memory: a plan that overcommits a node is visible.
type sentinelSpec struct {
	count    int
	memoryMB int
	beats    string
}

func sentinelJobReq(s sentinelSpec) *structs.JobRegisterRequest {
	script := fmt.Sprintf(`while true; do echo "$NOMAD_JOB_NAME $NOMAD_ALLOC_INDEX $NOMAD_ALLOC_ID $(date +%%s%%N)" >> %s; sleep 0.1; done`, s.beats)
	return &structs.JobRegisterRequest{Job: &structs.Job{
		ID: sentinelJob, Name: sentinelJob, Type: structs.JobTypeService, Datacenters: []string{"*"},
		TaskGroups: []*structs.TaskGroup{{Name: "g", Count: s.count, Tasks: []*structs.Task{{
			Name: "beat", Driver: "raw_exec",
			Config:      map[string]any{"command": "/bin/sh", "args": []string{"-c", script}},
			KillTimeout: sentinelKill,
			Resources:   &structs.Resources{CPU: 20, MemoryMB: s.memoryMB},
		}}}},
	}}
}

// nodeCapacity reads every node's schedulable capacity.
func nodeCapacity(c *cluster) (map[string]structs.ComparableResources, error) {
	l := c.leader()
	if l == nil {
		return nil, fmt.Errorf("no leader")
	}
	var stubs []*structs.NodeListStub
	if err := getJSON(l.url()+"/v1/nodes", &stubs); err != nil {
		return nil, err
	}
	out := map[string]structs.ComparableResources{}
	for _, s := range stubs {
		var n structs.Node
		if err := getJSON(l.url()+"/v1/node/"+s.ID, &n); err != nil {
			return nil, err
		}
		out[n.ID] = n.Comparable()
	}
	return out, nil
}

// startSentinel registers the job with two allocations' room per client
// less one, and waits until all run.
func startSentinel(c *cluster, beats string) (sentinelSpec, map[string]structs.ComparableResources) {
	t := c.t
	t.Helper()
	caps, err := nodeCapacity(c)
	if err != nil {
		t.Fatal(err)
	}
	var minMem int64 = -1
	for _, r := range caps {
		if minMem < 0 || r.MemoryMB < minMem {
			minMem = r.MemoryMB
		}
	}
	// 0.4 of a node: two fit, three do not.
	spec := sentinelSpec{count: 2*len(c.clients) - 1, memoryMB: int(minMem * 4 / 10), beats: beats}
	l := c.leader()
	if code, _, body := request("PUT", l.url()+"/v1/jobs", sentinelJobReq(spec), 10*time.Second); code != 200 {
		t.Fatalf("registering %s: %d %s", sentinelJob, code, body)
	}
	waitFor(t, 60*time.Second, "every sentinel allocation running", func() (bool, string) {
		n, info := runningSentinels(c)
		return n == spec.count, info
	})
	return spec, caps
}

func runningSentinels(c *cluster) (int, string) {
	l := c.leader()
	if l == nil {
		return 0, "no leader"
	}
	var allocs []*structs.AllocListStub
	if err := getJSON(l.url()+"/v1/job/"+sentinelJob+"/allocations", &allocs); err != nil {
		return 0, err.Error()
	}
	n := 0
	var states []string
	for _, a := range allocs {
		if a.DesiredStatus == structs.AllocDesiredStatusRun && a.ClientStatus == structs.AllocClientStatusRunning {
			n++
		}
		states = append(states, a.Name+":"+a.DesiredStatus+"/"+a.ClientStatus)
	}
	sort.Strings(states)
	return n, strings.Join(states, " ")
}

// overcommitSampler reads the allocations from a random server's replica
// every 500 ms and records every node whose live allocations ask for more
// than it has. Any replica state is a committed prefix of the log, so a
// single overcommitted one is a bug.
type overcommitSampler struct {
	c       *cluster
	caps    map[string]structs.ComparableResources
	mu      sync.Mutex
	samples int
	bad     []string
}

func (o *overcommitSampler) run(ctx context.Context, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	for sleepCtx(ctx, 500*time.Millisecond) {
		s := o.c.servers[rng.Intn(len(o.c.servers))]
		var allocs []*structs.AllocListStub
		if getJSON(s.url()+"/v1/allocations?stale", &allocs) != nil {
			continue
		}
		if msg := overcommitted(allocs, o.caps); msg != "" {
			o.mu.Lock()
			o.bad = append(o.bad, s.name()+": "+msg)
			o.mu.Unlock()
		}
		o.mu.Lock()
		o.samples++
		o.mu.Unlock()
	}
}

func overcommitted(allocs []*structs.AllocListStub, caps map[string]structs.ComparableResources) string {
	used := map[string]structs.ComparableResources{}
	names := map[string][]string{}
	for _, a := range allocs {
		full := structs.Allocation{DesiredStatus: a.DesiredStatus, ClientStatus: a.ClientStatus}
		if full.TerminalStatus() {
			continue
		}
		u := used[a.NodeID]
		u.Add(a.AllocatedResources.Comparable())
		used[a.NodeID] = u
		names[a.NodeID] = append(names[a.NodeID], a.Name)
	}
	for node, u := range used {
		c, ok := caps[node]
		if !ok {
			continue
		}
		if u.CPU > c.CPU || u.MemoryMB > c.MemoryMB || u.DiskMB > c.DiskMB {
			return fmt.Sprintf("node %s holds %v (%d MB) > capacity %d MB", node, names[node], u.MemoryMB, c.MemoryMB)
		}
	}
	return ""
}

// span is when one allocation's task was seen running.
type span struct {
	alloc       string
	first, last time.Time
}

// readBeats returns, per "job index", the span of each allocation.
func readBeats(path string) (map[string][]span, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	spans := map[string]map[string]*span{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		ns, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			continue
		}
		slot := fs[0] + " " + fs[1]
		at := time.Unix(0, ns)
		if spans[slot] == nil {
			spans[slot] = map[string]*span{}
		}
		s := spans[slot][fs[2]]
		if s == nil {
			s = &span{alloc: fs[2], first: at, last: at}
			spans[slot][fs[2]] = s
		}
		if at.Before(s.first) {
			s.first = at
		}
		if at.After(s.last) {
			s.last = at
		}
	}
	out := map[string][]span{}
	for slot, m := range spans {
		for _, s := range m {
			out[slot] = append(out[slot], *s)
		}
	}
	return out, sc.Err()
}

// overlaps returns, for every slot, the longest time two of its
// allocations were both seen running.
func overlaps(spans map[string][]span) (worst time.Duration, where string) {
	for slot, ss := range spans {
		for i := range ss {
			for j := i + 1; j < len(ss); j++ {
				from, to := ss[i].first, ss[i].last
				if ss[j].first.After(from) {
					from = ss[j].first
				}
				if ss[j].last.Before(to) {
					to = ss[j].last
				}
				if d := to.Sub(from); d > worst {
					worst = d
					where = fmt.Sprintf("%s: %s and %s both ran %s..%s", slot, short(ss[i].alloc), short(ss[j].alloc), from.Format("15:04:05.000"), to.Format("15:04:05.000"))
				}
			}
		}
	}
	return worst, where
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
