package fault

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

// Knobs (docs/fault-injection.md):
//
//	ORCH_FAULT_SEED=n      replay a run's schedule (printed by every run)
//	ORCH_FAULT_LONG=1      the long version: 20 runs of 60 s each
//	ORCH_FAULT_RUNS=n      number of runs (default 1, long 20)
//	ORCH_FAULT_DURATION=d  workload duration per run (default 25s, long 60s)
//	ORCH_FAULT_KEEP=dir    keep each run's history, timeline and agent logs under dir
type runConfig struct {
	seed     int64
	duration time.Duration
	servers  int
	clients  int
	faults   []string
	workload workloadSpec
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func long() bool { return os.Getenv("ORCH_FAULT_LONG") != "" }

func runsAndDuration() (int, time.Duration) {
	runs, d := 1, 25*time.Second
	if long() {
		runs, d = 20, 60*time.Second
	}
	runs = envInt("ORCH_FAULT_RUNS", runs)
	if v, err := time.ParseDuration(os.Getenv("ORCH_FAULT_DURATION")); err == nil && v > 0 {
		d = v
	}
	return runs, d
}

// seedFor returns run i's seed: ORCH_FAULT_SEED for a replay, else one
// drawn from the clock.
func seedFor(i int) int64 {
	if v, err := strconv.ParseInt(os.Getenv("ORCH_FAULT_SEED"), 10, 64); err == nil {
		return v + int64(i)
	}
	return time.Now().UnixNano()%1_000_000_007 + int64(i)
}

// TestNemesis runs the whole system under every nemesis: three servers
// and three clients, a workload of job registers, updates, purges and
// reads in all three modes through random servers, a service job whose
// tasks record when they run, and one fault at a time from the whole
// list (kill -9, SIGSTOP, isolation, one-way partitions, flapping links,
// blackholes, monotonic clock jumps across restarts). After healing:
//   - writes with ?consistent reads and the final per-server reads are
//     linearizable (porcupine): no acknowledged write is missing on any
//     server, no consistent read returned old state;
//   - writes with default reads are linearizable too;
//   - ?stale reads never return a value nobody wrote, and no server's
//     X-Nomad-Index goes backwards;
//   - no sampled replica ever had a node overcommitted;
//   - no allocation index ran in two places for longer than the bound of
//     docs/architecture.md, and the job is back at its count;
//   - every server's replica state hash is equal.
func TestNemesis(t *testing.T) {
	runs, d := runsAndDuration()
	for i := 0; i < runs; i++ {
		cfg := runConfig{
			seed: seedFor(i), duration: d, servers: 3, clients: 3,
			faults:   append(append([]string{}, serverFaults...), clientFaults...),
			workload: workloadSpec{workers: 6, keys: 12, opTimeout: 3 * time.Second},
		}
		t.Run(fmt.Sprintf("run%d-seed%d", i, cfg.seed), func(t *testing.T) { runTrial(t, cfg) })
	}
}

type trialResult struct {
	ops          []op
	worstOverlap time.Duration
	faults       map[string]int
}

func runTrial(t *testing.T, cfg runConfig) trialResult {
	t.Logf("seed %d (replay: ORCH_FAULT_SEED=%d ORCH_FAULT_RUNS=1 go test -run 'TestNemesis' ./e2e/fault/)", cfg.seed, cfg.seed)
	c := newCluster(t, clusterSpec{servers: cfg.servers, clients: cfg.clients})
	out := t.TempDir()
	if keep := os.Getenv("ORCH_FAULT_KEEP"); keep != "" {
		out = filepath.Join(keep, fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), cfg.seed))
		_ = os.MkdirAll(out, 0o755)
		t.Cleanup(func() { keepLogs(c, out) })
	}
	beats := filepath.Join(out, "beats")
	var caps map[string]structs.ComparableResources
	if cfg.clients > 0 {
		_, caps = startSentinel(c, beats)
	}

	h := &history{start: time.Now()}
	nem := newNemesis(c, h, cfg.seed, cfg.faults)
	sampler := &overcommitSampler{c: c, caps: caps}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); runWorkload(ctx, h, c.servers, cfg.workload, cfg.seed) }()
	go func() { defer wg.Done(); nem.run(ctx) }()
	go func() {
		defer wg.Done()
		if caps != nil {
			sampler.run(ctx, cfg.seed)
		}
	}()
	wg.Wait()
	t.Logf("nemesis timeline:\n%s", nem.timeline())

	// Settle: every agent is back; let writes whose callers gave up
	// reach their deadline, then wait for one leader and ready nodes.
	time.Sleep(cfg.workload.opTimeout)
	c.waitStable(90 * time.Second)
	requireStateHashesEqual(t, c.servers)
	finalReads(h, c, cfg.workload.keys)
	ops := h.all()
	hist := writeHistory(out, ops)
	res := trialResult{ops: ops, faults: nem.counts}
	summarize(t, ops)

	if err := checkLinearizable(ops, out, readConsistent, readFinal); err != nil {
		t.Errorf("writes, ?consistent reads and final reads: %v\n(history: %s)", err, hist)
	}
	if err := checkLinearizable(ops, out, readDefault, readFinal); err != nil {
		t.Errorf("writes, default reads and final reads: %v\n(history: %s)", err, hist)
	}
	for _, msg := range append(checkStaleReads(ops), checkConsistentIndexes(ops)...) {
		t.Error(msg)
	}
	nem.mu.Lock()
	windows := nem.windows
	nem.mu.Unlock()
	checkNoContactStops(t, c, windows)
	if caps != nil {
		res.worstOverlap = checkAllocations(t, c, sampler, beats)
		if t.Failed() {
			dumpAllocs(c, out)
		}
	}
	return res
}

