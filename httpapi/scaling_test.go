package httpapi_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
)

// A group's scaling block is stored as a policy and served as Nomad
// serves it, and job scale works through Nomad's own client, bounded by
// the policy and recorded in the job's scaling history.
func TestScalingPoliciesServed(t *testing.T) {
	b, err := httpapitest.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Server: b, Client: httpapitest.NewClient(""),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	c, err := nomad.NewClient(&nomad.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.Jobs().ParseHCL(`job "web" {
  group "g" {
    count = 2
    scaling {
      min     = 1
      max     = 4
      enabled = true
      policy {
        cooldown = "1m"
        check "cpu" {
          source = "nomad-apm"
        }
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
      }
    }
  }
}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	stubs, _, err := c.Scaling().ListPolicies(nil)
	if err != nil || len(stubs) != 1 {
		t.Fatalf("policies: %+v %v", stubs, err)
	}
	st := stubs[0]
	if !st.Enabled || st.Type != "horizontal" || st.Target["Namespace"] != "default" || st.Target["Job"] != "web" ||
		st.Target["Group"] != "g" || st.CreateIndex == 0 {
		t.Fatalf("stub %+v", st)
	}
	p, _, err := c.Scaling().GetPolicy(st.ID, nil)
	if err != nil || *p.Min != 1 || *p.Max != 4 || p.Policy["cooldown"] != "1m" || p.Policy["check"] == nil || !*p.Enabled {
		t.Fatalf("policy %+v %v", p, err)
	}
	if _, _, err := c.Scaling().GetPolicy("nope", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown policy: %v", err)
	}
	if l, _, err := c.Scaling().ListPolicies(&nomad.QueryOptions{Params: map[string]string{"job": "other"}}); err != nil || len(l) != 0 {
		t.Fatalf("policies of another job: %+v %v", l, err)
	}

	five, three := 5, 3
	if _, _, err := c.Jobs().Scale("web", "g", &five, "too many", false, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "group count was greater than scaling policy maximum: 5 > 4") {
		t.Fatalf("scale past max: %v", err)
	}
	resp, _, err := c.Jobs().Scale("web", "g", &three, "more", false, map[string]any{"by": "test"}, nil)
	if err != nil || resp.EvalID == "" {
		t.Fatalf("scale: %+v %v", resp, err)
	}
	status, _, err := c.Jobs().ScaleStatus("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := status.TaskGroups["g"]
	if status.JobID != "web" || g.Desired != 3 || len(g.Events) != 1 || *g.Events[0].Count != 3 ||
		g.Events[0].PreviousCount != 2 || g.Events[0].Message != "more" || *g.Events[0].EvalID != resp.EvalID {
		t.Fatalf("scale status %+v, group %+v", status, g)
	}
	info, _, err := c.Jobs().Info("web", nil)
	if err != nil || *info.TaskGroups[0].Count != 3 {
		t.Fatalf("job after scale: %v", err)
	}
	// The group's policy follows the job: a job without it loses it.
	info.TaskGroups[0].Scaling = nil
	if _, _, err := c.Jobs().Register(info, nil); err != nil {
		t.Fatal(err)
	}
	if l, _, err := c.Scaling().ListPolicies(nil); err != nil || len(l) != 0 {
		t.Fatalf("policy outlived its block: %+v %v", l, err)
	}
}
