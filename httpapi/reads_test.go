package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

// replicatedBackend adds a scripted ReadConsistency to the test backend.
type replicatedBackend struct {
	*httpapitest.Backend
	mu            sync.Mutex
	restored      bool
	known         bool
	contact       time.Duration
	notReady      bool
	consistentErr error
	checks        []string
}

func (b *replicatedBackend) record(what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checks = append(b.checks, what)
}

func (b *replicatedBackend) StateRestored() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.restored }
func (b *replicatedBackend) KnownLeader() bool   { b.mu.Lock(); defer b.mu.Unlock(); return b.known }
func (b *replicatedBackend) LastContact() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.contact
}
func (b *replicatedBackend) AwaitLeaderReady(context.Context) error {
	b.record("ready")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notReady {
		return &CodedError{Code: 503, Msg: "not the cluster leader"}
	}
	return nil
}
func (b *replicatedBackend) ConsistentRead(context.Context) error {
	b.record("verify")
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.consistentErr
}
func (b *replicatedBackend) WaitForIndex(context.Context, uint64) error { return nil }

func newReplicated(t *testing.T) (*replicatedBackend, *httptest.Server) {
	t.Helper()
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	rb := &replicatedBackend{Backend: b, restored: true, known: true}
	srv := httptest.NewServer(New(Config{Server: rb, Logger: quietLogger()}))
	t.Cleanup(srv.Close)
	return rb, srv
}

// Each mode asks the replica what it must before answering: default reads
// that the leader is established, consistent reads that it still leads.
func TestReadModesCheckTheLeader(t *testing.T) {
	rb, srv := newReplicated(t)
	for _, tc := range []struct{ query, want string }{
		{"", "ready"}, {"?consistent", "verify"}, {"?stale", ""},
	} {
		rb.checks = nil
		if code, _, body := do(t, "GET", srv.URL+"/v1/jobs"+tc.query, nil); code != 200 {
			t.Fatalf("%q: %d %s", tc.query, code, body)
		}
		if got := strings.Join(rb.checks, ","); got != tc.want {
			t.Errorf("%q checked %q, want %q", tc.query, got, tc.want)
		}
	}
	// A leader that cannot confirm its leadership answers no consistent
	// read, and a leader still applying earlier terms no default read.
	rb.consistentErr = &CodedError{Code: 503, Msg: "not the cluster leader: leadership lost"}
	if code, _, body := do(t, "GET", srv.URL+"/v1/jobs?consistent", nil); code != 500 || !strings.Contains(string(body), "No cluster leader") {
		t.Fatalf("consistent read by a deposed leader: %d %s", code, body)
	}
	rb.notReady = true
	if code, _, body := do(t, "GET", srv.URL+"/v1/jobs", nil); code != 500 {
		t.Fatalf("default read by a leader not yet ready: %d %s", code, body)
	}
	// Stale reads need neither.
	if code, _, _ := do(t, "GET", srv.URL+"/v1/jobs?stale", nil); code != 200 {
		t.Fatalf("stale read: %d", code)
	}
}

// Stale reads say how fresh the replica is; a replica not yet restored
// does not answer them itself.
func TestStaleReadsReportFreshnessAndWaitForRestore(t *testing.T) {
	leader := newTestAgent(t)
	leader.register(t, testJob("one", 1))

	rb, follower := newReplicated(t)
	rb.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	rb.contact = 1500 * time.Millisecond
	code, h, body := do(t, "GET", follower.URL+"/v1/jobs?stale", nil)
	if code != 200 || string(body) != "[]\n" {
		t.Fatalf("stale read from the follower's own replica: %d %s", code, body)
	}
	if h.Get("X-Nomad-LastContact") != "1500" || h.Get("X-Nomad-KnownLeader") != "true" {
		t.Fatalf("headers: last contact %q, known leader %q", h.Get("X-Nomad-LastContact"), h.Get("X-Nomad-KnownLeader"))
	}
	rb.known, rb.contact = false, -1
	_, h, _ = do(t, "GET", follower.URL+"/v1/jobs?stale", nil)
	if lc, _ := strconv.Atoi(h.Get("X-Nomad-LastContact")); lc < 1<<30 || h.Get("X-Nomad-KnownLeader") != "false" {
		t.Fatalf("a replica that never heard a leader: last contact %q, known leader %q", h.Get("X-Nomad-LastContact"), h.Get("X-Nomad-KnownLeader"))
	}

	// Not restored: the leader answers for it, or nobody does.
	rb.restored = false
	var jobs []*structs.JobListStub
	getJSON(t, follower.URL+"/v1/jobs?stale", &jobs)
	if len(jobs) != 1 {
		t.Fatalf("stale read on a replica being restored was not forwarded: %d jobs", len(jobs))
	}
	rb.SetLeader(false, "")
	if code, _, body := do(t, "GET", follower.URL+"/v1/jobs?stale", nil); code != 503 {
		t.Fatalf("stale read with no restored state and no leader: %d %s", code, body)
	}
	// The agent's own status is always answered.
	if code, _, _ := do(t, "GET", follower.URL+"/v1/status/leader", nil); code != 200 {
		t.Fatalf("status/leader: %d", code)
	}
}

// A write whose caller's deadline has passed is refused with 504 and not
// applied; a follower forwards the deadline as an absolute time.
func TestWriteDeadlines(t *testing.T) {
	leader := newTestAgent(t)
	for name, h := range map[string][2]string{
		"timeout 0":       {TimeoutHeader, "0"},
		"passed deadline": {DeadlineHeader, strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)},
	} {
		req, _ := http.NewRequest("PUT", leader.srv.URL+"/v1/jobs", strings.NewReader(`{"Job":{"ID":"late","Name":"late","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}`))
		req.Header.Set(h[0], h[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
	if j, _ := leader.backend.State().JobByID(nil, "default", "late"); j != nil {
		t.Fatal("a write past its deadline was applied")
	}

	// The follower turns the caller's timeout into an absolute deadline.
	var mu sync.Mutex
	var seen string
	leaderURL := strings.TrimPrefix(leader.srv.URL, "http://")
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Get(DeadlineHeader)
		mu.Unlock()
		r.URL.Scheme, r.URL.Host = "http", leaderURL
		resp, err := http.DefaultTransport.RoundTrip(r.Clone(context.Background()))
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	defer spy.Close()
	fb, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	fb.SetLeader(false, strings.TrimPrefix(spy.URL, "http://"))
	follower := httptest.NewServer(New(Config{Server: fb, Logger: quietLogger()}))
	defer follower.Close()
	req, _ := http.NewRequest("PUT", follower.URL+"/v1/jobs", strings.NewReader(`{"Job":{"ID":"fwd","Name":"fwd","Type":"batch","Datacenters":["dc1"],"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}`))
	req.Header.Set(TimeoutHeader, "30000")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	ms, err := strconv.ParseInt(seen, 10, 64)
	if err != nil {
		t.Fatalf("forwarded deadline header %q", seen)
	}
	if d := time.UnixMilli(ms).Sub(start); d < 29*time.Second || d > 31*time.Second {
		t.Fatalf("forwarded deadline %s after the request, want ~30s", d)
	}
}