// finalReads reads every key from every server's replica, once all have
// applied the same index: each must hold every acknowledged write.
func finalReads(h *history, c *cluster, keys int) {
	for _, s := range c.servers {
		for k := 0; k < keys; k++ {
			o := doRead(h, s, "k"+strconv.Itoa(k), readFinal, 10*time.Second)
			o.worker = -1
			if o.code < 0 {
				c.t.Errorf("final read of k%d on %s failed", k, s.name())
				continue
			}
			h.add(o)
		}
	}
}

func summarize(t *testing.T, ops []op) {
	counts := map[string]int{}
	for _, o := range ops {
		name := [...]string{"register", "deregister", "read"}[o.kind]
		if o.kind == opRead {
			name += "(" + o.mode.String() + ")"
		} else if o.unknown() {
			name += "(unknown)"
		}
		counts[name]++
	}
	t.Logf("%d operations: %v", len(ops), counts)
}

// checkAllocations checks the allocation invariants after a run and
// returns the longest time two copies of one allocation index ran.
func checkAllocations(t *testing.T, c *cluster, sampler *overcommitSampler, beats string) time.Duration {
	t.Helper()
	sampler.mu.Lock()
	for _, b := range sampler.bad {
		t.Errorf("overcommitted replica: %s", b)
	}
	t.Logf("overcommit: %d replica samples checked", sampler.samples)
	sampler.mu.Unlock()
	var spec int
	waitFor(t, 60*time.Second, "the sentinel job back at its count", func() (bool, string) {
		n, info := runningSentinels(c)
		spec = 2*len(c.clients) - 1
		return n == spec, info
	})
	// A beat is written every 100 ms: wait for the last ones.
	time.Sleep(3 * beatEvery)
	spans, err := readBeats(beats)
	if err != nil {
		t.Fatal(err)
	}
	worst, where := overlaps(spans)
	bound := overlapBound()
	t.Logf("longest overlap of two copies of one allocation index: %s (bound %s) %s", worst.Round(time.Millisecond), bound, where)
	if worst > bound {
		t.Errorf("two copies of one allocation index ran together for %s, beyond the documented %s: %s", worst.Round(time.Millisecond), bound, where)
	}
	// Every slot has one live copy now.
	var live []string
	for slot, ss := range spans {
		n := 0
		for _, s := range ss {
			if time.Since(s.last) < time.Second {
				n++
			}
		}
		if n != 1 {
			live = append(live, fmt.Sprintf("%s: %d running", slot, n))
		}
	}
	if len(live) > 0 {
		t.Errorf("allocation indexes without exactly one running copy: %v", live)
	}
	return worst
}

// overlapBound is docs/architecture.md's bound on two copies of an
// allocation running at once: kill_timeout + 0.25 s - heartbeat_grace
// (default grace 1 s).
func overlapBound() time.Duration {
	return sentinelKill + 250*time.Millisecond - time.Second
}

func keepLogs(c *cluster, dir string) {
	for _, a := range append(append([]*agent{}, c.servers...), c.clients...) {
		if b, err := os.ReadFile(a.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(dir, a.name()+".log"), b, 0o644)
		}
	}
}

// dumpAllocs saves the leader's view of every allocation for a failed run.
func dumpAllocs(c *cluster, dir string) {
	if l := c.leader(); l != nil {
		if code, _, body := request("GET", l.url()+"/v1/allocations?task_states=true", nil, 10*time.Second); code == 200 {
			p := filepath.Join(dir, "allocations.json")
			_ = os.WriteFile(p, body, 0o644)
			c.t.Logf("allocations: %s", p)
		}
	}
}
