package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orch-project/orch/httpapi/httpapitest"
	"github.com/orch-project/orch/structs"
)

func TestFollowerForwardsToLeader(t *testing.T) {
	leader := newTestAgent(t)
	leader.addNode(t, "n1", "")

	fb, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	fb.SetLeader(false, strings.TrimPrefix(leader.srv.URL, "http://"))
	follower := httptest.NewServer(New(Config{Server: fb, Logger: quietLogger()}))
	defer follower.Close()

	code, _, body := do(t, "PUT", follower.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("fwd", 1)})
	if code != 200 {
		t.Fatalf("register via follower: %d %s", code, body)
	}
	if j, _ := leader.backend.State().JobByID(nil, "default", "fwd"); j == nil {
		t.Fatal("job did not reach the leader's state")
	}
	if j, _ := fb.State().JobByID(nil, "default", "fwd"); j != nil {
		t.Fatal("follower wrote locally")
	}
	// Default and consistent reads are the leader's to answer; ?stale is
	// served from the follower's own replica (this test's follower never
	// replicates, so it answers 404).
	for _, q := range []string{"", "?consistent"} {
		var job structs.Job
		getJSON(t, follower.URL+"/v1/job/fwd"+q, &job)
		if job.ID != "fwd" {
			t.Fatalf("read %q via follower = %+v", q, job)
		}
	}
	if code, _, _ := do(t, "GET", follower.URL+"/v1/job/fwd?stale", nil); code != 404 {
		t.Fatalf("stale read answered %d, want the local replica's 404", code)
	}
	code, _, body = do(t, "DELETE", follower.URL+"/v1/job/fwd?purge=true", nil)
	if code != 200 {
		t.Fatalf("deregister via follower: %d %s", code, body)
	}

	// No leader: writes fail with Nomad's message.
	fb.SetLeader(false, "")
	code, _, body = do(t, "PUT", follower.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("x", 1)})
	if code != 500 || !strings.Contains(string(body), "No cluster leader") {
		t.Fatalf("no leader: %d %q", code, body)
	}
	// A leader that cannot be reached is a 502, not a hang.
	fb.SetLeader(false, "127.0.0.1:1")
	code, _, _ = do(t, "PUT", follower.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("x", 1)})
	if code != 502 {
		t.Fatalf("unreachable leader: %d", code)
	}
}

func TestClientOnlyAgentFailsOverBetweenServers(t *testing.T) {
	server := newTestAgent(t)
	agent := httptest.NewServer(New(Config{Client: httpapitest.NewClient("c"), Logger: quietLogger(),
		ServerAddrs: func() []string { return []string{"127.0.0.1:1", server.srv.URL} }}))
	defer agent.Close()
	for i := 0; i < 4; i++ { // the dead server is tried first about half the time
		code, _, body := do(t, "PUT", agent.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("c"+string(rune('a'+i)), 1)})
		if code != 200 {
			t.Fatalf("register via client agent: %d %s", code, body)
		}
	}
	var health map[string]healthStatus
	getJSON(t, agent.URL+"/v1/agent/health", &health)
	if _, ok := health["server"]; ok || !health["client"].OK {
		t.Fatalf("client agent health = %+v", health)
	}
}

type panickingBackend struct{ *httpapitest.Backend }

func (panickingBackend) RegisterJob(context.Context, *structs.JobRegisterRequest) (*structs.JobRegisterResponse, error) {
	var m map[string]int
	m["boom"]++ // a nil-map write, the kind of bug recover must contain
	return nil, nil
}

func TestPanicBecomes500(t *testing.T) {
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{Server: panickingBackend{b}, Logger: quietLogger()}))
	defer srv.Close()
	code, _, _ := do(t, "PUT", srv.URL+"/v1/jobs", &structs.JobRegisterRequest{Job: testJob("p", 1)})
	if code != 500 {
		t.Fatalf("panic answered %d, want 500", code)
	}
	// The agent keeps serving.
	if code, _, _ := do(t, "GET", srv.URL+"/v1/jobs", nil); code != 200 {
		t.Fatalf("after panic: %d", code)
	}
}

// TestForwardPastItsDeadlineIsNotAcknowledged: a write forwarded to a
// leader that does not answer before the caller's deadline (its
// X-Orch-Timeout-Ms) is a 504 "may still be applied", never an empty 200
// (TestNemesis counted such a 200 as an acknowledged write that was then
// missing).
func TestForwardPastItsDeadlineIsNotAcknowledged(t *testing.T) {
	hang := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer silent.Close()
	defer close(hang)
	fb, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	fb.SetLeader(false, strings.TrimPrefix(silent.URL, "http://"))
	follower := httptest.NewServer(New(Config{Server: fb, Logger: quietLogger()}))
	defer follower.Close()
	body, _ := json.Marshal(&structs.JobRegisterRequest{Job: testJob("late", 1)})
	req, _ := http.NewRequest("PUT", follower.URL+"/v1/jobs", bytes.NewReader(body))
	req.Header.Set(TimeoutHeader, "300")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(out), "may still be applied") {
		t.Fatalf("forward past its deadline: %d %q", resp.StatusCode, out)
	}
}

// A write that failed as not applied (503: leadership lost under it, say)
// after its caller's deadline answers the 504 "not applied" other late
// writes get; before the deadline, and for other failures, the error
// stands.
func TestLateWriteNotAppliedIs504(t *testing.T) {
	notLeader := codedErr(http.StatusServiceUnavailable, "not the cluster leader")
	other := codedErr(http.StatusInternalServerError, "boom")
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	lateReq := httptest.NewRequest("PUT", "/v1/jobs", nil).WithContext(late)
	liveReq := httptest.NewRequest("PUT", "/v1/jobs", nil)
	if got := writeErrorFor(lateReq, notLeader); got != errDeadlinePassed {
		t.Fatalf("late 503: %v", got)
	}
	if got := writeErrorFor(liveReq, notLeader); got != notLeader {
		t.Fatalf("live 503: %v", got)
	}
	if got := writeErrorFor(lateReq, other); got != other {
		t.Fatalf("late 500: %v", got)
	}
}
