package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/structs"
)

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// lines reads a file of lines written by tasks ("" when absent).
func lines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// childrenOf lists the child jobs of parent through the agent.
func childrenOf(t *testing.T, a *agentProc, parent string) []*structs.JobListStub {
	t.Helper()
	var jobs []*structs.JobListStub
	if err := getJSON(a.addr()+"/v1/jobs?prefix="+parent+"/", &jobs); err != nil {
		return nil
	}
	var out []*structs.JobListStub
	for _, j := range jobs {
		if j.ParentID == parent {
			out = append(out, j)
		}
	}
	return out
}

// A periodic job with a 5-second cron launches exactly once per tick in a
// 3-server cluster across a kill -9 of the leader: every tick from the
// first launch to the last has one child, each child ran once on the
// client, and the tick that fell while there was no leader was caught up.
// A second job, every second with a 3-second task and prohibit_overlap,
// never has two instances running at once. (Its lock is dropped when the
// task is stopped: the client stops its allocations when it cannot prove,
// during the outage, that no leader could mark it down.)
func TestPeriodicOncePerTickAcrossLeaderKill(t *testing.T) {
	var servers []*agentProc
	first := newIP()
	for i := 0; i < 3; i++ {
		ip := first
		if i > 0 {
			ip = newIP()
		}
		args := []string{"-server", "-bootstrap-expect", "3"}
		if i > 0 {
			args = append(args, "-join", first)
		}
		servers = append(servers, startAgent(t, ip, t.TempDir(), args...))
	}
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "client.hcl"), "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n")
	startAgent(t, newIP(), t.TempDir(), "-client", "-servers", first, "-config", cfg)
	for _, s := range servers {
		waitReady(t, s, 1)
	}
	out := filepath.Join(dir, "runs")
	overlap := filepath.Join(dir, "overlap")
	jobFile := writeFile(t, filepath.Join(dir, "tick.hcl"), fmt.Sprintf(`
job "tick" {
  type        = "batch"
  datacenters = ["*"]
  periodic {
    crons = ["*/5 * * * * * *"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_JOB_ID >> %s"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, out))
	soloFile := writeFile(t, filepath.Join(dir, "solo.hcl"), fmt.Sprintf(`
job "solo" {
  type        = "batch"
  datacenters = ["*"]
  periodic {
    crons            = ["* * * * * * *"]
    prohibit_overlap = true
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'rmdir %[1]s.lock; exit 0' TERM INT; mkdir %[1]s.lock || echo overlap >> %[2]s; sleep 3 & wait $!; rmdir %[1]s.lock"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, filepath.Join(dir, "solo"), overlap))
	for _, f := range []string{jobFile, soloFile} {
		o, code := servers[1].cli(t, "job", "run", f)
		if code != 0 || !strings.Contains(o, "Approximate next launch time") {
			t.Fatalf("job run %s: exit %d\n%s", f, code, o)
		}
	}
	leader := func(among []*agentProc) int {
		var l string
		for _, s := range among {
			if getJSON(s.addr()+"/v1/status/leader", &l) == nil && l != "" {
				break
			}
		}
		for i, s := range among {
			if l == s.ip+":4647" {
				return i
			}
		}
		return -1
	}
	// Sample the overlap job's live children every 100 ms throughout.
	stop := make(chan struct{})
	var maxLive int
	var wg sync.WaitGroup
	wg.Add(1)
	all := slices.Clone(servers)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			live := 0
			for _, s := range all {
				kids := childrenOf(t, s, "solo")
				if kids == nil {
					continue
				}
				for _, k := range kids {
					if k.Status == structs.JobStatusRunning {
						live++
					}
				}
				break
			}
			maxLive = max(maxLive, live)
		}
	}()

	waitFor(t, 30*time.Second, "three launches before the kill", func() (bool, string) {
		n := len(lines(out))
		return n >= 3, fmt.Sprintf("%d runs", n)
	})
	// Kill the leader 4 s after a tick and freeze one survivor for 1.6 s:
	// no quorum until then, so the next tick (1 s after the kill) falls
	// in the outage and must be caught up by the new leader, late; the
	// election has until the tick after it (~4 s) to keep this the only
	// missed tick.
	runs0 := lines(out)
	lastTick, _ := strconv.ParseInt(strings.TrimPrefix(runs0[len(runs0)-1], "tick/periodic-"), 10, 64)
	time.Sleep(time.Until(time.Unix(lastTick+4, 0)))
	li := leader(servers)
	if li < 0 {
		t.Fatal("no leader")
	}
	servers[li].kill()
	rest := slicesWithout(servers, li)
	frozen := rest[0].cmd.Process
	_ = frozen.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { _ = frozen.Signal(syscall.SIGCONT) })
	t.Logf("killed leader %s and froze %s at %s", servers[li].ip, rest[0].ip, time.Now().Format(time.TimeOnly))
	time.Sleep(1600 * time.Millisecond)
	_ = frozen.Signal(syscall.SIGCONT)
	missed := lastTick + 5
	if time.Now().Unix() > missed+2 {
		t.Fatalf("the outage outlasted the tick after the missed one")
	}
	before := len(lines(out))
	waitFor(t, 45*time.Second, "four launches after the kill", func() (bool, string) {
		n := len(lines(out))
		return n >= before+4, fmt.Sprintf("%d runs", n)
	})
	// Let the last launch's client report settle, then compare.
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	runs := lines(out)
	seen := map[string]int{}
	var secs []int64
	for _, id := range runs {
		seen[id]++
		sec, err := strconv.ParseInt(strings.TrimPrefix(id, "tick/periodic-"), 10, 64)
		if err != nil {
			t.Fatalf("run of %q", id)
		}
		if seen[id] == 1 {
			secs = append(secs, sec)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s ran %d times", id, n)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i] < secs[j] })
	for i, s := range secs {
		if s%5 != 0 || (i > 0 && s != secs[i-1]+5) {
			t.Fatalf("launches are not one per 5-second tick: %v", secs)
		}
	}
	// The tick of the outage was launched, after its time: caught up.
	var caught structs.Job
	if err := getJSON(rest[0].addr()+"/v1/job/"+url.PathEscape(fmt.Sprintf("tick/periodic-%d", missed)), &caught); err != nil {
		t.Fatalf("the tick at %d, during the outage, was not launched: %v", missed, err)
	}
	late := time.Duration(caught.SubmitTime - missed*int64(time.Second))
	t.Logf("tick %d launched %s after its time (caught up by the new leader)", missed, late.Round(time.Millisecond))
	if late < 500*time.Millisecond {
		t.Fatalf("the tick during the outage was launched on time (%s late): no outage covered it", late)
	}
	kids := childrenOf(t, rest[0], "tick")
	if len(kids) < len(secs) || len(kids) > len(secs)+1 {
		t.Fatalf("%d child jobs for %d runs", len(kids), len(secs))
	}
	t.Logf("ticks %v", secs)
	if o := lines(overlap); len(o) > 0 || maxLive > 1 {
		t.Fatalf("prohibit_overlap: %d overlapping runs, at most %d children running at once", len(o), maxLive)
	}
	if maxLive != 1 {
		t.Fatalf("the overlap job never ran (max live %d)", maxLive)
	}
	// Nomad's job status of the parent lists its children.
	o, code := rest[0].cli(t, "job", "status", "tick")
	if code != 0 || !strings.Contains(o, "Children Job Summary") || !strings.Contains(o, "Previously Launched Jobs") ||
		!strings.Contains(o, kids[0].ID) || !strings.Contains(o, "Next Periodic Launch") {
		t.Fatalf("job status of the parent: exit %d\n%s", code, o)
	}
	// periodic force through nomad/api.
	evalID, _, err := nomadAPI(t, rest[0]).Jobs().PeriodicForce("tick", nil)
	if err != nil || evalID == "" {
		t.Fatalf("periodic force: %q %v", evalID, err)
	}
	for _, id := range []string{"tick", "solo"} {
		rest[0].cli(t, "job", "stop", id)
	}
	requireStateHashesEqual(t, rest)
}

func slicesWithout(s []*agentProc, i int) []*agentProc {
	var out []*agentProc
	for k, a := range s {
		if k != i {
			out = append(out, a)
		}
	}
	return out
}

// A parameterized job dispatched 100 times through nomad/api (JSON), each
// with its own payload and meta: every child runs exactly once and reads
// its own payload from local/<dispatch_payload.file>. The CLI dispatches
// from stdin, and an idempotency token yields one child.
func TestDispatch100WithPayloads(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, filepath.Join(dir, "client.hcl"), "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n")
	a := startAgent(t, newIP(), t.TempDir(), "-dev", "-config", cfg)
	waitReady(t, a, 1)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	jobFile := writeFile(t, filepath.Join(dir, "fn.hcl"), fmt.Sprintf(`
job "fn" {
  type        = "batch"
  datacenters = ["*"]
  parameterized {
    payload       = "required"
    meta_required = ["n"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "in/payload.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "cat $NOMAD_TASK_DIR/in/payload.txt >> %s/$NOMAD_META_n"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
`, out))
	if o, code := a.cli(t, "job", "run", "-detach", jobFile); code != 0 {
		t.Fatalf("job run: exit %d\n%s", code, o)
	}
	nc := nomadAPI(t, a)
	const n = 100
	started := time.Now()
	ids := map[string]int{}
	for i := 0; i < n; i++ {
		resp, _, err := nc.Jobs().Dispatch("fn", map[string]string{"n": strconv.Itoa(i)},
			[]byte(fmt.Sprintf("payload-%d", i)), "", nil)
		if err != nil {
			t.Fatalf("dispatch %d: %v", i, err)
		}
		if !strings.HasPrefix(resp.DispatchedJobID, "fn/dispatch-") || resp.EvalID == "" {
			t.Fatalf("dispatch %d: %+v", i, resp)
		}
		ids[resp.DispatchedJobID] = i
	}
	if len(ids) != n {
		t.Fatalf("%d distinct children for %d dispatches", len(ids), n)
	}
	waitFor(t, 3*time.Minute, "every child dead", func() (bool, string) {
		kids := childrenOf(t, a, "fn")
		dead := 0
		for _, k := range kids {
			if k.Status == structs.JobStatusDead {
				dead++
			}
		}
		return dead == n, fmt.Sprintf("%d of %d children dead", dead, len(kids))
	})
	t.Logf("%d dispatches ran to completion in %s", n, time.Since(started).Round(time.Millisecond))
	for id, i := range ids {
		got := lines(filepath.Join(out, strconv.Itoa(i)))
		if len(got) != 1 || got[0] != fmt.Sprintf("payload-%d", i) {
			t.Fatalf("child %s (n=%d) wrote %q", id, i, got)
		}
		allocs, _, err := nc.Jobs().Allocations(id, true, nil)
		if err != nil || len(allocs) != 1 || allocs[0].ClientStatus != structs.AllocClientStatusComplete {
			t.Fatalf("child %s has %d allocations (%v)", id, len(allocs), err)
		}
	}
	// Refusals with Nomad's messages, through nomad/api.
	if _, _, err := nc.Jobs().Dispatch("fn", map[string]string{"n": "x"}, nil, "", nil); err == nil ||
		!strings.Contains(err.Error(), "Payload is not provided") {
		t.Fatalf("dispatch without payload: %v", err)
	}
	if _, _, err := nc.Jobs().Dispatch("fn", map[string]string{"bad": "x"}, []byte("p"), "", nil); err == nil ||
		!strings.Contains(err.Error(), "unpermitted metadata keys") {
		t.Fatalf("dispatch with unknown meta: %v", err)
	}
	// The CLI: payload from stdin, an ID prefix, an idempotency token.
	var first string
	for range 2 {
		o, code := cliStdin(t, a, "stdin-payload\n", "job", "dispatch", "-detach", "-meta", "n=cli",
			"-id-prefix-template", "batch", "-idempotency-token", "once", "fn", "-")
		if code != 0 || !strings.Contains(o, "Dispatched Job ID") {
			t.Fatalf("orch job dispatch: exit %d\n%s", code, o)
		}
		id := strings.TrimSpace(strings.SplitN(strings.Split(o, "Dispatched Job ID")[1], "=", 2)[1])
		id = strings.Fields(id)[0]
		if !strings.HasPrefix(id, "fn/dispatch-batch-") || (first != "" && id != first) {
			t.Fatalf("dispatched %q (first %q)", id, first)
		}
		first = id
	}
	waitFor(t, time.Minute, "the CLI's child ran", func() (bool, string) {
		got := lines(filepath.Join(out, "cli"))
		return len(got) == 1 && got[0] == "stdin-payload", fmt.Sprint(got)
	})
	o, code := a.cli(t, "job", "status", "fn")
	if code != 0 || !strings.Contains(o, "Parameterized Job Summary") || !strings.Contains(o, "Dispatched Jobs") ||
		!strings.Contains(o, first) {
		t.Fatalf("job status of the parameterized job: exit %d\n%s", code, o)
	}
	// The JSON path: a periodic job and a parameterized job with a
	// dispatch_payload registered through nomad/api.
	jsonJob := func(id, cmd string) *nomad.Job {
		j := nomad.NewBatchJob(id, id, "global", 50)
		j.Datacenters = []string{"*"}
		task := nomad.NewTask("t", "raw_exec").SetConfig("command", "/bin/sh").SetConfig("args", []string{"-c", cmd})
		task.Resources = &nomad.Resources{CPU: ptrTo(20), MemoryMB: ptrTo(16)}
		j.AddTaskGroup(nomad.NewTaskGroup("g", 1).AddTask(task))
		return j
	}
	pj := jsonJob("jsoncron", "echo $NOMAD_JOB_PARENT_ID >> "+filepath.Join(out, "jsoncron"))
	pj.Periodic = &nomad.PeriodicConfig{Specs: []string{"* * * * * * *"}, ProhibitOverlap: ptrTo(true), TimeZone: ptrTo("Europe/Paris")}
	if _, _, err := nc.Jobs().Register(pj, nil); err != nil {
		t.Fatalf("register periodic job through nomad/api: %v", err)
	}
	waitFor(t, 30*time.Second, "the JSON periodic job's runs", func() (bool, string) {
		got := lines(filepath.Join(out, "jsoncron"))
		return len(got) >= 2 && got[0] == "jsoncron", fmt.Sprint(got)
	})
	if _, _, err := nc.Jobs().Deregister("jsoncron", false, nil); err != nil {
		t.Fatal(err)
	}
	fj := jsonJob("jsonfn", "cat $NOMAD_TASK_DIR/p.bin > "+filepath.Join(out, "jsonfn"))
	fj.ParameterizedJob = &nomad.ParameterizedJobConfig{Payload: "required"}
	fj.TaskGroups[0].Tasks[0].DispatchPayload = &nomad.DispatchPayloadConfig{File: "p.bin"}
	if _, _, err := nc.Jobs().Register(fj, nil); err != nil {
		t.Fatalf("register parameterized job through nomad/api: %v", err)
	}
	if _, _, err := nc.Jobs().Dispatch("jsonfn", nil, []byte("json-payload"), "", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the JSON dispatch's run", func() (bool, string) {
		got := lines(filepath.Join(out, "jsonfn"))
		return len(got) == 1 && got[0] == "json-payload", fmt.Sprint(got)
	})

	// nomad/api reads the children as Nomad's.
	var nj *nomad.Job
	if nj, _, _ = nc.Jobs().Info(first, nil); nj == nil || nj.ParentID == nil || *nj.ParentID != "fn" || !nj.Dispatched {
		t.Fatalf("child through nomad/api: %+v", nj)
	}
}

// cliStdin is agentProc.cli with stdin.
func cliStdin(t *testing.T, a *agentProc, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "ORCH_ADDR="+a.addr())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running orch %v: %v", args, err)
	}
	return string(out), 0
}

func nomadAPI(t *testing.T, a *agentProc) *nomad.Client {
	t.Helper()
	c, err := nomad.NewClient(&nomad.Config{Address: a.addr()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptrTo[T any](v T) *T { return &v }
