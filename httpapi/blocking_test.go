package httpapi

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/orch-project/orch/structs"
)

func indexOf(t *testing.T, h map[string][]string) uint64 {
	t.Helper()
	v := ""
	if vs := h["X-Nomad-Index"]; len(vs) > 0 {
		v = vs[0]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		t.Fatalf("bad X-Nomad-Index %q", v)
	}
	return n
}

func TestBlockingQueryWakesOnWrite(t *testing.T) {
	ta := newTestAgent(t)
	ta.addNode(t, "n1", "")
	var jobs []*structs.JobListStub
	h := getJSON(t, ta.srv.URL+"/v1/jobs", &jobs)
	idx := indexOf(t, h)
	if h.Get("X-Nomad-KnownLeader") != "true" {
		t.Errorf("KnownLeader = %q", h.Get("X-Nomad-KnownLeader"))
	}

	type result struct {
		code  int
		idx   uint64
		jobs  []*structs.JobListStub
		after time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		code, h, body := do(t, "GET", ta.srv.URL+"/v1/jobs?index="+strconv.FormatUint(idx, 10)+"&wait=30s", nil)
		var r result
		r.code, r.after = code, time.Since(start)
		r.idx, _ = strconv.ParseUint(h.Get("X-Nomad-Index"), 10, 64)
		_ = json.Unmarshal(body, &r.jobs)
		done <- r
	}()
	select {
	case r := <-done:
		t.Fatalf("blocking query returned before any write: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	ta.register(t, testJob("late", 1))
	select {
	case r := <-done:
		if r.code != 200 || r.idx <= idx || len(r.jobs) != 1 || r.jobs[0].ID != "late" {
			t.Fatalf("woken query = %+v (idx before %d)", r, idx)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query did not wake on write")
	}
}

func TestBlockingQueryTimesOut(t *testing.T) {
	ta := newTestAgent(t)
	ta.register(t, testJob("a", 0))
	var job structs.Job
	idx := indexOf(t, getJSON(t, ta.srv.URL+"/v1/job/a", &job))
	start := time.Now()
	code, h, _ := do(t, "GET", ta.srv.URL+"/v1/job/a?index="+strconv.FormatUint(idx, 10)+"&wait=300ms", nil)
	took := time.Since(start)
	if code != 200 {
		t.Fatalf("code %d", code)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("timed-out query took %v, want ~300ms (+jitter)", took)
	}
	if got := indexOf(t, h); got != idx {
		t.Fatalf("index after timeout = %d, want %d", got, idx)
	}
	// An index below the current one answers at once.
	start = time.Now()
	code, _, _ = do(t, "GET", ta.srv.URL+"/v1/job/a?index=1&wait=10s", nil)
	if code != 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("stale index did not answer at once: %d after %v", code, time.Since(start))
	}
}

func TestParseBlockingCapsWait(t *testing.T) {
	r := httptestRequest("GET", "/v1/jobs?index=5&wait=1h")
	p, err := parseBlocking(r)
	if err != nil {
		t.Fatal(err)
	}
	if p.minIndex != 5 || p.wait < maxBlockingWait || p.wait > maxBlockingWait+maxBlockingWait/16 {
		t.Fatalf("params = %+v", p)
	}
	p, err = parseBlocking(httptestRequest("GET", "/v1/jobs?index=5"))
	if err != nil || p.wait < defaultBlockingWait || p.wait > defaultBlockingWait+defaultBlockingWait/16 {
		t.Fatalf("default wait = %+v %v", p, err)
	}
}
