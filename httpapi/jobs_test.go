package httpapi

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/orch-project/orch/structs"
)

// The body the stock nomad CLI sends must register a job.
func TestRegisterNomadCLIBody(t *testing.T) {
	ta := newTestAgent(t)
	node := ta.addNode(t, "n1", "")
	// Recorded from `nomad job run -detach` (v2.0.5) against a real agent.
	body, err := os.ReadFile("testdata/nomad-cli-put-v1-jobs.json")
	if err != nil {
		t.Fatal(err)
	}
	code, h, out := do(t, "PUT", ta.srv.URL+"/v1/jobs", body)
	if code != 200 {
		t.Fatalf("PUT /v1/jobs: %d %s", code, out)
	}
	if h.Get("X-Nomad-Index") == "" {
		t.Error("missing X-Nomad-Index on write")
	}
	if !strings.Contains(string(out), `"EvalID"`) || !strings.Contains(string(out), `"JobModifyIndex"`) {
		t.Fatalf("reply lacks Nomad fields: %s", out)
	}

	var job structs.Job
	getJSON(t, ta.srv.URL+"/v1/job/probe?namespace=default", &job)
	if job.ID != "probe" || job.Type != "batch" || job.Namespace != "default" {
		t.Fatalf("stored job = %+v", job)
	}
	var stubs []*structs.JobListStub
	getJSON(t, ta.srv.URL+"/v1/jobs?per_page=20&prefix=pro", &stubs)
	if len(stubs) != 1 || stubs[0].ID != "probe" || stubs[0].JobSummary == nil {
		t.Fatalf("job list = %+v", stubs)
	}
	var allocs []*structs.AllocListStub
	getJSON(t, ta.srv.URL+"/v1/job/probe/allocations?all=false&namespace=default", &allocs)
	if len(allocs) != 1 || allocs[0].NodeID != node.ID || allocs[0].JobType != "batch" {
		t.Fatalf("job allocs = %+v", allocs)
	}
	var evals []*structs.Evaluation
	getJSON(t, ta.srv.URL+"/v1/job/probe/evaluations?namespace=default", &evals)
	if len(evals) != 1 || evals[0].Status != structs.EvalStatusComplete {
		t.Fatalf("job evals = %+v", evals)
	}
	var sum structs.JobSummary
	getJSON(t, ta.srv.URL+"/v1/job/probe/summary?namespace=default", &sum)
	if _, ok := sum.Summary["g"]; !ok {
		t.Fatalf("summary = %+v", sum)
	}
	var versions structs.JobVersionsResponse
	getJSON(t, ta.srv.URL+"/v1/job/probe/versions", &versions)
	if len(versions.Versions) != 1 {
		t.Fatalf("versions = %+v", versions)
	}
	code, _, out = do(t, "GET", ta.srv.URL+"/v1/job/probe/deployment?namespace=default", nil)
	if code != 200 || strings.TrimSpace(string(out)) != "null" {
		t.Fatalf("deployment: %d %q", code, out)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	ta := newTestAgent(t)
	cases := []struct {
		name, path, body string
		want             int
	}{
		{"invalid json", "/v1/jobs", `{"Job":`, 400},
		{"no job", "/v1/jobs", `{}`, 400},
		{"invalid job", "/v1/jobs", `{"Job":{"ID":"x"}}`, 400},
		{"id mismatch", "/v1/job/other", `{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec"}]}]}}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := do(t, "PUT", ta.srv.URL+tc.path, tc.body)
			if code != tc.want {
				t.Fatalf("got %d %s, want %d", code, body, tc.want)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("error content type %q, want text/plain", ct)
			}
			if len(strings.TrimSpace(string(body))) == 0 {
				t.Error("empty error message")
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	ta := newTestAgent(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/nope", 404},
		{"GET", "/v1/job/missing", 404},
		{"GET", "/v1/job/missing/summary", 404},
		{"GET", "/v1/allocation/missing", 404},
		{"GET", "/v1/evaluation/missing", 404},
		{"GET", "/v1/node/missing", 404},
		// Deregistering is idempotent, as in Nomad.
		{"DELETE", "/v1/job/missing", 200},
		{"DELETE", "/v1/job/x?eval_priority=high", 400},
		{"PATCH", "/v1/jobs", 405},
		{"DELETE", "/v1/nodes", 405},
		{"GET", "/v1/jobs?index=abc", 400},
		{"GET", "/v1/jobs?wait=forever&index=1", 400},
		{"GET", "/v1/job/x/allocations?all=maybe", 400},
	} {
		code, _, body := do(t, tc.method, ta.srv.URL+tc.path, nil)
		if code != tc.want {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
}

func TestDeregisterAndListEndpoints(t *testing.T) {
	ta := newTestAgent(t)
	node := ta.addNode(t, "n1", "")
	resp := ta.register(t, testJob("web", 2))

	var eval structs.Evaluation
	getJSON(t, ta.srv.URL+"/v1/evaluation/"+resp.EvalID+"?related=true", &eval)
	if eval.ID != resp.EvalID || eval.JobID != "web" {
		t.Fatalf("eval = %+v", eval)
	}
	var evalAllocs []*structs.AllocListStub
	getJSON(t, ta.srv.URL+"/v1/evaluation/"+resp.EvalID+"/allocations", &evalAllocs)
	if len(evalAllocs) != 2 {
		t.Fatalf("eval allocs = %d, want 2", len(evalAllocs))
	}
	var allocs []*structs.AllocListStub
	getJSON(t, ta.srv.URL+"/v1/allocations?prefix="+evalAllocs[0].ID[:4], &allocs)
	if len(allocs) < 1 {
		t.Fatal("alloc prefix list empty")
	}
	var alloc structs.Allocation
	getJSON(t, ta.srv.URL+"/v1/allocation/"+evalAllocs[0].ID, &alloc)
	if alloc.Job == nil || alloc.Job.ID != "web" {
		t.Fatalf("full alloc lacks its job: %+v", alloc)
	}
	var nodeAllocs []*structs.Allocation
	getJSON(t, ta.srv.URL+"/v1/node/"+node.ID+"/allocations", &nodeAllocs)
	if len(nodeAllocs) != 2 || nodeAllocs[0].Job == nil {
		t.Fatalf("node allocs = %+v", nodeAllocs)
	}
	var nodes []*structs.NodeListStub
	getJSON(t, ta.srv.URL+"/v1/nodes?prefix="+node.ID[:6], &nodes)
	if len(nodes) != 1 || nodes[0].Address != "127.0.0.1" {
		t.Fatalf("nodes = %+v", nodes)
	}
	var evals []*structs.Evaluation
	getJSON(t, ta.srv.URL+"/v1/evaluations?prefix="+resp.EvalID[:4], &evals)
	if len(evals) != 1 {
		t.Fatalf("evals = %+v", evals)
	}

	// A second registration gives the first eval a related one.
	job := testJob("web", 3)
	ta.register(t, job)
	getJSON(t, ta.srv.URL+"/v1/evaluation/"+resp.EvalID+"?related=true", &eval)
	if len(eval.RelatedEvals) != 1 {
		t.Fatalf("related evals = %+v", eval.RelatedEvals)
	}

	code, _, body := do(t, "DELETE", ta.srv.URL+"/v1/job/web?purge=false&global=false&namespace=default", nil)
	if code != 200 {
		t.Fatalf("deregister: %d %s", code, body)
	}
	var stopped structs.Job
	getJSON(t, ta.srv.URL+"/v1/job/web", &stopped)
	if !stopped.Stop {
		t.Fatal("job not stopped")
	}
	code, _, body = do(t, "DELETE", ta.srv.URL+"/v1/job/web?purge=true", nil)
	if code != 200 {
		t.Fatalf("purge: %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", ta.srv.URL+"/v1/job/web", nil); code != http.StatusNotFound {
		t.Fatalf("purged job still served: %d", code)
	}
}

func TestStatusAndAgentEndpoints(t *testing.T) {
	ta := newTestAgent(t)
	var leader string
	getJSON(t, ta.srv.URL+"/v1/status/leader", &leader)
	if leader != "127.0.0.1:4647" {
		t.Fatalf("leader = %q", leader)
	}
	var peers []string
	getJSON(t, ta.srv.URL+"/v1/status/peers", &peers)
	if len(peers) != 1 {
		t.Fatalf("peers = %v", peers)
	}
	var regions []string
	getJSON(t, ta.srv.URL+"/v1/regions", &regions)
	if len(regions) != 1 || regions[0] != "global" {
		t.Fatalf("regions = %v", regions)
	}
	var members structs.ServerMembers
	getJSON(t, ta.srv.URL+"/v1/agent/members", &members)
	if len(members.Members) != 1 || members.ServerRegion != "global" {
		t.Fatalf("members = %+v", members)
	}
	var self map[string]any
	getJSON(t, ta.srv.URL+"/v1/agent/self", &self)
	for _, k := range []string{"config", "member", "stats"} {
		if _, ok := self[k]; !ok {
			t.Errorf("agent/self lacks %q: %v", k, self)
		}
	}
	var health map[string]healthStatus
	getJSON(t, ta.srv.URL+"/v1/agent/health", &health)
	if !health["server"].OK || !health["client"].OK {
		t.Fatalf("health = %+v", health)
	}
}

// TestNoInternalEndpoints: client <-> server traffic runs on the
// authenticated control channel (package control), never on the public API.
func TestNoInternalEndpoints(t *testing.T) {
	ta := newTestAgent(t)
	node := ta.addNode(t, "n1", "")
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1/internal/node/register"}, {"POST", "/v1/internal/node/register"},
		{"GET", "/v1/internal/node/" + node.ID + "/allocs"},
		{"POST", "/v1/internal/allocs/get"}, {"PUT", "/v1/internal/allocs/update"},
	} {
		if code, _, _ := do(t, c.method, ta.srv.URL+c.path, `{}`); code != 404 {
			t.Errorf("%s %s: %d, want 404", c.method, c.path, code)
		}
	}
}

func TestNullCountDefaultsToOneButZeroIsKept(t *testing.T) {
	ta := newTestAgent(t)
	body := `{"Job":{"ID":"%s","Datacenters":["*"],"TaskGroups":[{"Name":"g",%s"Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}`
	for _, tc := range []struct {
		id, count string
		want      int
	}{{"null", `"Count":null,`, 1}, {"absent", ``, 1}, {"zero", `"Count":0,`, 0}, {"three", `"Count":3,`, 3}} {
		code, _, out := do(t, "PUT", ta.srv.URL+"/v1/jobs", strings.Replace(strings.Replace(body, "%s", tc.id, 1), "%s", tc.count, 1))
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.id, code, out)
		}
		job, _ := ta.backend.State().JobByID(nil, "default", tc.id)
		if job == nil || job.TaskGroups[0].Count != tc.want {
			t.Errorf("%s: count = %+v, want %d", tc.id, job, tc.want)
		}
	}
}
