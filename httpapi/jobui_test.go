package httpapi_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	nomad "github.com/hashicorp/nomad/api"

	"github.com/orch-project/orch/httpapi"
	"github.com/orch-project/orch/httpapi/httpapitest"
)

// The job's ui {} block is stored and returned: parsed from HCL by
// POST /v1/jobs/parse, registered, and read back by Nomad's own client.
func TestJobUIStoredAndReturned(t *testing.T) {
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
	job, err := c.Jobs().ParseHCL(`job "ui" {
  ui {
    description = "The **web** tier"
    link {
      label = "Runbook"
      url   = "https://example.com/runbook"
    }
    link {
      label = "Dashboard"
      url   = "https://example.com/dash"
    }
  }
  group "g" {
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
	if job.UI == nil || len(job.UI.Links) != 2 {
		t.Fatalf("parse lost the ui block: %+v", job.UI)
	}
	if _, _, err := c.Jobs().Register(job, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Jobs().Info("ui", nil)
	if err != nil {
		t.Fatal(err)
	}
	ui := got.UI
	if ui == nil || ui.Description != "The **web** tier" || len(ui.Links) != 2 ||
		ui.Links[0].Label != "Runbook" || ui.Links[0].URL != "https://example.com/runbook" ||
		ui.Links[1].Label != "Dashboard" || ui.Links[1].URL != "https://example.com/dash" {
		t.Fatalf("ui not returned as submitted: %+v", ui)
	}
}
